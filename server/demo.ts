/**
 * The demo dataset for `npm start` and the benchmarks: synthetic people
 * (demo/people.ts, no real data, a fixed seed) encoded with a linkage secret
 * derived from the master key (STATE_DIR's in development), published as
 * dataset `demo` with typed claims derived from the synthetic birth dates.
 * The DP's secret is registered too, so broker-side encoding works against it.
 *
 * The same state folder gives the same secret, people and CLKs on every
 * start: a `curl` line printed by an earlier start still matches (with a
 * fresh token). On a persistent database the version published earlier the
 * same day is served again rather than published anew.
 */
import { createHmac } from 'node:crypto';
import { isPavilionError } from '../common/errors.js';
import { secretFingerprint } from '../common/secret-fingerprint.js';
import { loadDemoSchema, type PersonRow, syntheticPeople, withTypo } from '../demo/people.js';
import type { Principal } from '../identity/index.js';
import type { Broker } from './app.js';
import { DEMO_DATASET } from './routes/demo-page.js';

export { DEMO_DATASET };

export const DEMO_CLAIMS = ['over_18', 'over_21', 'license_valid'];
const DEMO_CLAIM_TYPES = { over_18: 'boolean', over_21: 'boolean', license_valid: 'boolean' } as const;
const DEMO_OWNER: Principal = Object.freeze({
  subject: 'demo-dp',
  roles: new Set(['dp'] as const),
  expiresAt: Number.MAX_SAFE_INTEGER,
});

function ageOn(dob: string, today: Date): number {
  const [y, m, d] = dob.split('-').map(Number) as [number, number, number];
  let age = today.getUTCFullYear() - y;
  if (today.getUTCMonth() + 1 < m || (today.getUTCMonth() + 1 === m && today.getUTCDate() < d)) age--;
  return age;
}

export function demoClaims(row: PersonRow, index: number, today = new Date()): Record<string, boolean> {
  const age = ageOn(row[3], today);
  // Every seventh synthetic licence has lapsed, so the demo shows both answers.
  return { over_18: age >= 18, over_21: age >= 21, license_valid: index % 7 !== 0 };
}

export interface DemoDataset {
  schema: unknown;
  secret: string;
  /** common/secret-fingerprint.ts of `secret`. */
  fingerprint: string;
  people: PersonRow[];
  version: number;
}

/** The demo's linkage secret: a keyed derivation of the master key (one-way, so showing it reveals no key). */
export function demoSecret(broker: Pick<Broker, 'keys'>): string {
  return createHmac('sha256', broker.keys.cacheSecret)
    .update('pavilion demo linkage secret v1')
    .digest('base64url')
    .slice(0, 32);
}

export async function loadDemoDataset(broker: Broker, records: number, seed = 1): Promise<DemoDataset> {
  const schema = loadDemoSchema();
  const secret = demoSecret(broker);
  const fingerprint = secretFingerprint(secret);
  const people = syntheticPeople(records, seed);
  const definition = { schema, claims: DEMO_CLAIM_TYPES, allow_broker_encoding: true };
  const { record } = await broker.datasets.define(DEMO_OWNER, DEMO_DATASET, definition).catch(async (err) => {
    // A persistent database holding a demo made with another schema (an older release): its synthetic
    // versions cannot be served under the new one, so they go (datasets/store.ts, the schema lock).
    if (!isPavilionError(err) || err.code !== 'DATASET_SCHEMA_CONFLICT') throw err;
    await broker.datasets.delete(DEMO_OWNER, DEMO_DATASET);
    return broker.datasets.define(DEMO_OWNER, DEMO_DATASET, definition);
  });
  const today = new Date();
  let version = record.activeVersion;
  const served = version === null ? null : await broker.datasetStore.version(DEMO_DATASET, version);
  const current =
    served !== null &&
    served.rows === records &&
    served.secretFingerprint === fingerprint &&
    served.activatedAt?.toISOString().slice(0, 10) === today.toISOString().slice(0, 10);
  if (!current) {
    const clks = await broker.engine.encode(schema, secret, people);
    ({ version } = await broker.datasets.publishRows(
      DEMO_OWNER.subject,
      DEMO_DATASET,
      { refs: people.map((p) => p[0]), clks, claims: people.map((p, i) => demoClaims(p, i, today)) },
      { secretFingerprint: fingerprint },
    ));
  }
  if (record.brokerSecretFingerprint !== fingerprint) await broker.datasets.setSecret(DEMO_OWNER, DEMO_DATASET, secret);
  return { schema, secret, fingerprint, people, version: version! };
}

/** A CLK of one demo person as another party would type them (a surname typo), base64. */
export async function demoQuery(broker: Broker, demo: DemoDataset, index: number): Promise<string> {
  const clk = await broker.engine.encode(demo.schema, demo.secret, [withTypo(demo.people[index]!)]);
  return Buffer.from(clk).toString('base64');
}
