/**
 * Dataset ids and the object keys made from them (server/http/schemas.ts DATASET_ID, path parameters never
 * percent-decoded; storage/object-store.ts assertObjectKey, FolderObjectStore): ids that are dot segments,
 * or that differ from another only by encoding, are refused before anything is created, and no pull can
 * name an object outside its dataset's prefix `datasets/<id>/` or outside the local folder store. Sent over
 * raw sockets so that the path reaches the broker exactly as written (fetch would resolve `..`). The same
 * keys against S3 (moto, signatures checked) are in test/storage/object-keys.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../helpers.js';
import { rawExchange } from './raw-http.js';

let t: TestBroker;
const jsonl = (tag: string) =>
  Array.from({ length: 5 }, (_, i) =>
    JSON.stringify({ ref: `${tag}${i}`, clk: b64(randomClk(1024, 93_000 + i)), claims: {} }),
  ).join('\n');

beforeAll(async () => {
  t = await startTestBroker();
  const objects = join(t.stateDir, 'objects');
  for (const id of ['p', 'other']) mkdirSync(join(objects, 'datasets', id), { recursive: true });
  writeFileSync(join(objects, 'datasets', 'p', 'ok.jsonl'), jsonl('p'));
  writeFileSync(join(objects, 'datasets', 'other', 'x.jsonl'), jsonl('other'));
  writeFileSync(join(t.stateDir, 'outside.jsonl'), jsonl('outside'));
  for (const id of ['p', 'abc']) {
    const r = await api(t.url, 'PUT', `/v1/datasets/${id}`, {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: [] },
    });
    expect(r.status, r.text).toBe(201);
  }
});

afterAll(async () => {
  await t?.broker.close();
});

/** One request over a raw socket, the path as written. */
async function raw(method: string, path: string, body?: unknown) {
  const text = body === undefined ? '' : JSON.stringify(body);
  const r = await rawExchange(
    t.url,
    [
      `${method} ${path} HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${t.tokens.dp}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    ],
    { quietMs: 400 },
  );
  const a = r.answers[0]!;
  return { status: a.status, code: (JSON.parse(a.body) as { code?: string }).code };
}

const storedIds = async () =>
  (await t.broker.db.sql<{ id: string }[]>`select id from datasets order by id`).map((r) => r.id);

describe('dataset ids', () => {
  const ids = [
    '..',
    '.',
    '%2e%2e',
    '%2E%2E',
    '.%2e',
    '%2e.',
    '%2e',
    '%252e%252e',
    '..%2f..%2fetc',
    'a%2fb',
    '%61bc',
    'ab%63',
    '%00',
    'a%00',
  ];
  for (const id of ids)
    it(`PUT /v1/datasets/${id} → 422 VALIDATION_FAILED, nothing created`, async () => {
      const r = await raw('PUT', `/v1/datasets/${id}`, { schema: loadDemoSchema(), claims: [] });
      expect(r).toEqual({ status: 422, code: 'VALIDATION_FAILED' });
      expect(await storedIds()).toEqual(['abc', 'p']);
    });

  it('an id spelled with a percent-encoded letter is not the dataset it decodes to', async () => {
    expect(await raw('GET', '/v1/datasets/abc')).toMatchObject({ status: 200 });
    expect(await raw('GET', '/v1/datasets/%61bc')).toEqual({ status: 422, code: 'VALIDATION_FAILED' });
    expect(await raw('POST', '/v1/datasets/%61bc/pulls', { object: 'ok.jsonl' })).toEqual({
      status: 422,
      code: 'VALIDATION_FAILED',
    });
  });
});

describe('pull object names with the local folder store', () => {
  it('control: an object below the dataset prefix is pulled', async () => {
    const r = await api(t.url, 'POST', '/v1/datasets/p/pulls', { token: t.tokens.dp, body: { object: 'ok.jsonl' } });
    expect(r.status, r.text).toBe(202);
  });

  const names = [
    '../other/x.jsonl',
    '../../outside.jsonl',
    '../../../outside.jsonl',
    'sub/../../other/x.jsonl',
    '..',
    './ok.jsonl',
    'sub//ok.jsonl',
    '/etc/passwd',
    '%2e%2e/other/x.jsonl',
    '..%2fother%2fx.jsonl',
    '..\\other\\x.jsonl',
    'ok.jsonl\u0000',
    'ok.jsonl/',
    '',
    // A segment over 128 characters; a key (datasets/p/ included) over 512 bytes: OBJECT_KEY_INVALID as
    // documented, not a schema limit's VALIDATION_FAILED.
    `${'x'.repeat(401)}.jsonl`,
    `${'a'.repeat(128)}/${'b'.repeat(128)}/${'c'.repeat(128)}/${'d'.repeat(120)}.jsonl`,
  ];
  it('control: a key of 464 bytes (over 400 characters) below the prefix is accepted', async () => {
    const object = `${'a'.repeat(128)}/${'b'.repeat(128)}/${'c'.repeat(128)}/${'d'.repeat(60)}.jsonl`;
    const r = await api(t.url, 'POST', '/v1/datasets/p/pulls', { token: t.tokens.dp, body: { object } });
    expect(r.status, r.text).toBe(202);
    expect(r.json.object).toBe(`datasets/p/${object}`);
  });

  const shown = (name: string) => JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}… (${name.length})` : name);
  for (const name of names)
    it(`object ${shown(name)} → 422 OBJECT_KEY_INVALID, nothing read`, async () => {
      const r = await api(t.url, 'POST', '/v1/datasets/p/pulls', { token: t.tokens.dp, body: { object: name } });
      expect(r.status, r.text).toBe(422);
      expect(r.json.code).toBe('OBJECT_KEY_INVALID');
    });
});
