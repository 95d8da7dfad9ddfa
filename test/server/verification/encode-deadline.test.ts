/**
 * Broker-side encoding is bounded (server/verification/service.ts, docs/security.md "Broker-side encoding"):
 * a dataset whose format pattern backtracks exponentially on a value held an engine worker for hours, and went
 * on holding it after the client went away. Now the record's encoding stops at ENCODE_DEADLINE_MS with 422
 * ENCODE_TIMEOUT, or when the HTTP client or the WebSocket goes away, and the pool replaces the worker. Each
 * broker has one engine worker, so a worker left stuck would leave every later verification unanswered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker, until } from '../helpers.js';
import { Client } from '../routes/ws-client.js';

const SECRET = 'the provider secret';
/** 40 a's and a '!': hours of backtracking for the pattern below (each a doubles it). */
const STUCK_POSTCODE = `${'a'.repeat(40)}!`;
const record = { given_name: 'ada', surname: 'lovelace', dob: '1815-12-10', postcode: 'aaaa' };
const stuck = { ...record, postcode: STUCK_POSTCODE };
const otherClks = Array.from({ length: 20 }, (_, i) => randomClk(1024, 470_000 + i));

/** The demo schema with a postcode pattern that backtracks exponentially on a run of a's not followed by one. */
function backtrackingSchema(): Record<string, unknown> {
  const schema = loadDemoSchema() as { features: { identifier: string; format?: Record<string, unknown> }[] };
  const postcode = schema.features.find((f) => f.identifier === 'postcode')!;
  postcode.format = { type: 'string', encoding: 'utf-8', pattern: '(a+)+$' };
  return schema;
}

/**
 * Dataset `slow` (the backtracking schema, broker-side encoding allowed, the record above in it) and dataset
 * `other` (CLKs only), as a data provider defines them.
 */
async function defineDatasets(t: TestBroker): Promise<void> {
  const schema = backtrackingSchema();
  const row = ['p0', record.given_name, record.surname, record.dob, record.postcode];
  const clk = await t.broker.engine.encode(schema, SECRET, [row]);
  const defined = await api(t.url, 'PUT', '/v1/datasets/slow', {
    token: t.tokens.dp,
    body: { schema, claims: ['over_18'], allow_broker_encoding: true },
  });
  expect(defined.status, defined.text).toBe(201);
  const secret = await api(t.url, 'PUT', '/v1/datasets/slow/secret', { token: t.tokens.dp, body: { secret: SECRET } });
  expect(secret.status, secret.text).toBe(204);
  const up = await api(t.url, 'POST', '/v1/datasets/slow/versions', {
    token: t.tokens.dp,
    raw: JSON.stringify({ ref: 'p0', clk: b64(clk), claims: { over_18: true } }),
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
  await api(t.url, 'PUT', '/v1/datasets/other', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  const other = await api(t.url, 'POST', '/v1/datasets/other/versions', {
    token: t.tokens.dp,
    raw: otherClks.map((c, i) => JSON.stringify({ ref: `o${i}`, clk: b64(c), claims: { over_18: true } })).join('\n'),
    contentType: 'application/x-ndjson',
  });
  expect(other.status, other.text).toBe(201);
}

const verifyRecord = (t: TestBroker, r: Record<string, string>) =>
  api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'slow', record: r, claims: ['over_18'], purpose: 'age_verification' },
  });

/** A verification on the other dataset, by CLK: answered only if the pool has a worker free. */
async function expectOtherAnswered(t: TestBroker): Promise<void> {
  const r = await api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'other', clk: b64(otherClks[3]!), claims: ['over_18'], purpose: 'age_verification' },
  });
  expect(r.status, r.text).toBe(200);
  expect(r.json).toMatchObject({ decision: 'match', score: 1 });
}

/** The verification events in the audit log. */
async function verificationEvents(t: TestBroker): Promise<number> {
  let n = 0;
  const size = await t.broker.audit.size();
  for (let i = 0; i < size; i++) if (JSON.parse((await t.broker.audit.entry(i)).event).type === 'verification') n++;
  return n;
}

describe('past ENCODE_DEADLINE_MS', () => {
  let t: TestBroker;
  beforeAll(async () => {
    t = await startTestBroker({ ENGINE_THREADS: '1', ENCODE_DEADLINE_MS: '300' });
    await defineDatasets(t);
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
  });

  it('an ordinary record is encoded and matched', async () => {
    const r = await verifyRecord(t, record);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ decision: 'match', score: 1, claims: { over_18: true } });
  });

  it('a record the pattern backtracks on: 422 ENCODE_TIMEOUT, not audited, and the next ones answered', async () => {
    const before = await verificationEvents(t);
    const r = await verifyRecord(t, stuck);
    expectProblem(r, 422, 'ENCODE_TIMEOUT');
    expect(r.json.detail).toContain('ENCODE_DEADLINE_MS');
    expect(r.text).not.toContain('aaaaaaaa');
    expect(t.logs.filter((l) => l.includes('aaaaaaaa'))).toEqual([]);
    // The operator's log names the dataset whose schema did it, never the value.
    expect(t.logs.some((l) => l.includes('ran past ENCODE_DEADLINE_MS') && l.includes(`"dataset":"slow"`))).toBe(true);
    // The worker was replaced: another dataset's verification, and this one's with an ordinary record.
    await expectOtherAnswered(t);
    expect((await verifyRecord(t, record)).status).toBe(200);
    await t.broker.audit.checkpoint();
    expect(await verificationEvents(t)).toBe(before + 2);
  }, 60_000);

  it('over the WebSocket too', async () => {
    const ws = await Client.open(t.url, { authorization: `Bearer ${t.tokens.rp}` });
    try {
      ws.send({ type: 'verify', id: 1, dataset: 'slow', record: stuck, claims: ['over_18'], purpose: 'kyc' });
      const answer = await ws.next((m) => m.id === 1, 30_000);
      expect(answer).toMatchObject({ type: 'error', problem: { status: 422, code: 'ENCODE_TIMEOUT' } });
    } finally {
      ws.ws.close();
    }
    await expectOtherAnswered(t);
  }, 60_000);
});

describe('a client that goes away', () => {
  let t: TestBroker;
  beforeAll(async () => {
    // A deadline of an hour: only the client's going away can free the worker.
    t = await startTestBroker({ ENGINE_THREADS: '1', ENCODE_DEADLINE_MS: '3600000' });
    await defineDatasets(t);
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
  });

  /** Waits until the record's encoding is in the pool (with its one worker free before, it runs at once). */
  const encoding = () =>
    until('the encoding in the pool', async () =>
      /pavilion_pool_queue_depth 1\b/.test((await api(t.url, 'GET', '/metrics')).text) ? true : undefined,
    );

  it('over HTTP stops the encoding of its record: the worker is freed', async () => {
    const client = new AbortController();
    const sent = fetch(`${t.url}/v1/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.rp}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'slow', record: stuck, claims: ['over_18'], purpose: 'kyc' }),
      signal: client.signal,
    }).catch(() => 'aborted');
    await encoding();
    client.abort();
    expect(await sent).toBe('aborted');
    await expectOtherAnswered(t);
  }, 60_000);

  it('over the WebSocket: closing the socket stops the encoding of its records', async () => {
    const ws = await Client.open(t.url, { authorization: `Bearer ${t.tokens.rp}` });
    ws.send({ type: 'verify', id: 1, dataset: 'slow', record: stuck, claims: ['over_18'], purpose: 'kyc' });
    await encoding();
    ws.ws.close();
    await ws.whenClosed();
    await expectOtherAnswered(t);
  }, 60_000);
});
