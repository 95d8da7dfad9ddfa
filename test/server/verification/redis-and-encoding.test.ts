/**
 * Redis stopped mid-run: answers keep coming (uncached by Redis) and the
 * metrics say so. Broker-side encoding: a record is encoded with the DP's
 * secret exactly as the DP would, and its values appear in no log line,
 * audit event, cache entry or error message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

const hasRedisServer = await new Promise<boolean>((resolve) => {
  const p = spawn('redis-server', ['--version']);
  p.on('error', () => resolve(false));
  p.on('exit', (code) => resolve(code === 0));
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  for (let i = 0; i < 50; i++) {
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  client.disconnect();
  throw new Error('redis-server did not start');
}

const clks = Array.from({ length: 500 }, (_, i) => randomClk(1024, 300_000 + i));

describe.skipIf(!hasRedisServer)('Redis stopped mid-run', () => {
  let redis: ChildProcess;
  let t: TestBroker;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    t = await startTestBroker({ REDIS_URL: `redis://127.0.0.1:${port}`, CACHE_LRU_ENTRIES: '1' });
    await api(t.url, 'PUT', '/v1/datasets/c', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    await api(t.url, 'POST', '/v1/datasets/c/versions', {
      token: t.tokens.dp,
      raw: clks.map((c, i) => JSON.stringify({ ref: `c${i}`, clk: b64(c), claims: { over_18: true } })).join('\n'),
      contentType: 'application/x-ndjson',
    });
  });
  afterAll(async () => {
    await t?.broker.close();
    redis?.kill('SIGKILL');
  });

  const ask = (i: number) =>
    api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'c', clk: b64(clks[i]!), claims: ['over_18'], purpose: 'age_verification' },
    });

  it('caches in Redis while it runs, then keeps answering after it is killed', async () => {
    expect((await ask(1)).json.cached).toBe(false);
    // The LRU holds one entry: ask another question so the first must come from Redis.
    await ask(2);
    // Redis writes are batched per loop turn: ask until the answer comes back from Redis.
    let again = await ask(1);
    for (let i = 0; i < 40 && !again.json.cached; i++) {
      await ask(2);
      await new Promise((r) => setTimeout(r, 50));
      again = await ask(1);
    }
    expect(again.json.cached).toBe(true);
    expect(t.broker.cacheStats().redisHits).toBeGreaterThan(0);

    redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 3; i < 40; i++) {
      const r = await ask(i);
      expect(r.status, r.text).toBe(200);
      expect(r.json.decision).toBe('match');
    }
    const stats = t.broker.cacheStats();
    expect(stats.redisUp).toBe(false);
    expect(stats.degradedMisses).toBeGreaterThan(0);
    const metrics = (await api(t.url, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/pavilion_cache_redis_up 0/);
    expect(metrics).toMatch(/result="error"/);
    const ready = await api(t.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.checks.cache_redis).toBe(false);
    expect(t.logs.filter((l) => l.includes('Redis unreachable')).length).toBe(1);
  });
});

describe('Redis down from the start', () => {
  let t: TestBroker;
  beforeAll(async () => {
    t = await startTestBroker({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
  });
  afterAll(async () => {
    await t?.broker.close();
  });

  it('is warned about at start (it was not: "down" was taken as no change), and answers still come', async () => {
    const warnings = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith('Redis unreachable'));
    expect(warnings).toEqual([expect.objectContaining({ level: 40, redisUp: false })]);
    expect((await api(t.url, 'GET', '/readyz')).json.checks.cache_redis).toBe(false);
    expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('broker-side encoding', () => {
  const SENTINEL_SURNAME = 'zqxjsentinelov';
  const SENTINEL_DOB = '1911-11-11';
  let t: TestBroker;
  beforeAll(async () => {
    t = await startTestBroker();
  });
  afterAll(async () => {
    await t?.broker.close();
  });

  it('encodes a record with the DP secret, matches it, and leaves no trace of its values', async () => {
    const schema = loadDemoSchema();
    const secret = 'dp linkage secret for the test';
    const person = ['p0', 'ada', SENTINEL_SURNAME, SENTINEL_DOB, '2000'];
    const others = Array.from({ length: 200 }, (_, i) => [
      `p${i + 1}`,
      'grace',
      `hopper${i}`,
      `1950-01-0${(i % 9) + 1}`,
      '3000',
    ]);
    // The DP encodes its rows locally with the shared secret...
    const dpClks = await t.broker.engine.encode(schema, secret, [person, ...others]);
    const rows = [person, ...others].map((r, i) =>
      JSON.stringify({ ref: r[0], clk: b64(dpClks.subarray(i * 128, (i + 1) * 128)), claims: { over_18: true } }),
    );
    await api(t.url, 'PUT', '/v1/datasets/enc', {
      token: t.tokens.dp,
      body: { schema, claims: ['over_18'], allow_broker_encoding: true },
    });
    await api(t.url, 'POST', '/v1/datasets/enc/versions', {
      token: t.tokens.dp,
      raw: rows.join('\n'),
      contentType: 'application/x-ndjson',
    });

    const record = { given_name: 'ada', surname: SENTINEL_SURNAME, dob: SENTINEL_DOB, postcode: '2000' };
    // No secret registered yet → 409.
    const early = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'enc', record, claims: ['over_18'], purpose: 'age_verification' },
    });
    expectProblem(early, 409, 'DATASET_SECRET_MISSING');

    expect((await api(t.url, 'PUT', '/v1/datasets/enc/secret', { token: t.tokens.dp, body: { secret } })).status).toBe(
      204,
    );
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'enc', record, claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ decision: 'match', score: 1, claims: { over_18: true } });

    // A record that does not fit the schema: the error names no value.
    const bad = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: {
        dataset: 'enc',
        record: { ...record, postcode: `${SENTINEL_SURNAME}-not-4-digits` },
        claims: ['over_18'],
        purpose: 'age_verification',
      },
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.text).not.toContain(SENTINEL_SURNAME);
    const unknown = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: {
        dataset: 'enc',
        record: { [SENTINEL_SURNAME]: SENTINEL_DOB },
        claims: ['over_18'],
        purpose: 'age_verification',
      },
    });
    expectProblem(unknown, 422, 'RECORD_FIELDS_UNKNOWN');
    expect(unknown.text).not.toContain(SENTINEL_SURNAME);

    // A field left out is refused, not encoded as empty (it matched at 0.87 without the surname); an ignored
    // feature (rec_id) may be absent, and an empty string is a value like any other.
    const { surname: _, ...noSurname } = record;
    const missing = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'enc', record: noSurname, claims: ['over_18'], purpose: 'age_verification' },
    });
    expectProblem(missing, 422, 'RECORD_INVALID');
    expect(missing.json.detail).toBe(
      'record lacks field(s) the dataset schema encodes: surname (send an empty string for a value that is unknown)',
    );
    const empty = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'enc', record: { ...record, surname: '' }, claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(empty.status, empty.text).toBe(200);

    // Never returned.
    const ds = await api(t.url, 'GET', '/v1/datasets/enc', { token: t.tokens.dp });
    expect(ds.text).not.toContain(secret);

    // Scan everything the broker wrote: logs, every audit event, the database.
    await t.broker.audit.checkpoint();
    const size = await t.broker.audit.size();
    const events: string[] = [];
    for (let i = 0; i < size; i++) events.push((await t.broker.audit.entry(i)).event);
    expect(events.some((e) => e.includes('"encoded_by_broker":true'))).toBe(true);
    const haystacks = [...t.logs, ...events];
    for (const needle of [SENTINEL_SURNAME, SENTINEL_DOB, secret]) {
      expect(haystacks.filter((h) => h.includes(needle))).toEqual([]);
    }
    const sql = t.broker.db.sql;
    const dump = await sql`select string_agg(t::text, '') as all from (select * from dataset_secrets) t`;
    expect(String(dump[0]!.all)).not.toContain(secret);
  });

  it('is refused when the dataset does not allow it (policy)', async () => {
    await api(t.url, 'PUT', '/v1/datasets/noenc', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    await api(t.url, 'POST', '/v1/datasets/noenc/versions', {
      token: t.tokens.dp,
      raw: JSON.stringify({ ref: 'a', clk: b64(clks[0]!) }),
      contentType: 'application/x-ndjson',
    });
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'noenc', record: { given_name: 'x' }, claims: ['over_18'], purpose: 'age_verification' },
    });
    expectProblem(r, 403, 'POLICY_DENIED');
    expect(r.json.detail).toContain('broker_encoding_not_allowed');
  });
});
