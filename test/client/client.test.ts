/**
 * The client library (client/) in Node against a real broker started
 * in-process: local encoding identical to clkhash, verification over HTTP
 * and over one WebSocket (bounded in flight, a bounded queue, reconnecting
 * after the connection drops), problems as typed errors, linkage jobs
 * submitted and followed, and receipts verified offline.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pavilion, PavilionApiError, verifyReceiptOffline } from '../../client/index.js';
import { fromRoot } from '../../common/paths.js';
import { loadDemoSchema, type PersonRow, syntheticPeople, withTypo } from '../../demo/people.js';
import { CsvRecords } from '../../engine/clk/csv.js';
import { startTestBroker, type TestBroker } from '../server/helpers.js';

let t: TestBroker;
let pv: Pavilion;
const schema = loadDemoSchema();
const SECRET = 'client-test-linkage-secret';
const people = syntheticPeople(400, 11);

beforeAll(async () => {
  t = await startTestBroker();
  const dp = new Pavilion({ url: t.url, token: t.tokens.dp });
  const encoder = dp.encoder(schema, SECRET);
  const put = await fetch(`${t.url}/v1/datasets/people`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${t.tokens.dp}`, 'content-type': 'application/json' },
    body: JSON.stringify({ schema, claims: ['over_18', 'over_21'] }),
  });
  expect(put.status).toBe(201);
  const rows = people.map((p, i) =>
    JSON.stringify({
      ref: p[0],
      clk: Buffer.from(encoder.encode(p)).toString('base64'),
      claims: { over_18: true, over_21: i % 2 === 0 },
    }),
  );
  const up = await fetch(`${t.url}/v1/datasets/people/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.tokens.dp}`, 'content-type': 'application/x-ndjson' },
    body: `${rows.join('\n')}\n`,
  });
  expect(up.status, await up.text()).toBe(201);
  pv = new Pavilion({ url: t.url, token: () => t.tokens.rp, socket: { maxInFlight: 8, reconnectDelayMs: 20 } });
});

afterAll(async () => {
  pv?.close();
  await t?.broker.close();
});

const asRecord = (p: PersonRow) => ({ given_name: p[1], surname: p[2], dob: p[3], postcode: p[4] });

describe('encoding in the caller', () => {
  it('is clkhash bit for bit (the fixtures clkhash 0.18.3 wrote)', () => {
    const records = new CsvRecords(readFileSync(fromRoot('test', 'fixtures', 'cli', 'people-a.csv'), 'utf8'), 0x2c);
    const rows: string[][] = [];
    while (records.next()) rows.push([...records.fields]);
    rows.shift(); // the header
    const expected = JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'cli', 'clks-a.json'), 'utf8')).clks;
    const secret = readFileSync(fromRoot('test', 'fixtures', 'cli', 'secret.txt'), 'utf8').replace(/\n$/, '');
    const enc = pv.encoder(schema, secret);
    expect(rows.map((r) => Buffer.from(enc.encode(r)).toString('base64'))).toEqual(expected);
    expect(Buffer.from(enc.encodeRecord({ rec_id: rows[1]![0]!, ...asRecordOf(rows[1]!) })).toString('base64')).toBe(
      expected[1],
    );
    enc.dispose();
  });
});

const asRecordOf = (r: string[]) => ({ given_name: r[1]!, surname: r[2]!, dob: r[3]!, postcode: r[4]! });

describe('verification', () => {
  it('over HTTP: a re-typed person matches, and the receipt verifies offline', async () => {
    const enc = pv.encoder(schema, SECRET);
    const answer = await pv.verify({
      dataset: 'people',
      clk: enc.encodeRecord(asRecord(withTypo(people[42]!))),
      claims: ['over_18', 'over_21'],
      purpose: 'age_verification',
    });
    expect(answer).toMatchObject({ decision: 'match', claims: { over_18: true, over_21: true } });
    const check = await pv.checkReceipt(answer);
    expect(check).toMatchObject({ index: answer.receipt.index, origin: answer.receipt.origin });
    expect(check.treeSize).toBeGreaterThan(answer.receipt.index);

    // Offline: the same text against a wrong leaf, or a key the log did not sign with, fails.
    const text = await pv.receipt(answer.receipt.index);
    const [key] = await pv.logKey();
    expect(() =>
      verifyReceiptOffline(text, key!, { ...answer.receipt, leaf_hash: Buffer.alloc(32, 7).toString('base64') }),
    ).toThrow(expect.objectContaining({ code: 'ROOT_MISMATCH' }));
    const otherKey = key!.replace(/\+([0-9a-f]{8})\+/, '+00000000+');
    expect(() => verifyReceiptOffline(text, otherKey, answer.receipt)).toThrow();
    expect(() => verifyReceiptOffline(text, key!, { ...answer.receipt, index: answer.receipt.index + 1 })).toThrow(
      expect.objectContaining({ code: 'RECEIPT_MISMATCH' }),
    );
  });

  it('a denial is a PavilionApiError carrying the problem document', async () => {
    const err = await pv
      .verify({ dataset: 'people', clk: new Uint8Array(128), claims: ['over_18'], purpose: 'marketing' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PavilionApiError);
    expect(err).toMatchObject({ name: 'PavilionApiError', code: 'POLICY_DENIED', status: 403 });
    expect((err as PavilionApiError).problem.errors?.[0]?.message).toContain('valid purposes are');
  });

  it('over one WebSocket: many at once, never more than maxInFlight on the wire', async () => {
    const ws = pv.socket();
    const enc = pv.encoder(schema, SECRET);
    let peak = 0;
    const probe = setInterval(() => {
      peak = Math.max(peak, ws.raw.inFlightCount);
    }, 1);
    const answers = await Promise.all(
      people
        .slice(0, 120)
        .map((p) =>
          ws.verify({ dataset: 'people', clk: enc.encode(p), claims: ['over_18'], purpose: 'age_verification' }),
        ),
    );
    clearInterval(probe);
    expect(answers.every((a) => a.decision === 'match' && a.claims.over_18 === true)).toBe(true);
    expect(new Set(answers.map((a) => a.receipt.index)).size).toBe(120);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(8);
    await expect(
      ws.verify({ dataset: 'people', clk: enc.encode(people[0]!), purpose: 'marketing' }),
    ).rejects.toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('a caller past the queue bound is refused with CLIENT_QUEUE_FULL', async () => {
    const small = new Pavilion({ url: t.url, token: t.tokens.rp, socket: { maxInFlight: 1, maxQueued: 3 } });
    try {
      const clk = small.encoder(schema, SECRET).encode(people[1]!);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () =>
          small.socket().verify({ dataset: 'people', clk, purpose: 'age_verification' }),
        ),
      );
      const refused = results.filter((r) => r.status === 'rejected');
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'CLIENT_QUEUE_FULL' });
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(3);
    } finally {
      small.close();
    }
  });

  it('reconnects when the connection drops and still answers every call', async () => {
    const ws = pv.socket();
    const enc = pv.encoder(schema, SECRET);
    await ws.verify({ dataset: 'people', clk: enc.encode(people[3]!), purpose: 'age_verification' });
    const before = ws.raw.connections;
    const pending = people
      .slice(50, 90)
      .map((p) =>
        ws.verify({ dataset: 'people', clk: enc.encode(p), claims: ['over_18'], purpose: 'age_verification' }),
      );
    // Drop the TCP connection under the socket (no close handshake), as a network failure does.
    (ws.raw as unknown as { ws: { terminate(): void } }).ws.terminate();
    const answers = await Promise.all(pending);
    expect(answers.every((a) => a.decision === 'match')).toBe(true);
    expect(ws.raw.connections).toBe(before + 1);
  });

  it('a token the broker refuses fails the call with AUTH_FAILED, without reconnecting forever', async () => {
    const bad = new Pavilion({ url: t.url, token: 'not-a-token' });
    try {
      await expect(
        bad.socket().verify({ dataset: 'people', clk: new Uint8Array(128), purpose: 'age_verification' }),
      ).rejects.toMatchObject({ code: 'AUTH_FAILED', cause: { code: 'AUTH_MALFORMED' } });
      expect(bad.socket().raw.connections).toBe(1);
    } finally {
      bad.close();
    }
  });

  it('a token refused when reconnecting fails the calls with AUTH_FAILED at once, not after every retry', async () => {
    let calls = 0;
    // The first connection gets the good token; later ones a token the broker refuses (revoked, say).
    const pv2 = new Pavilion({ url: t.url, token: () => (calls++ === 0 ? t.tokens.rp : 'not-a-token') });
    try {
      const ws = pv2.socket();
      const enc = pv2.encoder(schema, SECRET);
      await ws.verify({ dataset: 'people', clk: enc.encode(people[3]!), purpose: 'age_verification' });
      (ws.raw as unknown as { ws: { terminate(): void } }).ws.terminate();
      const pending = ws.verify({ dataset: 'people', clk: enc.encode(people[4]!), purpose: 'age_verification' });
      await expect(pending).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      expect(ws.raw.connections).toBe(2);
      expect(calls).toBe(2);
    } finally {
      pv2.close();
    }
  });
});

describe('linkage jobs', () => {
  it('are submitted, followed over the WebSocket to the end, and give their pairs', async () => {
    const enc = pv.encoder(schema, SECRET);
    const queries = [...people.slice(100, 130).map((p) => enc.encode(withTypo(p))), enc.encode(people[0]!)];
    const job = await pv.submitLinkage({ dataset: 'people', clks: queries, threshold: 0.85, purpose: 'kyc' });
    expect(job).toMatchObject({ status: expect.stringMatching(/queued|running|done/), total: 31 });
    const progress: number[] = [];
    const results = await pv.followLinkage(job.id, (done) => progress.push(done));
    expect(progress.length).toBeGreaterThan(0);
    expect(results.pair_count).toBeGreaterThanOrEqual(25);
    // The person at query 30 is the dataset's first record: a candidate, never its ref or row.
    const first = results.pairs.find((p) => p.query === 30)!;
    expect(first).toMatchObject({ score: 1, claims: {} });
    expect(Object.keys(first).sort()).toEqual(['candidate', 'claims', 'query', 'score']);
    expect(JSON.stringify(results)).not.toContain(people[0]![0]);
    const viaHttp = await pv.linkageResults(job.id);
    expect(viaHttp.pairs).toEqual(results.pairs);
    // A job already finished is followed to its end at once.
    expect((await pv.followLinkage(job.id)).pair_count).toBe(results.pair_count);
    await expect(pv.followLinkage('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      code: 'JOB_NOT_FOUND',
    });
  });
});

describe('reading', () => {
  it('the dataset and the policy', async () => {
    expect(await pv.dataset('people')).toMatchObject({ id: 'people', claims: ['over_18', 'over_21'], rows: 400 });
    const policy = await pv.policy();
    expect(policy.purposes.age_verification!.claims).toEqual(['over_18', 'over_21']);
    await expect(pv.dataset('nope')).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND', status: 404 });
  });
});
