/**
 * Postgres stopped under a running broker (`pg_ctl stop -m fast`, an ordinary restart's first half) on a
 * server of the test's own (test/storage/private-postgres.ts), the broker in a process of its own:
 * idle and under load, every route that needs the database answers 503 DATABASE_UNAVAILABLE (a problem
 * document) instead of hanging or answering 500, /readyz answers 503 at once, the process stays up, and
 * it serves again once Postgres is back. Durations are printed (the report quotes them), never asserted:
 * a request that hangs fails through the hang guard (timed.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../../storage/private-postgres.js';
import { b64, randomClk } from '../helpers.js';
import { type ChildBroker, startChildBroker } from './child-broker.js';
import { type Timed, timed } from './timed.js';

const run = privatePostgresAvailable || Boolean(process.env.CI);
const clks = Array.from({ length: 200 }, (_, i) => randomClk(1024, 61_000 + i));

function expectOutage(r: Timed, what: string): void {
  expect(r.status, `${what}: ${JSON.stringify(r.json)}`).toBe(503);
  expect(r.contentType, what).toBe('application/problem+json');
  expect(r.json.code, what).toBe('DATABASE_UNAVAILABLE');
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await timed(url, 'GET', '/readyz')).status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the broker did not become ready again');
}

describe.skipIf(!run)('Postgres stopped under the broker', () => {
  let pg: PrivatePostgres;
  let b: ChildBroker;
  let jobId: string;
  const verify = (i: number) =>
    timed(b.url, 'POST', '/v1/verifications', {
      token: b.tokens.rp,
      body: { dataset: 'f', clk: b64(clks[i % clks.length]!), claims: ['over_18'], purpose: 'age_verification' },
    });

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    b = await startChildBroker(pg.url);
    const def = await timed(b.url, 'PUT', '/v1/datasets/f', {
      token: b.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    expect(def.status).toBe(201);
    const up = await timed(b.url, 'POST', '/v1/datasets/f/versions', {
      token: b.tokens.dp,
      raw: clks.map((c, i) => JSON.stringify({ ref: `f${i}`, clk: b64(c), claims: { over_18: true } })).join('\n'),
      contentType: 'application/x-ndjson',
    });
    expect(up.status).toBe(201);
    const job = await timed(b.url, 'POST', '/v1/linkage-jobs', {
      token: b.tokens.rp,
      body: { dataset: 'f', clks: clks.slice(0, 3).map(b64), threshold: 0.9, purpose: 'age_verification' },
    });
    expect(job.status, JSON.stringify(job.json)).toBe(202);
    jobId = job.json.id;
    expect((await verify(1)).status).toBe(200);
  });

  afterAll(async () => {
    await b?.stop();
    pg?.destroy();
  });

  it('idle: readiness and every route that needs the database answer 503 at once; the rest still answer', async () => {
    pg.stop('fast');
    try {
      // No pause: the first request may reach the pool before the broker noticed.
      const first = await timed(b.url, 'GET', '/v1/datasets/f', { token: b.tokens.rp });
      const answers: [string, Timed][] = [['GET /v1/datasets/f (first)', first]];
      const ask = async (what: string, p: Promise<Timed>) => {
        const r = await p;
        answers.push([what, r]);
        return r;
      };
      const ready = await ask('GET /readyz', timed(b.url, 'GET', '/readyz'));
      expect(ready.status).toBe(503);
      expect(ready.json.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(ready.json.checks.database).toBe(false);
      expectOutage(first, 'first GET /v1/datasets/f');
      expectOutage(
        await ask('GET /v1/datasets/f', timed(b.url, 'GET', '/v1/datasets/f', { token: b.tokens.rp })),
        'dataset',
      );
      expectOutage(
        await ask(
          'GET /v1/linkage-jobs/{id}',
          timed(b.url, 'GET', `/v1/linkage-jobs/${jobId}`, { token: b.tokens.rp }),
        ),
        'linkage job',
      );
      expectOutage(await ask('POST /v1/verifications', verify(2)), 'verification');
      expectOutage(
        await ask(
          'PUT /v1/datasets/g',
          timed(b.url, 'PUT', '/v1/datasets/g', { token: b.tokens.dp, body: { schema: loadDemoSchema(), claims: [] } }),
        ),
        'definition',
      );
      expectOutage(
        await ask('GET /v1/audit/checkpoint', timed(b.url, 'GET', '/v1/audit/checkpoint', { token: b.tokens.rp })),
        'checkpoint',
      );
      expect((await ask('GET /healthz', timed(b.url, 'GET', '/healthz'))).status).toBe(200);
      const metrics = await ask('GET /metrics', timed(b.url, 'GET', '/metrics'));
      expect(metrics.status).toBe(200);
      console.log(
        `idle, Postgres stopped: ${answers.map(([w, r]) => `${w} ${r.status} in ${r.ms.toFixed(0)} ms`).join('; ')}`,
      );
    } finally {
      pg.start();
    }
    await waitReady(b.url);
    const after = await verify(3);
    expect(after.status, JSON.stringify(after.json)).toBe(200);
    expect(b.exitCode()).toBeNull();
  });

  it('under load: requests in flight and new ones answer 200 or 503, none hangs, the process stays up', async () => {
    const results: { start: number; r: Timed }[] = [];
    let stopping = false;
    let stoppedAt = Number.POSITIVE_INFINITY;
    const client = async (k: number) => {
      for (let i = k; !stopping; i += 64) {
        const start = performance.now();
        results.push({ start, r: await verify(i) });
      }
    };
    const clients = Array.from({ length: 32 }, (_, k) => client(k));
    await new Promise((r) => setTimeout(r, 1500));
    stoppedAt = performance.now();
    pg.stop('fast');
    await new Promise((r) => setTimeout(r, 3000));
    pg.start();
    await new Promise((r) => setTimeout(r, 1500));
    stopping = true;
    await Promise.all(clients);
    const statuses = new Set(results.map((x) => x.r.status));
    for (const { r } of results) if (r.status !== 200) expectOutage(r, 'verification under load');
    expect([...statuses].sort()).toEqual([200, 503]);
    const afterStop = results.filter((x) => x.start >= stoppedAt && x.r.status === 503);
    const worst = Math.max(...results.filter((x) => x.start + x.r.ms >= stoppedAt).map((x) => x.r.ms));
    console.log(
      `under load (32 clients): ${results.length} requests, ${afterStop.length} answered 503 after the stop, ` +
        `slowest answer around the outage ${worst.toFixed(0)} ms`,
    );
    await waitReady(b.url);
    expect((await verify(5)).status).toBe(200);
    expect(b.exitCode()).toBeNull();
  });
});
