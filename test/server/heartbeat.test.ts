/**
 * Running rows (linkage jobs, dataset pulls) of a broker process that died
 * are failed by whichever broker sweeps next; rows another live process is
 * still beating for are left alone (several brokers may share a database).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { PullStore } from '../../datasets/pull-store.js';
import { STALE_AFTER_MS, startHeartbeat } from '../../server/heartbeat.js';
import { api, startTestBroker, type TestBroker } from './helpers.js';

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker();
  expect((await api(t.url, 'PUT', '/v1/datasets/hb', { token: t.tokens.dp, body: { schema: loadDemoSchema(), claims: ['over_18'] } })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('heartbeats of running rows', () => {
  it('fails pulls whose process stopped beating, and only those', async () => {
    const sql = t.broker.db.sql;
    const pulls = await PullStore.open(sql);
    const dead = await pulls.create({ id: randomUUID(), datasetId: 'hb', objectKey: 'datasets/hb/a.jsonl', format: 'jsonl', requestedBy: 'registry' });
    const alive = await pulls.create({ id: randomUUID(), datasetId: 'hb', objectKey: 'datasets/hb/b.jsonl', format: 'jsonl', requestedBy: 'registry' });
    await sql`update dataset_pulls set heartbeat_at = now() - interval '1 minute' where id = ${dead.id}`;
    // 1, or 0 when the broker's own sweep (every few seconds) got there first.
    expect(await pulls.failStale(STALE_AFTER_MS)).toBeLessThanOrEqual(1);
    expect(await pulls.get('hb', dead.id)).toMatchObject({ status: 'failed', errorCode: 'PULL_INTERRUPTED' });
    expect(await pulls.get('hb', alive.id)).toMatchObject({ status: 'running', errorCode: null });
  });

  it('fails linkage jobs whose process stopped beating, and only those', async () => {
    const sql = t.broker.db.sql;
    const jobs = t.broker.ctx.jobs;
    const job = () => jobs.create({ id: randomUUID(), owner: 'acme-bank', datasetId: 'hb', threshold: 0.9, topK: null, solution: 'pairs', total: 1 });
    const dead = await job();
    const alive = await job();
    await sql`update linkage_jobs set heartbeat_at = now() - interval '1 minute' where id = ${dead.id}`;
    expect(await jobs.failStale(STALE_AFTER_MS)).toBeLessThanOrEqual(1);
    expect(await jobs.get(dead.id)).toMatchObject({ status: 'failed', errorCode: 'JOB_INTERRUPTED' });
    expect(await jobs.get(alive.id)).toMatchObject({ status: 'queued' });
  });

  it('a beating process keeps its rows fresh', async () => {
    const sql = t.broker.db.sql;
    const pulls = await PullStore.open(sql);
    const mine = await pulls.create({ id: randomUUID(), datasetId: 'hb', objectKey: 'datasets/hb/c.jsonl', format: 'jsonl', requestedBy: 'registry' });
    // Old, but not yet stale: no sweep (the broker's own runs every few seconds) may take it meanwhile.
    await sql`update dataset_pulls set heartbeat_at = now() - interval '20 seconds' where id = ${mine.id}`;
    const fresh = async () => (await sql`select heartbeat_at > now() - interval '10 seconds' as fresh from dataset_pulls where id = ${mine.id}`)[0]!.fresh as boolean;
    expect(await fresh()).toBe(false);
    const errors: unknown[] = [];
    const beat = startHeartbeat(pulls, () => [mine.id], () => {}, (e) => errors.push(e)); // the first beat runs at once
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
