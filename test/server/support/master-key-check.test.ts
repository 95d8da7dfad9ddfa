/**
 * The broker proves its master key against the database at start (server/support/master-keys.ts): a replica with
 * another MASTER_KEY than the others on one database refuses to start with one line, `pavilion: SECRET_UNREADABLE:
 * …`, instead of starting ready and failing the linkage chunks and secrets it touches (a user trial saw a job end
 * `failed SECRET_UNREADABLE`). A database from before the check gets the check value at the next start, after one
 * of its sealed values is opened. And a STATE_DIR/master.key of the wrong size, or a folder, is SECRET_UNREADABLE
 * (docs/errors.md) on one line, not CONFIG_INVALID or INTERNAL with an EISDIR stack.
 *
 * Real Postgres when DATABASE_URL is set (a database of its own), else an embedded PGlite in a data folder; the
 * brokers start one after another on it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPavilionError } from '../../../common/errors.js';
import { fromRoot } from '../../../common/paths.js';
import { loadDemoSchema } from '../../../demo/people.js';
import { loadMasterKeys } from '../../../server/support/master-keys.js';
import { api, startTestBroker, type TestBroker, testScratch } from '../helpers.js';

const scratch = testScratch();
const tempDir = scratch.dir;

const newKey = () => randomBytes(32).toString('base64');

/** server/main.ts (what `npm start` runs) as a child process with `env`; its exit code and output once it exits. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fromRoot('server', 'main.ts')], {
    cwd: fromRoot(),
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO_RECORDS: '0',
      ANCHORING: 'off',
      ENGINE_THREADS: '1',
      LOG_LEVEL: 'debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
    // A broker that starts is not what these runs expect: stop it, the test then fails on its exit code.
    if (stdout.includes('listening on')) child.kill('SIGTERM');
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** One line `pavilion: SECRET_UNREADABLE: …` matching `message`, exit 1, no stack. */
function expectOneLineRefusal(run: { code: number | null; stderr: string }, message: RegExp): void {
  expect(run.code, run.stderr).toBe(1);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^pavilion: SECRET_UNREADABLE: /);
  expect(lines[0]).toMatch(message);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

describe('a broker whose master key is not the database’s', () => {
  const key = newKey();
  const other = newKey();
  /** Settings naming the shared database: its URL, or the PGlite data folder. */
  let database: Record<string, string>;

  beforeAll(async () => {
    database = await scratch.database('pavilion-key-check-');
  }, 60_000);

  // One audit signing key for every start: each start has a STATE_DIR of its own, and a development key that did
  // not sign the log's latest checkpoint is refused (audit/log.ts), which would hide the master key's refusal
  // whenever the checkpoint timer signed one before a broker closed.
  const signingKey = newKey();
  const start = (masterKey: string): Promise<TestBroker> =>
    startTestBroker({ ...database, MASTER_KEY: masterKey, AUDIT_SIGNING_KEY: signingKey });

  /** The start is refused with SECRET_UNREADABLE, naming MASTER_KEY and docs/operations.md, never a key. */
  const expectRefused = async (masterKey: string) => {
    const err = await start(masterKey).then(
      async (t) => {
        await t.broker.close();
        return new Error('the broker started');
      },
      (e: unknown) => e,
    );
    expect(isPavilionError(err), String(err)).toBe(true);
    expect(err).toMatchObject({ code: 'SECRET_UNREADABLE' });
    const message = (err as Error).message;
    expect(message).toMatch(/MASTER_KEY/);
    expect(message).toMatch(/docs\/operations\.md/);
    for (const k of [key, other]) expect(message).not.toContain(k);
  };

  it('is refused at start; the same key starts', async () => {
    const first = await start(key);
    try {
      expect(first.logs.join('\n')).toContain('master key check written to the database');
      expect((await first.broker.db.sql`select count(*)::int as n from master_key_check`)[0]!.n).toBe(1);
    } finally {
      await first.broker.close();
    }
    await expectRefused(other);
    const again = await start(key);
    expect(again.logs.join('\n')).not.toContain('master key check written');
    expect((await api(again.url, 'GET', '/readyz')).status).toBe(200);
    await again.broker.close();
  }, 120_000);

  it('server/main.ts prints one line, exits 1, and shows no key', async () => {
    const run = await runMain({
      ...database,
      MASTER_KEY: other,
      AUDIT_SIGNING_KEY: signingKey,
      STATE_DIR: tempDir('pavilion-key-check-state-'),
    });
    expectOneLineRefusal(run, /every broker on one database must share one MASTER_KEY.*docs\/operations\.md/);
    for (const k of [key, other]) expect(run.stdout + run.stderr).not.toContain(k);
  }, 120_000);

  it('a database from before the check: a wrong key is caught by a sealed value, the right key writes it', async () => {
    // A linkage secret sealed under `key`, and the check value deleted: a database from before the check.
    const t = await start(key);
    try {
      await api(t.url, 'PUT', '/v1/datasets/kc', {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'], allow_broker_encoding: true },
      }).then((r) => expect(r.status, r.text).toBe(201));
      const set = await api(t.url, 'PUT', '/v1/datasets/kc/secret', {
        token: t.tokens.dp,
        body: { secret: 'key check secret 0123' },
      });
      expect(set.status, set.text).toBe(204);
      await t.broker.db.sql`delete from master_key_check`;
    } finally {
      await t.broker.close();
    }

    // Another key cannot open the secret: refused, and no check value is written for it.
    await expectRefused(other);

    // The right key opens it and writes the check value.
    const right = await start(key);
    try {
      expect(right.logs.join('\n')).toContain('master key check written to the database');
      expect((await right.broker.db.sql`select count(*)::int as n from master_key_check`)[0]!.n).toBe(1);
      // Now the check value alone catches a wrong key: no sealed value is left to open.
      await right.broker.db.sql`delete from dataset_secrets`;
    } finally {
      await right.broker.close();
    }
    await expectRefused(other);
  }, 180_000);
});

describe('a STATE_DIR/master.key that cannot be used', () => {
  const stateDirWith = (make: (file: string) => void) => {
    const dir = tempDir('pavilion-master-key-file-');
    make(join(dir, 'master.key'));
    return dir;
  };
  const cases: [string, (file: string) => void, RegExp][] = [
    [
      'of the wrong size',
      (f) => writeFileSync(f, `${randomBytes(16).toString('base64')}\n`),
      /does not hold a 32-byte/,
    ],
    ['a folder', (f) => mkdirSync(f), /cannot be read \(EISDIR\)/],
    // A check of the fixes: the development key was written wherever a dangling link pointed.
    ['a dangling link', (f) => symlinkSync(join(dirname(f), 'elsewhere', 'key'), f), /cannot be created \(EEXIST\)/],
  ];

  for (const [what, make, message] of cases) {
    it(`${what}: SECRET_UNREADABLE naming the file`, () => {
      const dir = stateDirWith(make);
      let err: unknown;
      try {
        loadMasterKeys({ stateDir: dir });
      } catch (e) {
        err = e;
      }
      expect(isPavilionError(err), String(err)).toBe(true);
      expect(err).toMatchObject({ code: 'SECRET_UNREADABLE' });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(join(dir, 'master.key'));
      expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
    });

    it(`${what}: server/main.ts prints one line, no stack`, async () => {
      // The key file is read before the database is opened: no database is needed.
      const run = await runMain({ STATE_DIR: stateDirWith(make) });
      expectOneLineRefusal(run, message);
    }, 60_000);
  }
});
