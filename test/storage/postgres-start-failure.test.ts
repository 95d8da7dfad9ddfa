/**
 * What the broker prints when its database fails it at start (server/main.ts, behind `npm start` and
 * `pavilion serve`): one line `pavilion: CODE: message`, as every `pavilion` command, never the connection string
 * nor a Postgres message (it can quote values). A user trial saw `pavilion broker: failed to start PostgresError:
 * deadlock detected` and its stack. Real Postgres; the broker runs as a child process on a database of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, spawnBrokerMain } from '../server/helpers.js';
import { type PrivatePostgres, privatePostgresAvailable, startPrivatePostgres } from './private-postgres.js';

const serverUrl = process.env.DATABASE_URL;
const stateDir = mkdtempSync(join(tmpdir(), 'pavilion-start-failure-'));
const cleanup: (() => Promise<unknown>)[] = [() => Promise.resolve(rmSync(stateDir, { recursive: true, force: true }))];

afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
});

/** Starts server/main.ts on `databaseUrl`; its exit code and stderr once it exits. */
function startBroker(databaseUrl: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawnBrokerMain(stateDir, databaseUrl, 'silent', ['ignore', 'ignore', 'pipe']);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const killer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    }),
  );
}

/** What a wrong password in DATABASE_URL prints after `invalid setting(s): DATABASE_URL (`. */
const wrongPassword = 'Postgres answered, password authentication failed (28P01): check the user and password in it';

describe.skipIf(!serverUrl)('a database that fails the broker at start', () => {
  it('an unexpected Postgres error: INTERNAL on one line, then the stack without the message', async () => {
    const database = await createTestDatabase(serverUrl!);
    cleanup.push(database.drop);
    // A table of the broker's name that is not the broker's: its first migration query fails (42703).
    const db = postgres(database.url, { max: 1, onnotice: () => {} });
    await db`create table schema_migrations (x int)`;
    await db.end();

    const { code, stderr } = await startBroker(database.url);
    expect(code).toBe(1);
    const [first, second, ...frames] = stderr.trimEnd().split('\n');
    expect(first).toBe('pavilion: INTERNAL: the broker failed to start');
    expect(second).toMatch(/^PostgresError: Postgres error 42703 in \w+$/);
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) expect(frame).toMatch(/^\s+at /);
    expect(stderr).not.toContain('does not exist');
    expect(stderr).not.toContain(new URL(database.url).pathname.slice(1));
  }, 60_000);

  it('a password Postgres refuses: CONFIG_INVALID naming DATABASE_URL on one line, without the password', async () => {
    const url = new URL(serverUrl!);
    url.password = `sentinel-${randomBytes(6).toString('hex')}`;
    const { code, stderr } = await startBroker(url.toString());
    expect(code).toBe(1);
    expect(stderr).toBe(`pavilion: CONFIG_INVALID: invalid setting(s): DATABASE_URL (${wrongPassword})\n`);
  }, 60_000);
});

/**
 * A server that answered and refused the login is not "cannot reach Postgres": an outside probe saw
 * `DATABASE_UNAVAILABLE: cannot reach Postgres (DATABASE_URL): 28P01` for a wrong password. A server of the test's
 * own with password authentication (test/storage/private-postgres.ts), so it runs without DATABASE_URL too.
 */

describe.skipIf(!privatePostgresAvailable)('a database that refuses the login at start', () => {
  const password = `right-${randomBytes(6).toString('hex')}`;
  let pg: PrivatePostgres;
  beforeAll(async () => {
    pg = await startPrivatePostgres({ password });
  }, 60_000);
  afterAll(() => pg?.destroy());

  it('a wrong password: CONFIG_INVALID naming DATABASE_URL and what to check, never the password', async () => {
    const url = new URL(pg.url);
    url.password = `sentinel-${randomBytes(6).toString('hex')}`;
    const { code, stderr } = await startBroker(url.toString());
    expect(code).toBe(1);
    expect(stderr).toBe(`pavilion: CONFIG_INVALID: invalid setting(s): DATABASE_URL (${wrongPassword})\n`);
    expect(stderr).not.toContain(url.password);
  }, 60_000);

  it('a database the server does not have: CONFIG_INVALID naming DATABASE_URL', async () => {
    const url = new URL(pg.url);
    url.pathname = '/no_such_database';
    const { code, stderr } = await startBroker(url.toString());
    expect(code).toBe(1);
    expect(stderr).toBe(
      'pavilion: CONFIG_INVALID: invalid setting(s): DATABASE_URL (Postgres answered, it has no database of that ' +
        'name (3D000): check the database name in it)\n',
    );
    expect(stderr).not.toContain(password);
  }, 60_000);
});
