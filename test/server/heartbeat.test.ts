/**
 * Work a broker process left behind (it died, or stopped): linkage jobs are
 * run again by whichever broker sweeps next, on the same dataset version;
 * what cannot run again, and dataset pulls, fail as interrupted. Rows another
 * live process is still beating for are left alone (several brokers may
 * share a database).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { STALE_AFTER_MS, startHeartbeat } from '../../common/heartbeat.js';
import { loadDemoSchema } from '../../demo/people.js';
import { PullStore } from '../../server/datasets/pull-store.js';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import { JobStore } from '../../server/linkage/store.js';
import { loadMasterKeys } from '../../server/support/master-keys.js';
import { openDatabase } from '../../storage/postgres.js';
import {
  api,
  dropTestDatabase,
  randomClk,
  startRestartableBroker,
  startTestBroker,
  type TestBroker,
} from './helpers.js';

let t: TestBroker;
const clks = Array.from({ length: 20 }, (_, i) => randomClk(1024, 31_000 + i));

async function upload(rows: Uint8Array[]): Promise<number> {
  const r = await api(t.url, 'POST', '/v1/datasets/hb/versions', {
    token: t.tokens.dp,
    raw: encodeBinaryDataset(
      1024,
      rows.map((clk, i) => ({ ref: `r${i}`, clk })),
    ),
    contentType: 'application/vnd.pavilion.dataset',
  });
  expect(r.status, r.text).toBe(201);
  return r.json.version;
}

/**
 * A job row as a broker that died after accepting it would leave: queries sealed, heartbeat a minute old
 * (or fresh: still beating).
 */
async function orphanJob(
  queries: Uint8Array[],
  datasetVersion: number,
  opts: { keepQueries?: boolean; beating?: boolean } = {},
) {
  const id = randomUUID();
  const joined = Buffer.concat(queries);
  await t.broker.jobStore.create({
    id,
    owner: 'acme-bank',
    tenant: null,
    datasetId: 'hb',
    datasetVersion,
    threshold: 0.95,
    topK: null,
    solution: 'pairs',
    total: queries.length,
    sealedQueries: t.broker.keys.seal({ job: id }, joined),
  });
  if (opts.keepQueries === false) await t.broker.db.sql`update linkage_jobs set queries = null where id = ${id}`;
  const age = opts.beating ? '0 seconds' : '1 minute';
  await t.broker.db
    .sql`update linkage_jobs set status = 'running', heartbeat_at = now() - ${age}::interval where id = ${id}`;
  return id;
}

async function settled(id: string) {
  for (let i = 0; i < 400; i++) {
    const job = await t.broker.jobStore.get(id);
    if (job && (job.status === 'done' || job.status === 'failed')) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} never ended`);
}

beforeAll(async () => {
  t = await startTestBroker();
  expect(
    (
      await api(t.url, 'PUT', '/v1/datasets/hb', {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      })
    ).status,
  ).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('linkage jobs a stopped process left', () => {
  it('are run again on the version they started on, with the same pairs', async () => {
    const version = await upload(clks);
    const id = await orphanJob([clks[3]!, clks[7]!], version);
    const job = await settled(id);
    expect(job).toMatchObject({ status: 'done', pairCount: 2, datasetVersion: version });
    expect(await t.broker.jobStore.results(id)).toEqual([
      [0, 3, 1, {}],
      [1, 7, 1, {}],
    ]);
    // The queries are not kept once the job ended.
    expect((await t.broker.db.sql`select queries from linkage_jobs where id = ${id}`)[0]!.queries).toBeNull();
    const size = await t.broker.audit.size();
    const events = await Promise.all(
      Array.from({ length: Math.min(size, 20) }, (_, i) =>
        t.broker.audit.entry(size - 1 - i).then((e) => JSON.parse(e.event)),
      ),
    );
    expect(events.find((e) => e.type === 'linkage_job' && e.job === id)).toMatchObject({
      actor: 'acme-bank',
      pairs: 2,
      dataset_version: String(version),
    });
  });

  it('fail as JOB_INTERRUPTED when their version is no longer served, or their queries were not kept', async () => {
    const old = (await t.broker.datasetStore.get('hb'))!.activeVersion!;
    const stale = await orphanJob([clks[1]!], old);
    const noQueries = await orphanJob([clks[1]!], old, { keepQueries: false });
    await upload(clks.slice(0, 10)); // a new version: the first job's version is gone
    expect(await settled(stale)).toMatchObject({ status: 'failed', errorCode: 'JOB_INTERRUPTED' });
    expect(await settled(noQueries)).toMatchObject({ status: 'failed', errorCode: 'JOB_INTERRUPTED' });
  });

  it('leave alone the jobs of a process that is still beating', async () => {
    const version = (await t.broker.datasetStore.get('hb'))!.activeVersion!;
    const id = await orphanJob([clks[2]!], version, { beating: true });
    expect(await t.broker.jobStore.claimStale(STALE_AFTER_MS, 3)).toBeNull();
    expect(await t.broker.jobStore.failStale(STALE_AFTER_MS, 3)).toBe(0);
    expect(await t.broker.jobStore.get(id)).toMatchObject({ status: 'running' });
    // Until that process, stopping, hands the job back: then any broker runs it at once.
    await t.broker.jobStore.release(id);
    expect(await settled(id)).toMatchObject({ status: 'done', pairCount: 1 });
  });
});

describe('a job another broker process runs', () => {
  it('reaches a WebSocket subscriber here: progress, then the result', async () => {
    const version = (await t.broker.datasetStore.get('hb'))!.activeVersion!;
    const id = await orphanJob([clks[4]!, clks[5]!], version, { beating: true });
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}/v1/ws`, {
      headers: { authorization: `Bearer ${t.tokens.rp}` },
    });
    const messages: any[] = [];
    const result = new Promise<any>((resolve) =>
      ws.on('message', (data) => {
        const m = JSON.parse(String(data));
        messages.push(m);
        if (m.type === 'result') resolve(m);
      }),
    );
    await new Promise((resolve) => ws.once('open', resolve));
    try {
      ws.send(JSON.stringify({ type: 'subscribe', job: id }));
      // The other process saves progress, then its result.
      for (let i = 0; i < 100 && !messages.some((m) => m.type === 'progress'); i++)
        await new Promise((r) => setTimeout(r, 20));
      await t.broker.jobStore.progress(id, 1);
      for (let i = 0; i < 150 && !messages.some((m) => m.type === 'progress' && m.done === 1); i++)
        await new Promise((r) => setTimeout(r, 20));
      // As a process of an earlier release stored it, with the record's ref: never shown.
      await t.broker.jobStore.finish(id, [[0, 4, 1, 'r4']]);
      expect(await result).toMatchObject({
        type: 'result',
        job: id,
        status: 'done',
        pair_count: 1,
        pairs: [{ query: 0, candidate: 0, score: 1, claims: {} }],
      });
      expect(messages.filter((m) => m.type === 'progress').map((m) => m.done)).toEqual([0, 1]);
      expect(messages.filter((m) => m.type === 'result')).toHaveLength(1);
    } finally {
      ws.close();
    }
  });
});

describe('dataset pulls a stopped process left', () => {
  it('fail as PULL_INTERRUPTED, and only those', async () => {
    const sql = t.broker.db.sql;
    const pulls = await PullStore.open(sql);
    const dead = await pulls.create({
      id: randomUUID(),
      datasetId: 'hb',
      objectKey: 'datasets/hb/a.jsonl',
      format: 'jsonl',
      requestedBy: 'registry',
    });
    const alive = await pulls.create({
      id: randomUUID(),
      datasetId: 'hb',
      objectKey: 'datasets/hb/b.jsonl',
      format: 'jsonl',
      requestedBy: 'registry',
    });
    await sql`update dataset_pulls set heartbeat_at = now() - interval '1 minute' where id = ${dead.id}`;
    // 1, or 0 when the broker's own sweep (every few seconds) got there first.
    expect(await pulls.failStale(STALE_AFTER_MS)).toBeLessThanOrEqual(1);
    expect(await pulls.get('hb', dead.id)).toMatchObject({ status: 'failed', errorCode: 'PULL_INTERRUPTED' });
    expect(await pulls.get('hb', alive.id)).toMatchObject({ status: 'running', errorCode: null });
  });

  it('a beating process keeps its rows fresh', async () => {
    const sql = t.broker.db.sql;
    const pulls = await PullStore.open(sql);
    const mine = await pulls.create({
      id: randomUUID(),
      datasetId: 'hb',
      objectKey: 'datasets/hb/c.jsonl',
      format: 'jsonl',
      requestedBy: 'registry',
    });
    // Old, but not yet stale: no sweep (the broker's own runs every few seconds) may take it meanwhile.
    await sql`update dataset_pulls set heartbeat_at = now() - interval '20 seconds' where id = ${mine.id}`;
    const fresh = async () =>
      (
        await sql`select heartbeat_at > now() - interval '10 seconds' as fresh from dataset_pulls where id = ${mine.id}`
      )[0]!.fresh as boolean;
    expect(await fresh()).toBe(false);
    const errors: unknown[] = [];
    // The first beat runs at once.
    const beat = startHeartbeat({
      runningIds: () => [mine.id],
      beat: (ids) => pulls.heartbeat(ids),
      sweep: async () => {},
      onError: (e) => errors.push(e),
    });
    let beaten = false;
    try {
      for (let i = 0; i < 100 && !beaten; i++) {
        beaten = await fresh();
        if (!beaten) await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      beat.stop();
    }
    expect(errors).toEqual([]);
    expect(beaten).toBe(true);
    expect(await pulls.get('hb', mine.id)).toMatchObject({ status: 'running' });
  });
});

describe('a job handed back by a broker that stopped', () => {
  it('is run by the broker that starts next, once that broker has loaded its datasets', async () => {
    const { first: a, again: overrides, dataDir } = await startRestartableBroker();
    let version = 0;
    try {
      expect(
        (
          await api(a.url, 'PUT', '/v1/datasets/again', {
            token: a.tokens.dp,
            body: { schema: loadDemoSchema(), claims: ['over_18'] },
          })
        ).status,
      ).toBe(201);
      const up = await api(a.url, 'POST', '/v1/datasets/again/versions', {
        token: a.tokens.dp,
        raw: encodeBinaryDataset(
          1024,
          clks.map((clk, i) => ({ ref: `a${i}`, clk })),
        ),
        contentType: 'application/vnd.pavilion.dataset',
      });
      version = up.json.version;
    } finally {
      await a.broker.close();
    }
    // While no broker runs, the row of a job handed back at shutdown: queries sealed, heartbeat at the epoch.
    const id = randomUUID();
    const db = await openDatabase(a.databaseUrl ? { url: a.databaseUrl } : { dataDir });
    try {
      const keys = loadMasterKeys({ stateDir: a.stateDir });
      const jobs = await JobStore.open(db.sql);
      await jobs.create({
        id,
        owner: 'acme-bank',
        tenant: null,
        datasetId: 'again',
        datasetVersion: version,
        threshold: 0.95,
        topK: null,
        solution: 'pairs',
        total: 1,
        sealedQueries: keys.seal({ job: id }, clks[6]!),
      });
      await jobs.release(id);
    } finally {
      await db.close();
    }
    const b = await startTestBroker({ ...overrides, STATE_DIR: a.stateDir });
    try {
      for (let i = 0; i < 200; i++) {
        const job = await b.broker.jobStore.get(id);
        if (job?.status === 'done' || job?.status === 'failed') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await b.broker.jobStore.get(id)).toMatchObject({ status: 'done', pairCount: 1 });
      expect(await b.broker.jobStore.results(id)).toEqual([[0, 6, 1, {}]]);
    } finally {
      await b.broker.close();
      if (a.databaseUrl) await dropTestDatabase(a.databaseUrl);
    }
  }, 60_000);
});
