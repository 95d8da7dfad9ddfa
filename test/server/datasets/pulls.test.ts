/**
 * Dataset pulls from the object store: through a real S3 HTTP API and the
 * `minio` client, and from the local folder (the embedded default).
 *
 * The S3 server is s3rver, a Node implementation of the S3 REST API run in
 * process on loopback (no MinIO server binary can be installed here). It
 * serves GET/HEAD/PUT and checks the access key id, but not the SigV4
 * signature itself, so the signature is not under test here.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'minio';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { encodeBinaryDataset } from '../../../server/datasets/upload.js';
import {
  type ApiResponse,
  api,
  b64,
  dropTestDatabase,
  expectProblem,
  pullSettled,
  randomClk,
  startRestartableBroker,
  startTestBroker,
  type TestBroker,
} from '../helpers.js';

const BUCKET = 'pavilion';
const SECRET_KEY = 'S3RVER-secret-sentinel';
const UPLOAD_LIMIT = 256 * 1024;
const clks = Array.from({ length: 200 }, (_, i) => randomClk(1024, 91_000 + i));

function jsonl(rows: { ref: string; clk: Uint8Array; over_18: boolean }[]): string {
  return rows.map((r) => JSON.stringify({ ref: r.ref, clk: b64(r.clk), claims: { over_18: r.over_18 } })).join('\n');
}

async function pull(t: TestBroker, dataset: string, body: object, token = t.tokens.dp): Promise<ApiResponse> {
  const started = await api(t.url, 'POST', `/v1/datasets/${dataset}/pulls`, { token, body });
  expect(started.status, started.text).toBe(202);
  expect(started.json.status).toBe('running');
  expect(started.headers.get('location')).toBe(`/v1/datasets/${dataset}/pulls/${started.json.id}`);
  return pullSettled(t, started.headers.get('location')!, token);
}

async function defineDataset(t: TestBroker, id: string): Promise<void> {
  const r = await api(t.url, 'PUT', `/v1/datasets/${id}`, {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  expect(r.status, r.text).toBe(201);
}

async function verify(t: TestBroker, dataset: string, clk: Uint8Array): Promise<ApiResponse> {
  return api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset, clk: b64(clk), claims: ['over_18'], purpose: 'age_verification' },
  });
}

describe('dataset pulls through an S3 API', () => {
  let s3: S3rver;
  let client: Client;
  let t: TestBroker;

  beforeAll(async () => {
    s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: mkdtempSync(join(tmpdir(), 'pavilion-s3-')),
      configureBuckets: [{ name: BUCKET, configs: [] }],
    });
    const { port } = await s3.run();
    // s3rver's only known access key id is S3RVER; it does not check the secret.
    client = new Client({
      endPoint: '127.0.0.1',
      port,
      useSSL: false,
      accessKey: 'S3RVER',
      secretKey: SECRET_KEY,
      pathStyle: true,
    });
    t = await startTestBroker({
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY: 'S3RVER',
      S3_SECRET_KEY: SECRET_KEY,
      PULL_LIMIT_BYTES: String(UPLOAD_LIMIT),
    });
    await defineDataset(t, 'licences');
  }, 60_000);

  afterAll(async () => {
    await t?.broker.close();
    await s3?.close().catch(() => {});
  });

  it('publishes a JSONL object as the next version, and verifications then match it', async () => {
    const rows = clks.slice(0, 100).map((clk, i) => ({ ref: `p${i}`, clk, over_18: i % 2 === 0 }));
    await client.putObject(BUCKET, 'datasets/licences/2026-11/people.jsonl', Buffer.from(jsonl(rows)));
    const done = await pull(t, 'licences', { object: '2026-11/people.jsonl' });
    expect(done.json).toMatchObject({
      status: 'succeeded',
      dataset: 'licences',
      object: 'datasets/licences/2026-11/people.jsonl',
      format: 'jsonl',
      version: 1,
      rows: 100,
      error: null,
    });
    expect(done.json.bytes).toBe(Buffer.byteLength(jsonl(rows)));
    expect(done.json.finished_at).toEqual(expect.any(String));
    const ds = await api(t.url, 'GET', '/v1/datasets/licences', { token: t.tokens.dp });
    expect(ds.json).toMatchObject({ active_version: 1, rows: 100 });
    const v = await verify(t, 'licences', clks[10]!);
    expect(v.status, v.text).toBe(200);
    expect(v.json).toMatchObject({ decision: 'match', claims: { over_18: true } });
  });

  it('publishes a PVDS binary object (format from the extension or named)', async () => {
    const rows = clks.slice(100, 160).map((clk, i) => ({ ref: `q${i}`, clk }));
    const file = encodeBinaryDataset(
      1024,
      rows,
      rows.map((_, i) => ({ over_18: i % 3 === 0 })),
    );
    await client.putObject(BUCKET, 'datasets/licences/v2.pvds', file);
    await client.putObject(BUCKET, 'datasets/licences/v3.bin', file);
    const byExtension = await pull(t, 'licences', { object: 'v2.pvds' });
    expect(byExtension.json).toMatchObject({ status: 'succeeded', format: 'binary', rows: 60, bytes: file.length });
    const named = await pull(t, 'licences', { object: 'v3.bin', format: 'binary' });
    expect(named.json).toMatchObject({
      status: 'succeeded',
      format: 'binary',
      rows: 60,
      version: byExtension.json.version + 1,
    });
    expect((await verify(t, 'licences', clks[103]!)).json).toMatchObject({
      decision: 'match',
      claims: { over_18: true },
    });
    // The first pull's records are gone with its version.
    expect((await verify(t, 'licences', clks[10]!)).json.decision).toBe('no_match');
  });

  it('a missing object, a bad row, or an object over the limit fails the pull; the active version stays', async () => {
    const before = (await api(t.url, 'GET', '/v1/datasets/licences', { token: t.tokens.dp })).json.active_version;
    const missing = await pull(t, 'licences', { object: 'nope.jsonl' });
    expect(missing.json).toMatchObject({ status: 'failed', error: { code: 'OBJECT_NOT_FOUND' }, version: null });

    const short = randomClk(512, 5);
    await client.putObject(
      BUCKET,
      'datasets/licences/bad.jsonl',
      Buffer.from(
        `${jsonl([{ ref: 'a', clk: clks[0]!, over_18: true }])}\n${jsonl([{ ref: 'b', clk: short, over_18: true }])}`,
      ),
    );
    const bad = await pull(t, 'licences', { object: 'bad.jsonl' });
    expect(bad.json).toMatchObject({ status: 'failed', error: { code: 'CLK_LENGTH_MISMATCH' } });
    expect(bad.json.error.detail).toMatch(/line 2/);

    const many = Array.from({ length: 2000 }, (_, i) => ({
      ref: `big${i}`,
      clk: randomClk(1024, 300_000 + i),
      over_18: true,
    }));
    await client.putObject(BUCKET, 'datasets/licences/big.jsonl', Buffer.from(jsonl(many)));
    const big = await pull(t, 'licences', { object: 'big.jsonl' });
    expect(big.json).toMatchObject({ status: 'failed', error: { code: 'UPLOAD_TOO_LARGE' } });

    expect((await api(t.url, 'GET', '/v1/datasets/licences', { token: t.tokens.dp })).json.active_version).toBe(before);
  });

  it('refuses keys outside the dataset prefix, unknown formats, other owners and other roles', async () => {
    for (const object of ['../other/people.jsonl', 'a//b.jsonl', '/abs.jsonl', './x.jsonl', 'a b.jsonl', 'ü.jsonl']) {
      expectProblem(
        await api(t.url, 'POST', '/v1/datasets/licences/pulls', { token: t.tokens.dp, body: { object } }),
        422,
        'OBJECT_KEY_INVALID',
      );
    }
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/licences/pulls', { token: t.tokens.dp, body: { object: 'people.csv' } }),
      422,
      'PULL_FORMAT_UNKNOWN',
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/licences/pulls', {
        token: t.tokens.dp,
        body: { object: 'x.jsonl', format: 'csv' },
      }),
      422,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/licences/pulls', {
        token: t.tokens.dp,
        body: { object: 'x.jsonl', bucket: 'elsewhere' },
      }),
      422,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/licences/pulls', { token: t.tokens.dp2, body: { object: 'x.jsonl' } }),
      403,
      'DATASET_NOT_OWNER',
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/licences/pulls', { token: t.tokens.rp, body: { object: 'x.jsonl' } }),
      403,
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/unknown/pulls', { token: t.tokens.dp, body: { object: 'x.jsonl' } }),
      404,
      'DATASET_NOT_FOUND',
    );
    // A pull id is only found under its own dataset, and only by its owner.
    const started = await api(t.url, 'POST', '/v1/datasets/licences/pulls', {
      token: t.tokens.dp,
      body: { object: 'nope.jsonl' },
    });
    await pullSettled(t, started.headers.get('location')!);
    expectProblem(
      await api(t.url, 'GET', `/v1/datasets/licences/pulls/${started.json.id}`, { token: t.tokens.dp2 }),
      403,
      'DATASET_NOT_OWNER',
    );
    await defineDataset(t, 'other');
    expectProblem(
      await api(t.url, 'GET', `/v1/datasets/other/pulls/${started.json.id}`, { token: t.tokens.dp }),
      404,
      'PULL_NOT_FOUND',
    );
    expectProblem(
      await api(t.url, 'GET', '/v1/datasets/licences/pulls/not-a-uuid', { token: t.tokens.dp }),
      404,
      'PULL_NOT_FOUND',
    );
  });

  it('the object store going away fails the pull: OBJECT_STORE_UNAVAILABLE, no secret in errors or logs', async () => {
    await s3.close();
    const down = await pull(t, 'licences', { object: 'people.jsonl' });
    expect(down.json).toMatchObject({ status: 'failed', error: { code: 'OBJECT_STORE_UNAVAILABLE' } });
    expect(down.text).not.toContain(SECRET_KEY);
    expect(t.logs.join('\n')).not.toContain(SECRET_KEY);
    // The broker keeps answering.
    expect((await verify(t, 'licences', clks[103]!)).status).toBe(200);
  });
});

describe('dataset pulls from the local folder (no S3_ENDPOINT)', () => {
  let t: TestBroker;
  beforeAll(async () => {
    t = await startTestBroker();
    await defineDataset(t, 'local');
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
  });

  it('reads STATE_DIR/objects/datasets/<id>/…', async () => {
    const dir = join(t.stateDir, 'objects', 'datasets', 'local', 'drop');
    mkdirSync(dir, { recursive: true });
    const rows = clks.slice(0, 40).map((clk, i) => ({ ref: `l${i}`, clk, over_18: true }));
    writeFileSync(join(dir, 'people.ndjson'), jsonl(rows));
    const done = await pull(t, 'local', { object: 'drop/people.ndjson' });
    expect(done.json).toMatchObject({ status: 'succeeded', format: 'jsonl', rows: 40, version: 1 });
    expect((await verify(t, 'local', clks[7]!)).json).toMatchObject({ decision: 'match' });
    // A folder is not an object.
    expect((await pull(t, 'local', { object: 'drop', format: 'jsonl' })).json).toMatchObject({
      status: 'failed',
      error: { code: 'OBJECT_NOT_FOUND' },
    });
  });
});

describe('an object store that stops answering', () => {
  // A loopback HTTP server standing in for a stalled S3 API (what a hung
  // MinIO looks like from the client): it answers the object's HEAD, then
  // sends the first bytes of its GET, or nothing at all, and never finishes.
  let stalled: Server;
  let t: TestBroker;
  const sockets = new Set<import('node:net').Socket>();
  beforeAll(async () => {
    stalled = createServer((req, res) => {
      if (req.url?.includes('silent')) return; // no answer at all
      const headers = {
        'content-length': '100000',
        etag: '"0123456789abcdef0123456789abcdef"',
        'last-modified': new Date().toUTCString(),
        'content-type': 'application/x-ndjson',
      };
      res.writeHead(200, headers);
      if (req.method === 'HEAD') return void res.end();
      res.write('{"ref":"a",'); // and then nothing more
    });
    stalled.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as import('node:net').AddressInfo;
    t = await startTestBroker({
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY: 'k',
      S3_SECRET_KEY: 'not-a-real-secret',
      OBJECT_STORE_TIMEOUT_MS: '300',
    });
    await defineDataset(t, 'stall');
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => stalled?.close(resolve));
  });

  it('fails the pull with OBJECT_STORE_UNAVAILABLE instead of hanging, mid-object or before any answer', async () => {
    for (const object of ['midway.jsonl', 'silent.jsonl']) {
      const done = await pull(t, 'stall', { object });
      expect(done.json, object).toMatchObject({ status: 'failed', error: { code: 'OBJECT_STORE_UNAVAILABLE' } });
      expect(done.json.error.detail).toMatch(/sent nothing for 300 ms/);
    }
    expect((await api(t.url, 'GET', '/v1/datasets/stall', { token: t.tokens.dp })).json.active_version).toBeNull();
  });
});

describe('a pull when the broker stops', () => {
  it('is recorded as PULL_INTERRUPTED, activates nothing, and reads so after a restart', async () => {
    const { first: a, again: overrides } = await startRestartableBroker();
    let location = '';
    try {
      await defineDataset(a, 'slow');
      const dir = join(a.stateDir, 'objects', 'datasets', 'slow');
      mkdirSync(dir, { recursive: true });
      // ~12 MB: read in 1 MiB pieces, far more than the pull can finish before close() below.
      writeFileSync(
        join(dir, 'big.jsonl'),
        jsonl(Array.from({ length: 50_000 }, (_, i) => ({ ref: `s${i}`, clk: clks[i % clks.length]!, over_18: true }))),
      );
      const started = await api(a.url, 'POST', '/v1/datasets/slow/pulls', {
        token: a.tokens.dp,
        body: { object: 'big.jsonl' },
      });
      expect(started.status, started.text).toBe(202);
      location = started.headers.get('location')!;
    } finally {
      await a.broker.close();
    }
    const b = await startTestBroker({ ...overrides, STATE_DIR: a.stateDir });
    try {
      const r = await api(b.url, 'GET', location, { token: b.tokens.dp });
      expect(r.json).toMatchObject({ status: 'failed', error: { code: 'PULL_INTERRUPTED' }, version: null });
      expect((await api(b.url, 'GET', '/v1/datasets/slow', { token: b.tokens.dp })).json).toMatchObject({
        active_version: null,
        rows: 0,
      });
    } finally {
      await b.broker.close();
      if (a.databaseUrl) await dropTestDatabase(a.databaseUrl);
    }
  }, 60_000);
});
