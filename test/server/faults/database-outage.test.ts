/**
 * Postgres connections cut under the broker (real server only: CI's
 * DATABASE_URL): readiness says so, requests get a 503 problem rather than a
 * hang or a crash, and the broker recovers when connections come back.
 */

import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

const serverUrl = process.env.DATABASE_URL;

describe.skipIf(!serverUrl)('database outage', () => {
  let t: TestBroker;
  const clks = Array.from({ length: 100 }, (_, i) => randomClk(1024, 42_000 + i));
  beforeAll(async () => {
    t = await startTestBroker();
    await api(t.url, 'PUT', '/v1/datasets/o', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    await api(t.url, 'POST', '/v1/datasets/o/versions', {
      token: t.tokens.dp,
      raw: clks.map((c, i) => JSON.stringify({ ref: `o${i}`, clk: b64(c), claims: { over_18: true } })).join('\n'),
      contentType: 'application/x-ndjson',
    });
  });
  afterAll(async () => {
    await t?.broker.close();
  });

  it('reports not ready and answers 503 while connections are being cut, then recovers', async () => {
    const name = new URL(t.databaseUrl!).pathname.slice(1);
    const admin = postgres(serverUrl!, { max: 1, onnotice: () => {} });
    const ask = () =>
      api(t.url, 'POST', '/v1/verifications', {
        token: t.tokens.rp,
        body: { dataset: 'o', clk: b64(clks[1]!), claims: ['over_18'], purpose: 'age_verification' },
      });
    try {
      // Refuse new connections to the broker's database and kill the open ones.
      await admin.unsafe(`alter database ${name} allow_connections false`);
      await admin.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}'`);
      const ready = await api(t.url, 'GET', '/readyz');
      expectProblem(ready, 503, 'DEPENDENCY_UNAVAILABLE');
      expect(ready.json.checks.database).toBe(false);
      const r = await ask();
      expect(r.status).toBeGreaterThanOrEqual(500);
      expectProblem(r, r.status);
      expect(r.text).not.toMatch(/password|pavilion:pavilion/);
    } finally {
      await admin.unsafe(`alter database ${name} allow_connections true`);
      await admin.end();
    }
    let ok = await api(t.url, 'GET', '/readyz');
    for (let i = 0; i < 50 && ok.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ok = await api(t.url, 'GET', '/readyz');
    }
    expect(ok.status).toBe(200);
    const after = await ask();
    expect(after.status, after.text).toBe(200);
    expect(after.json.decision).toBe('match');
  });
});
