/**
 * WebSocket /v1/ws over a real socket: both ways to authenticate, many
 * verifications in flight answered by id, problem documents for errors,
 * and linkage job progress and results through `subscribe`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, perturb, randomClk, startTestBroker, type TestBroker } from '../helpers.js';
import { Client } from './ws-client.js';

let t: TestBroker;
const N = 1000;
const clks = Array.from({ length: N }, (_, i) => randomClk(1024, 50_000 + i));

beforeAll(async () => {
  t = await startTestBroker();
  await api(t.url, 'PUT', '/v1/datasets/w', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  const jsonl = clks.map((c, i) => JSON.stringify({ ref: `w${i}`, clk: b64(c), claims: { over_18: true } })).join('\n');
  const up = await api(t.url, 'POST', '/v1/datasets/w/versions', {
    token: t.tokens.dp,
    raw: jsonl,
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
});

afterAll(async () => {
  await t?.broker.close();
});

const verifyMsg = (id: string | number, clk: Uint8Array) => ({
  type: 'verify',
  id,
  dataset: 'w',
  clk: b64(clk),
  claims: ['over_18'],
  purpose: 'age_verification',
});

describe('WebSocket', () => {
  it('authenticates with the Authorization header and answers many verifications in flight by id', async () => {
    const c = await Client.open(t.url, { authorization: `Bearer ${t.tokens.rp}` });
    const ids = Array.from({ length: 64 }, (_, i) => `q${i}`);
    ids.forEach((id, i) => {
      c.send(verifyMsg(id, perturb(clks[i * 3]!, 8)));
    });
    const answers = await Promise.all(ids.map((id) => c.next((m) => m.id === id)));
    for (const [i, a] of answers.entries()) {
      expect(a).toMatchObject({
        type: 'result',
        id: ids[i],
        decision: 'match',
        claims: { over_18: true },
        dataset_version: 1,
      });
      expect(a.verification_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(a.receipt.leaf_hash).toEqual(expect.any(String));
    }
    c.ws.close();
  });

  it('authenticates with a first auth message (browsers)', async () => {
    const c = await Client.open(t.url);
    c.send({ type: 'auth', token: t.tokens.rp });
    expect(await c.next((m) => m.type === 'authenticated')).toMatchObject({ sub: 'acme-bank', roles: ['rp'] });
    c.send(verifyMsg(7, clks[5]!));
    expect(await c.next((m) => m.id === 7)).toMatchObject({ type: 'result', decision: 'match', score: 1 });
    c.ws.close();
  });

  it('holds what is sent right after auth until the token is checked, then answers it in order', async () => {
    // A token never seen before: checking it takes a turn of the event loop, during which the verify and the
    // ping arrive (one sent with a token the broker has cached would not show the difference).
    const token = await t.broker.localIdentity!.mint({ sub: 'eager-rp', roles: ['rp'] });
    const c = await Client.open(t.url);
    for (const m of [{ type: 'auth', token }, verifyMsg('early', clks[9]!), { type: 'ping', id: 'p' }]) c.send(m);
    expect(await c.next((m) => m.id === 'early')).toMatchObject({ type: 'result', decision: 'match', score: 1 });
    expect(await c.next((m) => m.id === 'p')).toMatchObject({ type: 'pong' });
    const types = c.messages.map((m) => m.type);
    expect(types.indexOf('authenticated')).toBeLessThan(types.indexOf('pong'));
    expect(c.closed).toBeNull();
    c.ws.close();
  });

  it('closes with 4401 for a binary frame or text that is not JSON before auth', async () => {
    const a = await Client.open(t.url);
    a.ws.send(Buffer.from('{"type":"auth"}'), { binary: true });
    expect((await a.whenClosed()).code).toBe(4401);
    const b = await Client.open(t.url);
    b.ws.send('{not json');
    expect((await b.whenClosed()).code).toBe(4401);
    expect(b.messages).toEqual([]);
  });

  it('refuses the upgrade with a 401 problem for a bad header token', async () => {
    const err = await Client.open(t.url, { authorization: 'Bearer not.a.token' }).catch((e) => e);
    expect(err.status).toBe(401);
    expect(JSON.parse(err.body).code).toMatch(/^AUTH_/);
  });

  it('closes with 4401 when the first message is not auth, or the token is bad', async () => {
    const a = await Client.open(t.url);
    a.send(verifyMsg(1, clks[0]!));
    expect((await a.whenClosed()).code).toBe(4401);
    const b = await Client.open(t.url);
    b.send({ type: 'auth', token: 'bad' });
    expect((await b.next((m) => m.type === 'error')).problem.code).toMatch(/^AUTH_/);
    expect((await b.whenClosed()).code).toBe(4401);
  });

  it('answers errors as problem documents with the message id', async () => {
    const c = await Client.open(t.url, { authorization: `Bearer ${t.tokens.rp}` });
    c.send({ ...verifyMsg('bad-len', randomClk(512, 1)) });
    expect((await c.next((m) => m.id === 'bad-len')).problem).toMatchObject({
      status: 422,
      code: 'CLK_LENGTH_MISMATCH',
    });
    c.send({ ...verifyMsg('no-ds', clks[0]!), dataset: 'missing' });
    expect((await c.next((m) => m.id === 'no-ds')).problem).toMatchObject({ status: 404, code: 'DATASET_NOT_FOUND' });
    c.send({ ...verifyMsg('deny', clks[0]!), purpose: 'marketing' });
    expect((await c.next((m) => m.id === 'deny')).problem).toMatchObject({ status: 403, code: 'POLICY_DENIED' });
    c.send({ type: 'verify', id: 'v', dataset: 'w' });
    expect((await c.next((m) => m.id === 'v')).problem.code).toBe('VALIDATION_FAILED');
    c.ws.send('{not json');
    expect((await c.next((m) => m.type === 'error' && m.problem.code === 'BODY_INVALID_JSON')).problem.status).toBe(
      400,
    );
    c.send({ type: 'subscribe', id: 's' });
    expect((await c.next((m) => m.id === 's')).problem).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: '$.job: required',
    });
    c.send({ type: 'cancel', id: 'c', job: 7 });
    expect((await c.next((m) => m.id === 'c')).problem.detail).toBe('$.job: expected string');
    c.send({ type: 'dance', id: 'x' });
    expect((await c.next((m) => m.id === 'x')).problem.code).toBe('MESSAGE_TYPE_UNKNOWN');
    c.ws.close();
  });

  it('a DP token cannot verify over the socket (403)', async () => {
    const c = await Client.open(t.url, { authorization: `Bearer ${t.tokens.dp}` });
    c.send(verifyMsg('dp', clks[0]!));
    expect((await c.next((m) => m.id === 'dp')).problem).toMatchObject({ status: 403, code: 'FORBIDDEN_ROLE' });
    c.ws.close();
  });

  it('streams linkage job progress and the result to a subscriber; the greedy solution is 1:1', async () => {
    const queries = Array.from({ length: 200 }, (_, i) => b64(perturb(clks[i]!, 6)));
    const job = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: { dataset: 'w', clks: queries, threshold: 0.9, solution: 'greedy', purpose: 'kyc' },
    });
    expect(job.status, job.text).toBe(202);
    const c = await Client.open(t.url, { authorization: `Bearer ${t.tokens.rp}` });
    c.send({ type: 'subscribe', job: job.json.id });
    const result = await c.next((m) => m.type === 'result' && m.job === job.json.id);
    expect(result.status).toBe('done');
    expect(result.pair_count).toBe(200);
    // Greedy 1:1: 200 distinct candidates, numbered in order; never the provider's refs (w0, w1, …).
    expect(result.pairs.map((p: any) => p.candidate).sort((a: number, b: number) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    expect(result.pairs.every((p: any) => !('ref' in p) && !('index' in p))).toBe(true);
    expect(JSON.stringify(result)).not.toMatch(/"w\d+"/);
    expect(c.messages.some((m) => m.type === 'progress' && m.job === job.json.id)).toBe(true);
    const fetched = await api(t.url, 'GET', `/v1/linkage-jobs/${job.json.id}/results`, { token: t.tokens.rp });
    expect(fetched.json.pairs).toEqual(result.pairs);
    // Another RP cannot subscribe to it.
    const other = await Client.open(t.url, { authorization: `Bearer ${t.tokens.rp2}` });
    other.send({ type: 'subscribe', job: job.json.id, id: 's' });
    expect((await other.next((m) => m.id === 's')).problem.code).toBe('JOB_NOT_FOUND');
    c.ws.close();
    other.ws.close();
  });

  it('reads a linkage job body larger than the stream high-water mark (no stall)', async () => {
    const queries = Array.from({ length: 30_000 }, (_, i) => b64(perturb(clks[i % N]!, 3, i)));
    const job = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: { dataset: 'w', clks: queries, threshold: 0.95, top_k: 1, purpose: 'kyc' },
    });
    expect(job.status, job.text.slice(0, 200)).toBe(202);
    let status = job.json;
    for (let i = 0; i < 100 && status.status !== 'done'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await api(t.url, 'GET', `/v1/linkage-jobs/${job.json.id}`, { token: t.tokens.rp })).json;
    }
    expect(status).toMatchObject({ status: 'done', total: 30_000, done: 30_000, pair_count: 30_000 });
  });

  it('refuses verifications beyond the in-flight limit with 429 TOO_MANY_IN_FLIGHT', async () => {
    const limited = await startTestBroker({ WS_MAX_IN_FLIGHT: '2' });
    try {
      await api(limited.url, 'PUT', '/v1/datasets/w', {
        token: limited.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      await api(limited.url, 'POST', '/v1/datasets/w/versions', {
        token: limited.tokens.dp,
        raw: clks.map((c, i) => JSON.stringify({ ref: `w${i}`, clk: b64(c) })).join('\n'),
        contentType: 'application/x-ndjson',
      });
      const c = await Client.open(limited.url, { authorization: `Bearer ${limited.tokens.rp}` });
      for (let i = 0; i < 20; i++) c.send(verifyMsg(i, clks[i]!));
      const all = await Promise.all(Array.from({ length: 20 }, (_, i) => c.next((m) => m.id === i)));
      const refused = all.filter((m) => m.type === 'error');
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((m) => m.problem.code === 'TOO_MANY_IN_FLIGHT' && m.problem.status === 429)).toBe(true);
      expect(all.filter((m) => m.type === 'result').length).toBeGreaterThanOrEqual(2);
      c.ws.close();
    } finally {
      await limited.broker.close();
    }
  });

  it('disconnects a reader that lets answers pile up past WS_MAX_BACKPRESSURE, and keeps serving others', async () => {
    const small = await startTestBroker({ WS_MAX_BACKPRESSURE: '4096' });
    try {
      await api(small.url, 'PUT', '/v1/datasets/w', {
        token: small.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      await api(small.url, 'POST', '/v1/datasets/w/versions', {
        token: small.tokens.dp,
        raw: clks
          .slice(0, 100)
          .map((c, i) => JSON.stringify({ ref: `w${i}`, clk: b64(c) }))
          .join('\n'),
        contentType: 'application/x-ndjson',
      });
      const slow = await Client.open(small.url, { authorization: `Bearer ${small.tokens.rp}` });
      // Stop reading: the kernel buffers fill, then uWS buffers, then the limit trips.
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      const padding = 'x'.repeat(60);
      for (let i = 0; i < 30_000; i++) slow.send({ ...verifyMsg(`${i}-${padding}`, clks[i % 100]!) });
      // Keep not reading until the broker has stopped working through the
      // burst (its audit log stops growing), however slow this machine is.
      let last = -1;
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const size = await small.broker.audit.size();
        if (size === last) break;
        last = size;
      }
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const closed = await Promise.race([slow.whenClosed(), new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      expect(closed).not.toBeNull();
      // Fewer answers than questions reached the slow reader.
      expect(slow.messages.filter((m) => m.type === 'result').length).toBeLessThan(30_000);
      // Everyone else is unaffected.
      const other = await Client.open(small.url, { authorization: `Bearer ${small.tokens.rp}` });
      other.send(verifyMsg('ok', clks[1]!));
      expect((await other.next((m) => m.id === 'ok')).type).toBe('result');
      other.ws.close();
    } finally {
      await small.broker.close();
    }
  });
});
