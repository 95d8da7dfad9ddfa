/**
 * A route may answer before it has read the whole body (an upload to a dataset that does not exist is
 * refused at once). uWS keeps delivering the rest of that body, and forbids touching the response once
 * answered (server/http/router.ts BodyStream.detach): the broker must neither throw from onData nor leave
 * the socket paused, so the kept-alive connection carries the next request. Found by schemathesis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../helpers.js';
import { rawExchange } from './raw-http.js';

let t: TestBroker;
const thrown: unknown[] = [];
const collect = (err: unknown) => thrown.push(err);

beforeAll(async () => {
  t = await startTestBroker();
  process.on('uncaughtException', collect);
});

afterAll(async () => {
  process.off('uncaughtException', collect);
  await t?.broker.close();
});

describe('an answer sent before the body is read', () => {
  it('drops the rest of the body untouched, and the connection serves the next request', async () => {
    const MiB = 1 << 20;
    const parts = 12; // past the 4 MiB the body stream holds before it pauses the socket
    const head =
      `POST /v1/datasets/absent/versions HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${t.tokens.dp}\r\n` +
      `Content-Type: application/x-ndjson\r\nContent-Length: ${parts * MiB}\r\n\r\n`;
    const body = Array.from({ length: parts }, () => Buffer.alloc(MiB, 0x61));
    const next = 'GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n';
    const r = await rawExchange(t.url, [head, ...body, next], { gapMs: 5, quietMs: 1000 });
    expect(thrown).toEqual([]);
    expect(r.answers.map((a) => a.status)).toEqual([404, 200]);
    expect(JSON.parse(r.answers[0]!.body)).toMatchObject({ code: 'DATASET_NOT_FOUND' });
  });
});
