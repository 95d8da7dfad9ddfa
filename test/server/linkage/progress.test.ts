/**
 * A job's progress as GET and DELETE /v1/linkage-jobs/{id} show it (server/linkage/results.ts progressDone,
 * over the job and chunk rows of store.ts): `done` never goes back when a whole job or a chunk runs again after
 * its broker died, and a cancelled job still shows the chunks it had stored. The runs are played on the broker's
 * job store by hand (no queue messages, no stale heartbeat the broker's own sweep would act on), so every step
 * is exact.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkPairs, JobStore } from '../../../server/linkage/store.js';
import { api, startTestBroker, type TestBroker } from '../helpers.js';

const TOTAL = 3000;
const CHUNKS = 3;
const noPairs: ChunkPairs = {
  scores: new Float64Array(0),
  partyA: new Uint8Array(0),
  recordA: new Uint32Array(0),
  partyB: new Uint8Array(0),
  recordB: new Uint32Array(0),
};

let t: TestBroker;
let store: JobStore;

beforeAll(async () => {
  t = await startTestBroker();
  store = t.broker.jobStore;
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

/**
 * A job of acme-bank (the rp token's subject), queued: nothing runs it but this test. Chunked, or run whole with
 * sealed queries that are never opened here.
 */
async function queuedJob(chunked: boolean): Promise<string> {
  const id = randomUUID();
  await store.create({
    id,
    owner: 'acme-bank',
    tenant: null,
    datasetId: 'people',
    datasetVersion: 1,
    threshold: 0.9,
    topK: null,
    solution: 'pairs',
    total: TOTAL,
    ...(chunked
      ? {
          sealedQueries: null,
          chunked: {
            chunks: CHUNKS,
            datasets: [{ dataset: 'people', version: 1 }],
            blocking: null,
            sealedBlocks: null,
          },
        }
      : { sealedQueries: Buffer.from('sealed') }),
  });
  return id;
}

async function view(id: string): Promise<{ status: string; done: number; chunks: { count: number; done: number } }> {
  const r = await api(t.url, 'GET', `/v1/linkage-jobs/${id}`, { token: t.tokens.rp });
  expect(r.status, r.text).toBe(200);
  return r.json;
}

describe('whole job progress', () => {
  it('does not go back when the job runs again after its broker died', async () => {
    const id = await queuedJob(false);
    await store.markRunning(id, 1);
    await store.progress(id, 1200);
    expect(await view(id)).toMatchObject({ status: 'running', done: 1200, chunks: null });

    // Its broker died: another claims the job (stale after 0.5 s here; the broker's own sweep waits 30 s).
    await t.broker.db.sql`update linkage_jobs set heartbeat_at = now() - interval '1 second' where id = ${id}`;
    const claimed = await store.claimStale(500, 3);
    expect(claimed?.job).toMatchObject({ id, status: 'queued', done: 1200 });
    expect(await view(id)).toMatchObject({ status: 'queued', done: 1200 });
    // It runs from the beginning again: its progress reports are below the first run's until they pass it.
    await store.markRunning(id, 1);
    await store.progress(id, 300);
    expect(await view(id)).toMatchObject({ status: 'running', done: 1200 });
    await store.progress(id, 2000);
    expect(await view(id)).toMatchObject({ status: 'running', done: 2000 });
  });
});

describe('chunked job progress', () => {
  it('does not go back when a chunk runs again after its broker died', async () => {
    const id = await queuedJob(true);
    expect(await store.startChunk(id, 0, randomUUID())).toBe('run');
    expect(await store.chunkProgress(id, 0, 0.6)).toBe(true);
    expect(await view(id)).toMatchObject({ status: 'running', done: 600, chunks: { count: 3, done: 0 } });

    // Its broker died; the chunk is handed back and starts again on another, from the beginning.
    expect(await store.startChunk(id, 0, randomUUID())).toBe('run');
    expect((await view(id)).done).toBe(600);
    await store.chunkProgress(id, 0, 0.3);
    expect((await view(id)).done).toBe(600);
    // Past where the first run got: the job moves on.
    await store.chunkProgress(id, 0, 0.9);
    expect((await view(id)).done).toBe(900);
    expect(await store.storeChunk(id, 0, noPairs, 10)).toBe('partial');
    expect(await view(id)).toMatchObject({ done: 1000, chunks: { count: 3, done: 1 } });
  });

  it('a cancelled job shows the chunks it had stored and the share done of the others', async () => {
    const id = await queuedJob(true);
    for (const chunk of [0, 1]) {
      expect(await store.startChunk(id, chunk, randomUUID())).toBe('run');
      expect(await store.storeChunk(id, chunk, noPairs, 10)).toBe('partial');
    }
    expect(await store.startChunk(id, 2, randomUUID())).toBe('run');
    await store.chunkProgress(id, 2, 0.5);
    const before = await view(id);
    expect(before).toMatchObject({ status: 'running', done: 2500, chunks: { count: 3, done: 2 } });

    const cancelled = await api(t.url, 'DELETE', `/v1/linkage-jobs/${id}`, { token: t.tokens.rp });
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.json).toMatchObject({
      status: 'failed',
      error_code: 'LINK_CANCELLED',
      done: 2500,
      total: TOTAL,
      chunks: { count: 3, done: 2 },
    });
    // And so it stays, although its chunk rows are gone.
    expect(await view(id)).toMatchObject({ status: 'failed', done: 2500, chunks: { count: 3, done: 2 } });
    expect(await store.chunkPairs(id)).toEqual([]);
  });
});
