/**
 * The demo dataset for `npm start` and the benchmarks: synthetic people
 * (demo/people.ts, no real data) encoded with a random linkage secret,
 * published as dataset `demo` with claims derived from the synthetic
 * birth dates. The DP's secret is registered too, so broker-side encoding
 * works against it.
 */
import { randomBytes } from 'node:crypto';
import { loadDemoSchema, type PersonRow, syntheticPeople, withTypo } from '../demo/people.js';
import type { Principal } from '../identity/index.js';
import type { Broker } from './app.js';
import { DEMO_DATASET } from './routes/demo-page.js';

export { DEMO_DATASET };

export const DEMO_CLAIMS = ['over_18', 'over_21', 'license_valid'];
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
  people: PersonRow[];
  version: number;
}

export async function loadDemoDataset(broker: Broker, records: number, seed = 1): Promise<DemoDataset> {
  const schema = loadDemoSchema();
  const secret = randomBytes(24).toString('base64');
  const people = syntheticPeople(records, seed);
  await broker.datasets.define(DEMO_OWNER, DEMO_DATASET, { schema, claims: DEMO_CLAIMS, allow_broker_encoding: true });
  const clks = await broker.engine.encode(schema, secret, people);
  const today = new Date();
  const { version } = await broker.datasets.publishRows(DEMO_OWNER.subject, DEMO_DATASET, {
    refs: people.map((p) => p[0]),
    clks,
    claims: people.map((p, i) => demoClaims(p, i, today)),
  });
  await broker.datasets.setSecret(DEMO_OWNER, DEMO_DATASET, secret);
  return { schema, secret, people, version };
}

/** A CLK of one demo person as another party would type them (a surname typo), base64. */
export async function demoQuery(broker: Broker, demo: DemoDataset, index: number): Promise<string> {
  const clk = await broker.engine.encode(demo.schema, demo.secret, [withTypo(demo.people[index]!)]);
  return Buffer.from(clk).toString('base64');
}
