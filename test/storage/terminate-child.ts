/**
 * A process for the terminated-backend test (postgres-faults.test.ts): opens the broker's pool
 * (storage/postgres.ts), starts a transaction with several writes queued behind a long statement, and
 * prints `pid <n>`; the parent terminates that backend. The process then reports how the transaction
 * ended, whether the pool answers again, and ends the pool without a timeout (a hang fails the parent).
 *
 * env: CHILD_DATABASE_URL.
 */
import { isDatabaseUnavailable, openDatabase } from '../../storage/postgres.js';

const db = await openDatabase({ url: process.env.CHILD_DATABASE_URL!, max: 2 });
const { sql } = db;
await sql`create temporary table if not exists t (x int)`.catch(() => {});
const tx = sql.begin(async (t) => {
  const [row] = await t<{ pid: number }[]>`select pg_backend_pid() as pid`;
  process.stdout.write(`pid ${row!.pid}\n`);
  // Queued on the same connection: written while the sleep runs, answered never.
  return Promise.all([
    t`select pg_sleep(30)`,
    ...Array.from({ length: 8 }, (_, i) => t`select ${i}::int as i, repeat('x', 2000) as pad`),
  ]);
});
const outcome = await tx.then(
  () => 'committed',
  (err: { code?: string }) => `rejected ${err.code} ${isDatabaseUnavailable(err) ? 'outage' : 'other'}`,
);
process.stdout.write(`${outcome}\n`);
// A turn for any write the driver queued on the dead connection to run (where 3.4.9 threw).
await new Promise((resolve) => setTimeout(resolve, 200));
const rows = await Promise.all(Array.from({ length: 4 }, () => sql<{ one: number }[]>`select 1 as one`));
process.stdout.write(`after ${rows.map((r) => r[0]!.one).join(',')}\n`);
await sql.end();
process.stdout.write('ended\n');
