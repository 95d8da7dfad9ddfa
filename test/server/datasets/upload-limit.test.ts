/**
 * The upload limits answer one code whichever way the file arrives: an upload over UPLOAD_LIMIT_BYTES
 * is 413 UPLOAD_TOO_LARGE and its version is recorded failed with that code, as a pull of an object over
 * PULL_LIMIT_BYTES fails (docs/errors.md). PAYLOAD_TOO_LARGE stays the code of the other routes' body limit
 * (BODY_LIMIT_BYTES). The router's streamed-body check (server/http/router.ts BodyStream) is also driven
 * directly, since over HTTP a body is always refused on its announced length first. uWS reads a
 * Content-Length of at most 9 digits (server/config.ts MAX_CONTENT_LENGTH): the largest is answered, one more
 * byte is dropped unanswered.
 */

import type { HttpResponse } from 'uWebSockets.js';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../../common/errors.js';
import { loadDemoSchema } from '../../../demo/people.js';
import { MAX_CONTENT_LENGTH } from '../../../server/config.js';
import { BodyStream } from '../../../server/http/router.js';
import { api, b64, expectProblem, randomClk, runPull, startTestBroker, type TestBroker } from '../helpers.js';
import { rawExchange } from '../http/raw-http.js';

const UPLOAD_LIMIT = 100_000;
const BODY_LIMIT = 4096;
const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 71_000 + i));
/** ~1,000 rows of ~200 bytes: about twice the upload limit. */
const BIG = Array.from({ length: 1000 }, (_, i) =>
  JSON.stringify({ ref: `r${i}`, clk: b64(clks[i % clks.length]!), claims: { over_18: true } }),
).join('\n');

describe('the upload limit over HTTP', () => {
  let t: TestBroker;
  beforeAll(async () => {
    t = await startTestBroker({
      UPLOAD_LIMIT_BYTES: String(UPLOAD_LIMIT),
      PULL_LIMIT_BYTES: String(UPLOAD_LIMIT),
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
    });
    const r = await api(t.url, 'PUT', '/v1/datasets/dmv', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    expect(r.status, r.text).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
  });

  it('an upload over UPLOAD_LIMIT_BYTES is 413 UPLOAD_TOO_LARGE, and so is its failed version', async () => {
    expect(Buffer.byteLength(BIG)).toBeGreaterThan(UPLOAD_LIMIT);
    const r = await api(t.url, 'POST', '/v1/datasets/dmv/versions', {
      token: t.tokens.dp,
      raw: BIG,
      contentType: 'application/x-ndjson',
    });
    expectProblem(r, 413, 'UPLOAD_TOO_LARGE');
    expect(r.json.detail).toContain(String(UPLOAD_LIMIT));
    const listed = await api(t.url, 'GET', '/v1/datasets/dmv/versions', { token: t.tokens.dp });
    expect(listed.status, listed.text).toBe(200);
    for (const v of listed.json.versions) expect(v).toMatchObject({ status: 'failed', error_code: 'UPLOAD_TOO_LARGE' });
    expect(listed.json.active_version).toBeNull();
  });

  it('the largest Content-Length uWS reads (9 digits) is answered; 10 digits are dropped unanswered', async () => {
    const upload = (length: string) =>
      `POST /v1/datasets/dmv/versions HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${t.tokens.dp}\r\n` +
      `Content-Type: application/x-ndjson\r\nContent-Length: ${length}\r\n\r\n`;
    const largest = await rawExchange(t.url, [upload(String(MAX_CONTENT_LENGTH))]);
    expect(largest.answers.map((a) => [a.status, JSON.parse(a.body).code])).toEqual([[413, 'UPLOAD_TOO_LARGE']]);
    expect(JSON.parse(largest.answers[0]!.body).detail).toContain('as a pull');
    // uWebSockets.js 20.30: why UPLOAD_LIMIT_BYTES (and every body limit) is at most MAX_CONTENT_LENGTH.
    const over = await rawExchange(t.url, [upload(String(MAX_CONTENT_LENGTH + 1))]);
    expect(over.raw).toBe('');
    expect(over.closedByServer).toBe(true);
  });

  it('a pull of the same bytes fails with the same code', async () => {
    const dir = join(t.stateDir, 'objects', 'datasets', 'dmv');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'big.jsonl'), BIG);
    expect((await runPull(t, 'dmv', { object: 'big.jsonl' })).json).toMatchObject({
      status: 'failed',
      error: { code: 'UPLOAD_TOO_LARGE' },
    });
    // Refused on its announced size, the object is closed unread: the broker (this process) keeps no file open.
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 20; i++) await runPull(t, 'dmv', { object: 'big.jsonl' });
    expect(openFiles()).toBeLessThan(before + 5);
  });

  it('a JSON body over BODY_LIMIT_BYTES stays 413 PAYLOAD_TOO_LARGE', async () => {
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/dmv', {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'], pad: 'x'.repeat(BODY_LIMIT) },
      }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });
});

describe('the streamed-body limit (BodyStream)', () => {
  const res = { pause() {}, resume() {} } as unknown as HttpResponse;

  async function overflow(upload: boolean): Promise<PavilionError> {
    const stream = new BodyStream(res, 1000, upload);
    stream.push(new Uint8Array(600).buffer, false);
    stream.push(new Uint8Array(600).buffer, true);
    try {
      for await (const _ of stream) {
        /* drain */
      }
    } catch (err) {
      expect(err).toBeInstanceOf(PavilionError);
      return err as PavilionError;
    }
    throw new Error('no failure over the limit');
  }

  it('an upload that grows past its limit fails with UPLOAD_TOO_LARGE', async () => {
    expect((await overflow(true)).code).toBe('UPLOAD_TOO_LARGE');
  });
  it('any other body, PAYLOAD_TOO_LARGE', async () => {
    expect((await overflow(false)).code).toBe('PAYLOAD_TOO_LARGE');
  });
});
