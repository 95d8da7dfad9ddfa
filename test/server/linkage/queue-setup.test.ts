/**
 * Setting up the chunk queue (server/linkage/queue.ts) on a real Postgres shared by several brokers:
 *
 * - brokers starting at once on a new database both come up: pg-boss's install and its create_queue calls ran in
 *   both at once, and one broker died with "deadlock detected" (a user trial, 3 starts of 3);
 * - a multi-statement pg-boss transaction that fails half-way leaves no aborted transaction behind on the pool's
 *   connection: the pool's next query on it failed with 25P02 until Postgres ended the session.
 *
 * Each test runs on databases of its own, dropped at the end. Real Postgres only: the race needs two sessions.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { adapter, type LinkageQueue, openLinkageQueue, QUEUE_SCHEMA } from '../../../server/linkage/queue.js';
import { type Database, openDatabase, type Sql } from '../../../storage/postgres.js';
import { createTestDatabase } from '../helpers.js';

const serverUrl = process.env.DATABASE_URL;
const silent = pino({ level: 'silent' });
const cleanup: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

async function freshDatabase(): Promise<string> {
  const database = await createTestDatabase(serverUrl!);
  cleanup.push(database.drop);
  return database.url;
}

async function open(url: string, max?: number): Promise<Database> {
  const db = await openDatabase({ url, max });
  cleanup.push(() => db.close());
  return db;
}

describe.skipIf(!serverUrl)('brokers setting up the queue at once on a new database', () => {
  it('all come up, and the queues exist once', async () => {
    for (let round = 0; round < 5; round++) {
      const url = await freshDatabase();
      // Three brokers, one with a pool of one connection: the lock must not keep it from its own setup.
      const dbs = await Promise.all([open(url), open(url), open(url, 1)]);
      const results = await Promise.allSettled(dbs.map((db) => openLinkageQueue(db.sql, silent)));
      for (const r of results) if (r.status === 'fulfilled') cleanup.push(() => r.value.stop(1000));
      expect(results.map((r) => (r.status === 'fulfilled' ? 'up' : String(r.reason)))).toEqual(['up', 'up', 'up']);
      const queues = results.map((r) => (r as PromiseFulfilledResult<LinkageQueue>).value);
      const names = await dbs[0]!.sql`select name from ${dbs[0]!.sql(QUEUE_SCHEMA)}.queue order by name`;
      expect(names.map((q) => q.name)).toEqual(['linkage-chunk', 'linkage-chunk-dead']);
      // Every broker's queue works: each sends a chunk message.
      for (const [i, queue] of queues.entries())
        await dbs[i]!.sql.begin((tx) => queue.sendChunks(tx as unknown as Sql, `job-${i}`, 1));
      const [{ n }] = await dbs[0]!.sql`select count(*)::int as n from ${dbs[0]!.sql(QUEUE_SCHEMA)}.job`;
      expect(n).toBe(3);
      for (const fn of cleanup.splice(0).reverse()) await fn();
    }
  }, 180_000);
});

describe.skipIf(!serverUrl)("a pg-boss transaction that fails half-way (the adapter's BEGIN … COMMIT)", () => {
  it('is rolled back: the connection goes back to the pool usable, and nothing of it stays', async () => {
    // One connection: the query after the failure must run on the connection the failed text ran on.
    const db = await open(await freshDatabase(), 1);
    const boss = adapter(db.sql);
    await expect(
      boss.executeSql(
        `
        BEGIN;
        SET LOCAL idle_in_transaction_session_timeout = '30s';
        CREATE TABLE half_done (x int);
        SELECT 1 / 0;
        COMMIT;`,
        [],
      ),
    ).rejects.toMatchObject({ code: '22012' });
    const [row] = await db.sql`select to_regclass('half_done')::text as t, 1 as x`;
    expect(row).toEqual({ t: null, x: 1 });
    // Again: the connection is still usable for pg-boss's next transaction.
    await expect(boss.executeSql('BEGIN; SELECT 1 / 0; COMMIT;', [])).rejects.toMatchObject({ code: '22012' });
    expect(await db.sql`select 2 as x`).toEqual([{ x: 2 }]);
  });

  it('whose session ends under it is not given back to the pool: the pool connects again', async () => {
    const db = await open(await freshDatabase(), 1);
    await expect(
      adapter(db.sql).executeSql('BEGIN; SELECT pg_terminate_backend(pg_backend_pid()); COMMIT;', []),
    ).rejects.toBeDefined();
    // Released with its socket closed, postgres.js put the connection among the open ones, where every later
    // query failed (CONNECTION_CLOSED) and it was never connected again.
    for (let i = 0; i < 3; i++) expect(await db.sql`select ${i}::int as x`).toEqual([{ x: i }]);
  });
});
