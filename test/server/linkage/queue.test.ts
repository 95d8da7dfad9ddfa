/**
 * The chunk queue (server/linkage/queue.ts) when a broker died between taking a chunk from pg-boss and
 * starting it: the chunk is `active` in pg-boss with no row of its own in linkage_job_chunks (so no heartbeat
 * to go stale). The next broker's sweep hands it back all the same, once it has been taken for longer than
 * STALE_AFTER_MS, and the job finishes. Real Postgres only (another broker's database state, made by hand).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { STALE_AFTER_MS } from '../../../common/heartbeat.js';
import { openLinkageQueue } from '../../../server/linkage/queue.js';
import { JobStore } from '../../../server/linkage/store.js';
import { loadMasterKeys } from '../../../server/support/master-keys.js';
import { openDatabase } from '../../../storage/postgres.js';
import { dropTestDatabase, startTestBroker, type TestBroker } from '../helpers.js';
import { concat, POLICY_MINIMUM, publish, randomParties } from './jobs-helpers.js';

const serverUrl = process.env.DATABASE_URL;
const { dataset, queries } = randomParties(3000, 500, 330_000);
const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
});

describe.skipIf(!serverUrl)('a chunk taken by a broker that died before starting it', () => {
  it('goes back to the queue once taken for longer than the heartbeat allows; the job finishes', async () => {
    const a: TestBroker = await startTestBroker({}, true);
    const databaseUrl = a.databaseUrl!;
    cleanup.push(() => dropTestDatabase(databaseUrl));
    try {
      await publish(a, 'abandoned', dataset);
    } finally {
      await a.broker.close();
    }

    // While no broker runs: a job of 3 chunks queued, and chunk 1 taken a minute ago by a broker now gone.
    const id = randomUUID();
    const db = await openDatabase({ url: databaseUrl });
    try {
      const jobs = await JobStore.open(db.sql);
      const queue = await openLinkageQueue(db.sql, pino({ level: 'silent' }));
      await jobs.create({
        id,
        owner: 'acme-bank',
        tenant: null,
        datasetId: 'abandoned',
        datasetVersion: 1,
        threshold: POLICY_MINIMUM,
        topK: null,
        solution: 'pairs',
        total: queries.length,
        sealedQueries: loadMasterKeys({ stateDir: a.stateDir }).seal({ job: id }, concat(queries)),
        policyMinimum: POLICY_MINIMUM,
        chunked: {
          chunks: 3,
          datasets: [{ dataset: 'abandoned', version: 1, claims: [] }],
          blocking: null,
          sealedBlocks: null,
        },
        inTransaction: (tx) => queue.sendChunks(tx, id, 3),
      });
      await queue.stop(1000);
      const taken = await db.sql`
        update pgboss.job set state = 'active', started_on = now() - ${2 * STALE_AFTER_MS} * interval '1 millisecond'
        where name = 'linkage-chunk' and data->>'job' = ${id} and (data->>'chunk')::int = 1
        returning id`;
      expect(taken).toHaveLength(1);
    } finally {
      await db.close();
    }

    const b = await startTestBroker({ DATABASE_URL: databaseUrl, STATE_DIR: a.stateDir });
    cleanup.push(() => b.broker.close());
    let job = await b.broker.jobStore.get(id);
    for (let i = 0; i < 1200 && job?.status !== 'done' && job?.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      job = await b.broker.jobStore.get(id);
    }
    expect(job).toMatchObject({ status: 'done', chunks: 3 });
    // Every 50th query is a changed copy of dataset record (7 × query) mod size; random CLKs match nothing else.
    const expected = queries.flatMap((_, q) => (q % 50 === 0 ? [[q, (q * 7) % dataset.length]] : []));
    const results = (await b.broker.jobStore.results(id)) as [number, number, number, unknown][];
    expect(results.map(([q, index]) => [q, index])).toEqual(expected);
    const chunks = await b.broker.db.sql<{ chunk: number; retry_count: number; state: string }[]>`
      select (data->>'chunk')::int as chunk, retry_count, state from pgboss.job
      where name = 'linkage-chunk' and data->>'job' = ${id} order by 1`;
    expect(chunks.map((c) => [c.chunk, c.state, c.retry_count > 0])).toEqual([
      [0, 'completed', false],
      [1, 'completed', true],
      [2, 'completed', false],
    ]);
  }, 180_000);
});
