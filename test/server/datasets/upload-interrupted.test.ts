/**
 * An upload whose broker is killed (SIGKILL) mid-way does not stay `loading` forever: its row carries
 * the heartbeat of the process writing it (common/heartbeat.ts), and once that heartbeat is stale the
 * next broker to sweep (here: the one started after it, as a restart would) marks the version failed
 * with UPLOAD_INTERRUPTED and drops its rows. A loading version whose writer still beats is left alone,
 * so brokers sharing a database never fail each other's uploads. Real Postgres only: the killed broker
 * is another process on the same database.
 */
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { STALE_AFTER_MS } from '../../../common/heartbeat.js';
import { loadDemoSchema } from '../../../demo/people.js';
import {
  api,
  b64,
  dropTestDatabase,
  randomClk,
  startBrokerProcess,
  startTestBroker,
  type TestBroker,
  until,
} from '../helpers.js';

const serverUrl = process.env.DATABASE_URL;
const ROWS = 40_000; // more than one stored chunk (CHUNK_ROWS, server/datasets/store.ts) arrives before the kill
const clks = Array.from({ length: 64 }, (_, i) => randomClk(1024, 70_000 + i));
const line = (i: number) => `${JSON.stringify({ ref: `k${i}`, clk: b64(clks[i % clks.length]!) })}\n`;

let child: ChildProcess | undefined;
const cleanup: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
});

describe.skipIf(!serverUrl)('an upload whose broker was killed', () => {
  it('is failed as UPLOAD_INTERRUPTED by the next broker to sweep, once its heartbeat is stale', async () => {
    // A broker to define the dataset and publish version 1, then stopped; its state folder and database stay.
    const a: TestBroker = await startTestBroker({}, true);
    const databaseUrl = a.databaseUrl!;
    cleanup.push(() => dropTestDatabase(databaseUrl));
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    cleanup.push(() => sql.end());
    const dp = a.tokens.dp;
    try {
      expect(
        (
          await api(a.url, 'PUT', '/v1/datasets/kill', {
            token: dp,
            body: { schema: loadDemoSchema(), claims: ['over_18'] },
          })
        ).status,
      ).toBe(201);
      const v1 = await api(a.url, 'POST', '/v1/datasets/kill/versions', {
        token: dp,
        raw: `${line(0)}${line(1)}`,
        contentType: 'application/x-ndjson',
      });
      expect(v1.json).toMatchObject({ version: 1, status: 'active' });
    } finally {
      await a.broker.close();
    }

    // The broker that will be killed: `npm start` as a child process on the same database and state folder.
    let url: string;
    ({ child, url } = await startBrokerProcess(a.stateDir, databaseUrl));

    // An upload announced whole (Content-Length) but sent only in part: the broker stores chunks as they come.
    const body = Buffer.from(Array.from({ length: ROWS }, (_, i) => line(i)).join(''));
    const req = request(`${url}/v1/datasets/kill/versions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${dp}`,
        'content-type': 'application/x-ndjson',
        'content-length': String(body.length),
      },
    });
    req.on('error', () => {}); // the broker dies under it
    req.write(body.subarray(0, Math.floor(body.length * 0.6)));
    await until('a chunk of version 2 is stored', async () => {
      const rows = await sql`select 1 from dataset_chunks where dataset_id = 'kill' and version = 2`;
      return rows.length > 0 ? true : undefined;
    });
    expect(await sql`select status from dataset_versions where dataset_id = 'kill' and version = 2`).toEqual([
      { status: 'loading' },
    ]);
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    // Another broker's upload, still beating (a fresh heartbeat): never failed by anyone's sweep.
    await sql`insert into dataset_versions (dataset_id, version, status, filter_bits, created_by)
              values ('kill', 3, 'loading', 1024, 'registry')`;
    // The dead one's heartbeat ages past STALE_AFTER_MS (instead of waiting 30 s).
    await sql`update dataset_versions set heartbeat_at = now() - ${STALE_AFTER_MS * 2} * interval '1 millisecond'
              where dataset_id = 'kill' and version = 2`;
    expect((await sql`select status from dataset_versions where dataset_id = 'kill' and version = 2`)[0]!.status).toBe(
      'loading',
    );

    // The restart: a broker on the same database sweeps as it starts.
    const b = await startTestBroker({ DATABASE_URL: databaseUrl, STATE_DIR: a.stateDir });
    cleanup.push(() => b.broker.close());
    const failed = await until('version 2 is failed', async () => {
      const [row] = await sql<{ status: string; error_code: string | null }[]>`
        select status, error_code from dataset_versions where dataset_id = 'kill' and version = 2`;
      return row?.status === 'failed' ? row : undefined;
    });
    expect(failed).toEqual({ status: 'failed', error_code: 'UPLOAD_INTERRUPTED' });
    expect(await sql`select 1 from dataset_chunks where dataset_id = 'kill' and version = 2`).toHaveLength(0);
    expect((await sql`select status from dataset_versions where dataset_id = 'kill' and version = 3`)[0]!.status).toBe(
      'loading',
    );

    // Version 1 answered all along; the provider sees why version 2 failed, and uploads again.
    const ds = await api(b.url, 'GET', '/v1/datasets/kill', { token: b.tokens.rp });
    expect(ds.json).toMatchObject({ active_version: 1, rows: 2 });
    const versions = await api(b.url, 'GET', '/v1/datasets/kill/versions', { token: b.tokens.dp });
    expect(versions.json.versions.find((v: { version: number }) => v.version === 2)).toMatchObject({
      status: 'failed',
      error_code: 'UPLOAD_INTERRUPTED',
      rows: 0,
    });
    const again = await api(b.url, 'POST', '/v1/datasets/kill/versions', {
      token: b.tokens.dp,
      raw: `${line(5)}${line(6)}${line(7)}`,
      contentType: 'application/x-ndjson',
    });
    expect(again.json).toMatchObject({ version: 4, status: 'active', rows: 3 });
  }, 120_000);
});
