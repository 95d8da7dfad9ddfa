/**
 * Malformed requests over raw sockets, and what uWebSockets.js 20.30's parser does with each (docs/security.md,
 * "What uWS 20.30 cannot answer"): it never hands them to the broker, so no handler can answer 400. Some are
 * closed at once; the rest are held until uWS's idle timeout (about 10 s) and then closed. In every case no
 * answer is sent, the connection is closed by the server, and a request that would have changed something
 * (a verification carrying a token with a NUL byte, or sent to an absolute-form target) never runs. The
 * durations are printed, not asserted. A header section over 4 KiB that arrives in more than one read is
 * closed at once (the last suite).
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
  // uWS reads at most 9 digits (server/config.ts MAX_CONTENT_LENGTH).
  'Content-Length: 1000000000': () => `POST /v1/verifications HTTP/1.1\r\n${H}Content-Length: 1000000000\r\n\r\n`,
  'an obsolete folded header': () => `GET /healthz HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`,
  'bare LF line ends': () => 'GET /healthz HTTP/1.1\nHost: broker\n\n',
  '49 header fields': () =>
    `GET /healthz HTTP/1.1\r\n${H}${Array.from({ length: 48 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
  'no Host header': () => 'GET /healthz HTTP/1.1\r\n\r\n',
  'OPTIONS *': () => `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
  CONNECT: () => 'CONNECT broker:443 HTTP/1.1\r\nHost: broker:443\r\n\r\n',
  // RFC 9112 §3.2.2 says a server must accept the absolute form; uWS 20.30 does not route it.
  'an absolute-form target (a verification)': () =>
    `POST http://broker/v1/verifications HTTP/1.1\r\n${H}Authorization: Bearer ${t.tokens.rp}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body())}\r\n\r\n${body()}`,
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

/** A GET of /healthz whose header section (request line to blank line) is `bytes` long. */
function sized(bytes: number): string {
  const bare = `GET /healthz HTTP/1.1\r\n${H}X-Pad: \r\n\r\n`;
  return `GET /healthz HTTP/1.1\r\n${H}X-Pad: ${'a'.repeat(bytes - bare.length)}\r\n\r\n`;
}

describe('header sections uWS receives in more than one read', () => {
  // uWS keeps an unfinished header section in a 4 KiB buffer between reads. A section that arrives whole in
  // one read is parsed whatever its size, so whether a larger one is answered depends on how TCP delivers it:
  // only the split case is deterministic.
  const split = (request: string) => rawExchange(t.url, [request.slice(0, 100), request.slice(100)], { gapMs: 200 });

  it('4,096 bytes and 48 header fields are answered', async () => {
    expect((await split(sized(4096))).answers.map((a) => a.status)).toEqual([200]);
    const fields = Array.from({ length: 47 }, (_, i) => `X-H${i}: v\r\n`).join('');
    expect((await split(`GET /healthz HTTP/1.1\r\n${H}${fields}\r\n`)).answers.map((a) => a.status)).toEqual([200]);
  });

  it('4,097 bytes: closed at once, no answer', async () => {
    const r = await split(sized(4097));
    expect(r.raw).toBe('');
    expect(r.closedByServer).toBe(true);
    expect(r.ms).toBeLessThan(2000);
  });
});
