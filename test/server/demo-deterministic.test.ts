/**
 * The demo dataset is the same on every start with the same state folder: the same synthetic people,
 * the same linkage secret (derived from the master key), so the CLK of a `curl` line printed by an
 * earlier start still matches after a restart, on a persistent database (where the version published
 * earlier the same day is served again) and on a fresh one (where it is published again, identical).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { secretFingerprint } from '../../common/secret-fingerprint.js';
import { DEMO_DATASET, demoQuery, loadDemoDataset } from '../../server/demo.js';
import { api, dropTestDatabase, startTestBroker, type TestBroker } from './helpers.js';

const RECORDS = 2_000;
const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
});

const verify = (t: TestBroker, clk: string) =>
  api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: DEMO_DATASET, clk, claims: ['over_18'], purpose: 'age_verification' },
  });

describe('the demo dataset', () => {
  it("keeps matching an earlier start's query after a restart, on the same database or a fresh one", async () => {
    const pglite = mkdtempSync(join(tmpdir(), 'pavilion-demo-pglite-'));
    const persistent: Record<string, string> = process.env.DATABASE_URL ? {} : { PGLITE_DATA_DIR: pglite };
    const first = await startTestBroker(persistent, true);
    const db: Record<string, string> = first.databaseUrl
      ? { DATABASE_URL: first.databaseUrl }
      : { PGLITE_DATA_DIR: pglite };
    if (first.databaseUrl) cleanup.push(() => dropTestDatabase(first.databaseUrl!));
    let clk: string;
    let secret: string;
    let version: number;
    try {
      const demo = await loadDemoDataset(first.broker, RECORDS);
      ({ secret, version } = demo);
      clk = await demoQuery(first.broker, demo, RECORDS / 2);
      const answer = await verify(first, clk);
      expect(answer.json).toMatchObject({ decision: 'match', dataset_version: version });
      const ds = await api(first.url, 'GET', `/v1/datasets/${DEMO_DATASET}`, { token: first.tokens.rp });
      expect(ds.json).toMatchObject({
        claim_types: { over_18: 'boolean', over_21: 'boolean', license_valid: 'boolean' },
        secret_fingerprint: secretFingerprint(secret),
        broker_secret_fingerprint: secretFingerprint(secret),
      });
    } finally {
      await first.broker.close();
    }

    // Restart on the same database and state folder: the same version serves, the old query matches.
    const again = await startTestBroker({ ...db, STATE_DIR: first.stateDir });
    try {
      const demo = await loadDemoDataset(again.broker, RECORDS);
      expect(demo.secret).toBe(secret);
      expect(demo.version).toBe(version);
      expect((await verify(again, clk)).json).toMatchObject({ decision: 'match', dataset_version: version });
    } finally {
      await again.broker.close();
    }

    // A fresh database, the same state folder (master key): published again, and still the same people.
    const fresh = await startTestBroker({ STATE_DIR: first.stateDir });
    try {
      const demo = await loadDemoDataset(fresh.broker, RECORDS);
      expect(demo.secret).toBe(secret);
      expect((await verify(fresh, clk)).json).toMatchObject({ decision: 'match' });
    } finally {
      await fresh.broker.close();
    }

    // Another state folder is another master key: another secret, and the old query no longer matches.
    const other = await startTestBroker();
    try {
      const demo = await loadDemoDataset(other.broker, RECORDS);
      expect(demo.secret).not.toBe(secret);
      expect((await verify(other, clk)).json).toMatchObject({ decision: 'no_match' });
    } finally {
      await other.broker.close();
    }
  }, 120_000);
});
