/**
 * Test harness: a real broker in-process on an ephemeral port (embedded
 * PGlite and the in-process LRU unless DATABASE_URL / REDIS_URL are set, as
 * CI does), real HTTP through fetch, and a problem-document assertion used
 * by every test that expects an error.
 */

import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, expect } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { type Broker, startBroker } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';

export interface TestBroker {
  broker: Broker;
  url: string;
  tokens: Record<'rp' | 'rp2' | 'dp' | 'dp2' | 'auditor' | 'admin', string>;
  logs: string[];
  stateDir: string;
  /** The database this broker uses (a private one on a real server). */
  databaseUrl?: string;
}

/**
 * With a real Postgres (CI's DATABASE_URL), each test broker gets a database
 * of its own, dropped when the broker closes: tests must not see each
 * other's datasets or audit entries, nor those of other runs.
 */
export async function createTestDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `pv_server_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => dropTestDatabase(url.toString()) };
}

/** Drops a test broker's private database (one kept with `keepDatabase` for a restart test). */
export async function dropTestDatabase(databaseUrl: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
  await admin.end();
}

/**
 * State folders made here (each with a master key, an audit signing key and an identity key) and embedded data
 * folders (startRestartableBroker): removed after the test file's own afterAll hooks (registered first, this one
 * runs last), not when a broker closes, since restart tests start a second broker on the first one's.
 */
const madeStateDirs: string[] = [];
const removeStateDirs = () => {
  for (const dir of madeStateDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};
try {
  afterAll(removeStateDirs);
} catch {
  // Outside a vitest file (test/server/faults/broker-child.ts runs brokers in a plain child process): at its exit.
  process.once('exit', removeStateDirs);
}

export async function startTestBroker(
  overrides: Record<string, string> = {},
  keepDatabase = false,
): Promise<TestBroker> {
  let stateDir = overrides.STATE_DIR;
  if (stateDir === undefined) {
    stateDir = mkdtempSync(join(tmpdir(), 'pavilion-server-test-'));
    madeStateDirs.push(stateDir);
  }
  let db: { url: string; drop(): Promise<void> } | undefined;
  if (!overrides.DATABASE_URL && process.env.DATABASE_URL) db = await createTestDatabase(process.env.DATABASE_URL);
  const logs: string[] = [];
  // Every log line is kept so tests can scan them for sentinel values.
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const config = loadConfig(
    {},
    {
      PORT: '0',
      HOST: '127.0.0.1',
      STATE_DIR: stateDir,
      ENGINE_THREADS: '2',
      AUDIT_CHECKPOINT_MS: '200',
      AUDIT_CHECKPOINT_LEAVES: '10',
      ANCHORING: 'off',
      ...(db ? { DATABASE_URL: db.url } : {}),
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...overrides,
    },
  );
  const broker = await startBroker(config, { logger }).catch(async (err) => {
    await db?.drop();
    throw err;
  });
  if (db) {
    const close = broker.close.bind(broker);
    broker.close = async () => {
      await close();
      if (!keepDatabase) await db.drop();
    };
  }
  const id = broker.localIdentity!;
  const tokens = {
    rp: await id.mint({ sub: 'acme-bank', roles: ['rp'] }),
    rp2: await id.mint({ sub: 'other-rp', roles: ['rp'] }),
    dp: await id.mint({ sub: 'registry', roles: ['dp'] }),
    dp2: await id.mint({ sub: 'other-dp', roles: ['dp'] }),
    auditor: await id.mint({ sub: 'the-auditor', roles: ['auditor'] }),
    admin: await id.mint({ sub: 'operator', roles: ['admin'] }),
  };
  return {
    broker,
    url: broker.url,
    tokens,
    logs,
    stateDir,
    ...(db ? { databaseUrl: db.url } : overrides.DATABASE_URL ? { databaseUrl: overrides.DATABASE_URL } : {}),
  };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/**
 * The first broker of a test that stops it and starts another on the same data. On real Postgres the database is
 * its own (dropped by the caller); embedded, PGlite needs a data folder (PGLITE_DATA_DIR), made here and removed
 * with the state folders. `again` holds the database settings for the next start; `dataDir` is the folder, if any.
 */
export async function startRestartableBroker(): Promise<{
  first: TestBroker;
  again: Record<string, string>;
  dataDir?: string;
}> {
  if (process.env.DATABASE_URL) {
    const first = await startTestBroker({}, true);
    return { first, again: { DATABASE_URL: first.databaseUrl! } };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'pavilion-test-pglite-'));
  madeStateDirs.push(dataDir);
  const first = await startTestBroker({ PGLITE_DATA_DIR: dataDir }, true);
  return { first, again: { PGLITE_DATA_DIR: dataDir }, dataDir };
}

export async function api(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    raw?: string | Uint8Array;
    contentType?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined;
  if (opts.raw !== undefined) {
    body = opts.raw;
    headers['content-type'] = opts.contentType ?? 'application/json';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  // A Uint8Array is a valid fetch body; the DOM-less typings of Node 20 only name BodyInit loosely.
  const res = await fetch(base + path, { method, headers, body: body as string | undefined });
  const text = await res.text();
  let json: unknown;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) json = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, json };
}

/** Every 4xx/5xx must be RFC 9457 problem JSON with a stable code. */
/** Polls a pull (at its Location) until it is no longer running; its last answer. */
export async function pullSettled(t: TestBroker, location: string, token = t.tokens.dp): Promise<ApiResponse> {
  for (let i = 0; i < 300; i++) {
    const r = await api(t.url, 'GET', location, { token });
    if (r.status !== 200 || r.json.status !== 'running') return r;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`pull ${location} still running`);
}

/** Starts a pull (POST /v1/datasets/{dataset}/pulls, 202) and waits until it is no longer running. */
export async function runPull(t: TestBroker, dataset: string, body: object, token = t.tokens.dp): Promise<ApiResponse> {
  const started = await api(t.url, 'POST', `/v1/datasets/${dataset}/pulls`, { token, body });
  expect(started.status, started.text).toBe(202);
  return pullSettled(t, started.headers.get('location')!, token);
}

export function expectProblem(res: ApiResponse, status: number, code?: string): void {
  expect(res.status, `${res.status} ${res.text.slice(0, 300)}`).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.json).toMatchObject({
    status,
    title: expect.any(String),
    type: expect.stringMatching(/^urn:pavilion:problem:/),
  });
  expect(res.json.code).toMatch(/^[A-Z0-9_]+$/);
  if (code) expect(res.json.code).toBe(code);
}

/** A random CLK of `bits` bits with roughly `density` of them set. */
export function randomClk(bits: number, seed: number, density = 0.3): Uint8Array {
  const out = new Uint8Array(bits / 8);
  let a = seed >>> 0;
  for (let i = 0; i < bits; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    if (((t ^ (t >>> 14)) >>> 0) / 4294967296 < density) out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
}

/** Flips `n` distinct bits of a copy (a slightly different encoding of the same person). */
export function perturb(clk: Uint8Array, n: number, seed = 1): Uint8Array {
  const out = Uint8Array.from(clk);
  const bits = clk.length * 8;
  for (let k = 0; k < n; k++) {
    const i = (seed * 7919 + k * 104729) % bits;
    out[i >> 3]! ^= 1 << (i & 7);
  }
  return out;
}

export const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

/**
 * Temporary folders and a database that several brokers start on one after another (a restart, a replica): a
 * Postgres database of its own with DATABASE_URL, else an embedded PGlite data folder. Everything made is removed
 * in the calling file's afterAll.
 */
export function testScratch(): {
  dir(prefix: string): string;
  /** Settings naming the shared database: its URL, or the PGlite data folder. */
  database(prefix: string): Promise<Record<string, string>>;
} {
  const dirs: string[] = [];
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops.reverse()) await drop().catch(() => {});
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const dir = (prefix: string) => {
    const made = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(made);
    return made;
  };
  return {
    dir,
    async database(prefix): Promise<Record<string, string>> {
      const serverUrl = process.env.DATABASE_URL;
      if (!serverUrl) return { PGLITE_DATA_DIR: dir(`${prefix}pglite-`) };
      const db = await createTestDatabase(serverUrl);
      drops.push(db.drop);
      return { DATABASE_URL: db.url };
    },
  };
}

/** Polls `ask` (every `everyMs`) until it gives a value; fails naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  ask: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await ask();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** server/main.ts (what `npm start` runs) as a child process on a database and state folder, no demo, no chain. */
export function spawnBrokerMain(
  stateDir: string,
  databaseUrl: string,
  logLevel: string,
  stdio: SpawnOptions['stdio'] = 'pipe',
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', fromRoot('server', 'main.ts')], {
    cwd: fromRoot(),
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      STATE_DIR: stateDir,
      DATABASE_URL: databaseUrl,
      DEMO_RECORDS: '0',
      ANCHORING: 'off',
      ENGINE_THREADS: '1',
      LOG_LEVEL: logLevel,
    },
    stdio,
  });
}

/**
 * `npm start` (server/main.ts) as a child process on a database and state folder, for tests that kill a
 * broker with SIGKILL; resolves once it listens. The caller kills it (and should, in afterAll).
 */
export async function startBrokerProcess(
  stateDir: string,
  databaseUrl: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnBrokerMain(stateDir, databaseUrl, 'warn');
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.resume();
  try {
    const url = await until('the child broker listens', async () => /listening on (\S+)/.exec(out)?.[1], 60_000);
    return { child, url };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}
