/**
 * Malformed requests over raw sockets, and what uWebSockets.js 20.30's parser does with each (docs/security.md,
 * "What uWS 20.30 cannot answer"): it never hands them to the broker, so no handler can answer 400. Some are
 * closed at once; the rest are held until uWS's idle timeout (about 10 s) and then closed. In every case no
 * answer is sent, the connection is closed by the server, and a request that would have changed something
 * (a verification carrying a token with a NUL byte) never runs. The durations are printed, not asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../helpers.js';
import { rawExchange } from './raw-http.js';

let t: TestBroker;
const clk = randomClk(1024, 90_002);

beforeAll(async () => {
  t = await startTestBroker();
  await api(t.url, 'PUT', '/v1/datasets/m', { token: t.tokens.dp, body: { schema: loadDemoSchema(), claims: [] } });
  await api(t.url, 'POST', '/v1/datasets/m/versions', {
    token: t.tokens.dp,
    raw: JSON.stringify({ ref: 'm0', clk: b64(clk), claims: {} }),
    contentType: 'application/x-ndjson',
  });
});

afterAll(async () => {
  await t?.broker.close();
});

const H = 'Host: broker\r\n';
const body = () => JSON.stringify({ dataset: 'm', clk: b64(clk), claims: [], purpose: 'age_verification' });
const CASES: Record<string, () => string> = {
  'HTTP/1.0 without Host': () => 'GET /healthz HTTP/1.0\r\n\r\n',
  'HTTP/1.0 with Host': () => `GET /healthz HTTP/1.0\r\n${H}\r\n`,
  'HTTP/2.0 in a request line': () => `GET /healthz HTTP/2.0\r\n${H}\r\n`,
  'a request line that is not one': () => 'GARBAGE\r\n\r\n',
  'a lowercase method': () => `get /healthz HTTP/1.1\r\n${H}\r\n`,
  'an unknown method': () => `BREW /healthz HTTP/1.1\r\n${H}\r\n`,
  '1,000 headers': () =>
    `GET /healthz HTTP/1.1\r\n${H}${Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
  'Content-Length: abc': () => `POST /v1/verifications HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`,
  'Content-Length: -1': () => `POST /v1/verifications HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
  'an obsolete folded header': () => `GET /healthz HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`,
  'bare LF line ends': () => 'GET /healthz HTTP/1.1\nHost: broker\n\n',
  'a bearer token holding a NUL byte (a verification)': () =>
    `POST /v1/verifications HTTP/1.1\r\n${H}` +
    `Authorization: Bearer ${t.tokens.rp.slice(0, 20)}\0${t.tokens.rp.slice(20)}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body())}\r\n\r\n${body()}`,
};

describe('malformed requests (uWS 20.30 parser)', () => {
  it('get no answer, are closed by the server, and never run', async () => {
    const before = await t.broker.audit.size();
    const results = await Promise.all(
      Object.entries(CASES).map(
        async ([name, request]) => [name, await rawExchange(t.url, [request()], { quietMs: 20_000 })] as const,
      ),
    );
    console.log(results.map(([name, r]) => `${name}: closed after ${(r.ms / 1000).toFixed(1)} s`).join('; '));
    for (const [name, r] of results) {
      expect(r.raw, name).toBe('');
      expect(r.closedByServer, name).toBe(true);
    }
    expect(await t.broker.audit.size()).toBe(before);
  });
});
