/**
 * Test database for the audit suite: the embedded PGlite server by default,
 * or the real server in DATABASE_URL. With a real server each suite gets its
 * own schema (dropped afterwards), so runs never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase, type Sql } from '../../storage/postgres.js';

export interface TestDatabase {
  sql: Sql;
  embedded: boolean;
  /** Opens another, independent client on the same data (a second "process"). Real Postgres only. */
  connect(max?: number): Sql;
  /** Connection string and search_path a child process needs to reach the same data. */
  url: string;
  schema: string | null;
  close(): Promise<void>;
}

export const realPostgres = Boolean(process.env.DATABASE_URL);

export async function openTestDatabase(): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openDatabase({});
    return {
      sql: db.sql,
      embedded: true,
      url: db.url,
      schema: null,
      connect: () => {
        throw new Error('a second client on the embedded server is not safe (see storage/postgres.ts)');
      },
      close: () => db.close(),
    };
  }
  const schema = `audit_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema ${schema}`);
  const clients: Sql[] = [];
  const connect = (max = 10) => {
    const c = postgres(url, { max, onnotice: () => {}, connection: { search_path: schema } });
    clients.push(c);
    return c;
  };
  const sql = connect();
  return {
    sql,
    embedded: false,
    url,
    schema,
    connect,
    async close() {
      await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
      await admin.unsafe(`drop schema ${schema} cascade`);
      await admin.end({ timeout: 5 });
    },
  };
}
