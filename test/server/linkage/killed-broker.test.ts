/**
 * A broker process killed (SIGKILL) in the middle of a chunk of a job loses that chunk only: its heartbeat
 * stops, another broker's sweep hands the chunk back to the queue (server/linkage/chunked-jobs.ts), and that
 * broker runs it and the chunks still queued, then finishes the job with the full, correct result. The chunks
 * the killed broker had stored are not run again. Real Postgres only: the killed broker is another process.
 */
import type { ChildProcess } from 'node:child_process';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { STALE_AFTER_MS } from '../../../common/heartbeat.js';
import { createEngine } from '../../../engine/index.js';
import { api, dropTestDatabase, startBrokerProcess, startTestBroker, type TestBroker, until } from '../helpers.js';
import {
  bruteForcePairs,
  clksOf,
  concat,
  POLICY_MINIMUM,
  pairKey,
  publish,
  randomParties,
  settled,
  submit,
} from './jobs-helpers.js';

const serverUrl = process.env.DATABASE_URL;
// 8 chunks of about 120 M comparisons: each runs for a while on the child's one engine thread.
const { dataset, queries } = randomParties(60_000, 16_000, 620_000);
const CHUNKS = 8;

let child: ChildProcess | undefined;
const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
});

interface ChunkRow {
  chunk: number;
  stored: boolean;
  running: boolean;
  /** Started within the last 300 ms, no progress saved yet: most of its second of work is still ahead. */
  fresh: boolean;
}

describe.skipIf(!serverUrl)('a broker killed in the middle of a chunk', () => {
  it('loses only that chunk: another broker runs it and finishes the job with the full result', async () => {
    const a: TestBroker = await startTestBroker({}, true);
    const databaseUrl = a.databaseUrl!;
    cleanup.push(() => dropTestDatabase(databaseUrl));
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    cleanup.push(() => sql.end());
    try {
      await publish(a, 'kept', dataset);
    } finally {
      await a.broker.close(); // only the child works the queue until it is killed
    }

    let url: string;
    ({ child, url } = await startBrokerProcess(a.stateDir, databaseUrl));

    const submitted = await submit(
      { ...a, url },
      { dataset: 'kept', clks: clksOf(queries), chunks: CHUNKS, solution: 'pairs' },
    );
    expect(submitted.status, submitted.text).toBe(202);
    const id: string = submitted.json.id;
    const chunks = () => sql<ChunkRow[]>`
      select chunk, pairs is not null as stored, queue_job is not null and pairs is null as running,
             progress = 0 and heartbeat_at > now() - interval '300 milliseconds' as fresh
      from linkage_job_chunks where job_id = ${id} order by chunk`;

    // Killed once it has stored some chunks and just started the next one (so it dies inside that chunk).
    const atKill = await until(
      'two chunks stored and a third under way',
      async () => {
        const rows = await chunks();
        const stored = rows.filter((r) => r.stored).length;
        return stored >= 2 && rows.some((r) => r.running && r.fresh) ? rows : undefined;
      },
      60_000,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const queue = () => sql<{ chunk: number; retry_count: number; state: string }[]>`
      select (data->>'chunk')::int as chunk, retry_count, state from pgboss.job
      where name = 'linkage-chunk' and data->>'job' = ${id} order by 1`;
    // What the child held when it died (its one worker takes one chunk at a time), and what it had stored.
    const lost = (await queue()).filter((q) => q.state === 'active').map((q) => q.chunk);
    const storedByChild = (await chunks()).filter((r) => r.stored).map((r) => r.chunk);
    expect(lost).toHaveLength(1);
    expect(atKill.filter((r) => r.stored).every((r) => storedByChild.includes(r.chunk))).toBe(true);
    expect(storedByChild.length).toBeLessThan(CHUNKS);

    // Its heartbeat ages past STALE_AFTER_MS (instead of waiting 30 s); another broker sweeps as it starts.
    await sql`update linkage_job_chunks set heartbeat_at = now() - ${STALE_AFTER_MS * 2} * interval '1 millisecond'
              where job_id = ${id}`;
    const b = await startTestBroker({ DATABASE_URL: databaseUrl, STATE_DIR: a.stateDir });
    cleanup.push(() => b.broker.close());
    const job = await settled(b, id);
    expect(job).toMatchObject({ status: 'done', chunks: { count: CHUNKS, done: CHUNKS } });

    const results = await api(b.url, 'GET', `/v1/linkage-jobs/${id}/results`, { token: b.tokens.rp });
    expect(results.status, results.text).toBe(200);
    const engine = await createEngine({ threads: 1 });
    cleanup.push(() => engine.close());
    await engine.loadDataset('kept', { refs: dataset.map((_, i) => `r${i}`), clks: concat(dataset), filterBits: 1024 });
    const expected = await bruteForcePairs(engine, 'kept', concat(queries), POLICY_MINIMUM);
    expect(expected.length).toBe(queries.length / 50);
    expect(results.json.pairs.map(pairKey).sort()).toEqual(expected);

    // The queue ran again only the chunk the killed broker was running: every other chunk started once.
    const queued = await queue();
    expect(queued.map((q) => q.chunk)).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
    expect(queued.every((q) => q.state === 'completed')).toBe(true);
    expect(queued.filter((q) => q.retry_count > 0).map((q) => q.chunk)).toEqual(lost);
  }, 600_000);
});
