/**
 * The shared Postgres pool (storage/postgres.ts) when the server ends a session under it, on a real
 * server (DATABASE_URL): the backend of an open transaction with writes queued behind a long statement
 * is terminated (pg_terminate_backend, as an operator or a failover does). postgres.js 3.4.9 (and 3.4.10)
 * then wrote its own ROLLBACK to the closed connection from a setImmediate and the process died with
 * `TypeError: Cannot read properties of null (reading 'write')` (upstream issues #1066, #1154, #1208);
 * patches/postgres+3.4.9.patch settles those queries instead. The check runs in a child process, so
 * "the process stays up" is observed, not assumed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';

const serverUrl = process.env.DATABASE_URL;

describe.skipIf(!serverUrl)('a backend terminated inside a transaction', () => {
  it('rejects the transaction as an outage, keeps the process up, and the pool answers again', async () => {
    const admin = postgres(serverUrl!, { max: 1, onnotice: () => {} });
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'terminate-child.ts')], {
      env: { ...process.env, CHILD_DATABASE_URL: serverUrl! },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString('utf8');
          const pid = /^pid (\d+)$/m.exec(out);
          if (pid) {
            // Once the sleep is running on that backend (the queued writes are behind it).
            const terminate = async () => {
              for (let i = 0; i < 100; i++) {
                const [row] = await admin`select state, query from pg_stat_activity where pid = ${Number(pid[1])}`;
                if (row?.state === 'active' && String(row.query).includes('pg_sleep')) break;
                await new Promise((r) => setTimeout(r, 20));
              }
              await admin`select pg_terminate_backend(${Number(pid[1])})`;
            };
            child.stdout.removeAllListeners('data');
            child.stdout.on('data', (more: Buffer) => (out += more.toString('utf8')));
            terminate().then(resolve, reject);
          }
        });
        child.on('exit', () => resolve());
      });
      const code = await exited;
      expect(err, err).not.toMatch(/TypeError|Cannot read properties of null/);
      expect(out).toMatch(/^rejected [A-Z0-9_]+ outage$/m);
      expect(out).toMatch(/^after 1,1,1,1$/m);
      expect(out).toMatch(/^ended$/m);
      expect(code).toBe(0);
    } finally {
      clearTimeout(killer);
      await admin.end();
    }
  });
});
