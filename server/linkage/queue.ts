/**
 * The queue of linkage-job chunks, shared by every broker replica: pg-boss 10 on the broker's own Postgres
 * (docs/linkage.md, "Jobs across replicas", says why pg-boss). A chunked job queues one message per chunk
 * in the transaction that stores the job; every broker works the queue, one chunk at a time, and a chunk
 * whose broker died is handed to the queue again (`retry`) and run by whichever broker takes it next.
 *
 * pg-boss talks to Postgres through its `db` option, here the broker's postgres.js pool (and so also the
 * embedded PGlite, which allows one connection): no second pool, no second driver. The adapter turns
 * pg-boss's node-postgres calls into postgres.js ones: `undefined` parameters are sent as null (as
 * node-postgres does), and its few multi-statement transactions (BEGIN … COMMIT, its migrations and
 * maintenance under an advisory lock) run on a reserved connection, as postgres.js requires. pg-boss's
 * `insert` passes JSON as a string to a json parameter, which postgres.js would encode twice; it is not
 * used (chunks are queued with `send`).
 */
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { type ReservedSql, releaseAfter, type Sql, withMigrationLock } from '../../storage/postgres.js';

/** pg-boss's tables live in this schema of the broker's database (docs/operations.md). */
export const QUEUE_SCHEMA = 'pgboss';
export const CHUNK_QUEUE = 'linkage-chunk';
/** Chunks the queue gave up on (out of retries): their jobs fail with JOB_INTERRUPTED. */
export const DEAD_CHUNK_QUEUE = 'linkage-chunk-dead';
/** Starts of one chunk before it is given up: brokers dying or stopping under it, not its own errors. */
const CHUNK_RETRIES = 5;
/**
 * pg-boss fails an active chunk this old (its own backstop). Liveness is watched sooner by the chunk
 * heartbeat (server/linkage/chunked-jobs.ts); this only catches what that misses.
 */
const CHUNK_EXPIRE_SECONDS = 4 * 3600;
/** How often an idle broker asks the queue for work; a broker that queued chunks wakes its worker at once. */
const POLL_SECONDS = 1;

/** One queue message: chunk `chunk` of `count` of job `job`. */
export interface ChunkMessage {
  job: string;
  chunk: number;
  count: number;
}

export interface LinkageQueue {
  /** Queues the chunks of `job` inside the caller's transaction `tx`. */
  sendChunks(tx: Sql, job: string, count: number): Promise<void>;
  /**
   * Works the queue: `run` gets one chunk at a time with its queue job id (a throw hands the chunk back
   * for a retry); `dead` gets chunks out of retries.
   */
  work(
    run: (m: ChunkMessage, queueJob: string) => Promise<void>,
    dead: (m: ChunkMessage) => Promise<void>,
  ): Promise<void>;
  /** Takes out of the queue the chunks of `job` not yet taken by a broker (it was cancelled). */
  cancelQueued(job: string): Promise<void>;
  /** Asks this broker's worker to look for chunks now (after queueing some). */
  wake(): void;
  /**
   * Hands back to the queue (a retry, or the dead-letter queue when out of them) the chunks a broker took more
   * than `staleMs` ago and no longer beats for (server/linkage/store.ts, linkage_job_chunks): it died, whether
   * while running a chunk or between taking it and starting it. Returns how many.
   */
  retryAbandoned(staleMs: number): Promise<number>;
  /** Stops working; chunks still running after `graceMs` are handed back. */
  stop(graceMs: number): Promise<void>;
}

/**
 * pg-boss's `db`: postgres.js in node-postgres's shape (see the top of this file). With `session`, everything runs on
 * that one connection (the setup under the migration lock, below).
 */
export function adapter(sql: Sql, session?: ReservedSql): PgBoss.Db {
  const params = (values: unknown[] | undefined) => (values ?? []).map((v) => (v === undefined ? null : v)) as never[];
  return {
    async executeSql(text, values) {
      if (/^\s*BEGIN\b/i.test(text)) {
        const reserved = session ?? (await sql.reserve());
        try {
          await reserved.unsafe(text, params(values));
        } catch (err) {
          // Postgres skips the rest of a failed text, COMMIT included, and the session stays in the aborted
          // transaction: the pool's next query on it failed with 25P02 (pg-boss's own SET LOCAL
          // idle_in_transaction_session_timeout ended it only 30 s later). A session that cannot roll back is ended,
          // here by releaseAfter, or for `session` by the lock's own release when its unlock fails.
          if (session) await session`rollback`.catch(() => {});
          else await releaseAfter(reserved, 'rollback');
          throw err;
        }
        if (!session) reserved.release();
        return { rows: [] };
      }
      return { rows: await (session ?? sql).unsafe(text, params(values)) };
    },
  };
}

export async function openLinkageQueue(sql: Sql, log: Logger): Promise<LinkageQueue> {
  // pg-boss's install (or migration) and the queues are made under the lock of the broker's own migrations, on the
  // connection that holds it: brokers starting at once on a new database both ran the install script, then
  // deadlocked in create_queue, and one of them died. pg-boss's own advisory lock covers its install only, and
  // create_queue runs outside it.
  await withMigrationLock(sql, async (session) => {
    const setup = new PgBoss({
      db: adapter(sql, session),
      schema: QUEUE_SCHEMA,
      migrate: true,
      supervise: false,
      schedule: false,
    });
    await setup.start();
    await setup.createQueue(DEAD_CHUNK_QUEUE, { name: DEAD_CHUNK_QUEUE });
    await setup.createQueue(CHUNK_QUEUE, {
      name: CHUNK_QUEUE,
      retryLimit: CHUNK_RETRIES,
      retryDelay: 0,
      expireInSeconds: CHUNK_EXPIRE_SECONDS,
      deadLetter: DEAD_CHUNK_QUEUE,
    });
    await setup.stop({ graceful: false, close: false });
  });
  // Installed and at its version by now, so `migrate` only reads the version (false would refuse a schema that a
  // newer broker of a rolling upgrade has migrated).
  const boss = new PgBoss({ db: adapter(sql), schema: QUEUE_SCHEMA, migrate: true, supervise: true, schedule: false });
  boss.on('error', (err) => log.warn({ err }, 'linkage chunk queue'));
  await boss.start();
  const workers: string[] = [];
  return {
    async sendChunks(tx, job, count) {
      const db = adapter(tx);
      for (let chunk = 0; chunk < count; chunk++) {
        const message: ChunkMessage = { job, chunk, count };
        await boss.send(CHUNK_QUEUE, message, { db });
      }
    },
    async work(run, dead) {
      let chunkWorker: string | undefined;
      chunkWorker = await boss.work<ChunkMessage>(
        CHUNK_QUEUE,
        { batchSize: 1, pollingIntervalSeconds: POLL_SECONDS },
        async (jobs) => {
          for (const j of jobs) await run(j.data, j.id);
          // pg-boss waits out the polling interval after every fetch, even one that found work: a broker would
          // run one chunk a second at most. A chunk done, it looks for the next at once.
          if (chunkWorker) boss.notifyWorker(chunkWorker);
        },
      );
      workers.push(
        chunkWorker,
        await boss.work<ChunkMessage>(DEAD_CHUNK_QUEUE, { pollingIntervalSeconds: 5 }, async (jobs) => {
          for (const j of jobs) await dead(j.data);
        }),
      );
    },
    wake() {
      for (const id of workers) boss.notifyWorker(id);
    },
    async cancelQueued(job) {
      const rows = await sql<{ id: string }[]>`
        select id from ${sql(QUEUE_SCHEMA)}.job
        where name = ${CHUNK_QUEUE} and state in ('created', 'retry') and data->>'job' = ${job}`;
      if (rows.length > 0)
        await boss.cancel(
          CHUNK_QUEUE,
          rows.map((r) => r.id),
        );
    },
    async retryAbandoned(staleMs) {
      // Locked, then failed in one transaction: of brokers sweeping at once, one hands each chunk back (a failed
      // chunk leaves the active state, so no later sweep fails it again unless a broker took it and died again).
      return sql.begin(async (tx) => {
        const rows = await tx<{ id: string }[]>`
          select j.id from ${tx(QUEUE_SCHEMA)}.job j
          where j.name = ${CHUNK_QUEUE} and j.state = 'active'
            and j.started_on < now() - ${staleMs} * interval '1 millisecond'
            and not exists (
              select 1 from linkage_job_chunks c
              where c.queue_job = j.id and c.heartbeat_at > now() - ${staleMs} * interval '1 millisecond')
          for update of j skip locked`;
        // pg-boss 10's typings lack fail(name, ids, data, options), which its code has; no output data (null).
        type Fail = (name: string, ids: string[], data: null, o: PgBoss.ConnectionOptions) => Promise<void>;
        const fail = boss.fail.bind(boss) as unknown as Fail;
        const ids = rows.map((r) => r.id);
        if (ids.length > 0) await fail(CHUNK_QUEUE, ids, null, { db: adapter(tx as unknown as Sql) });
        return rows.length;
      });
    },
    async stop(graceMs) {
      await boss.stop({ graceful: true, wait: true, close: false, timeout: graceMs });
    },
  };
}
