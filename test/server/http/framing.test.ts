/**
 * Request framing over raw sockets (server/http/framing.ts, HttpRouter): the request-smuggling set of
 * RFC 9112 §6.3 and §11.2 — CL.CL, CL 0 followed by CL n carrying a second request, CL.TE, TE.CL,
 * obfuscated Transfer-Encoding, bad chunk framing — pipelined requests, and HEAD. The smuggled request is
 * always a valid verification: had it run, the audit log would hold one more entry (the control case
 * shows one such request alone adds exactly one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../helpers.js';
import { headThenGet, type RawExchange, rawConnection, rawExchange } from './raw-http.js';

let t: TestBroker;
let verification: string;
const clk = randomClk(1024, 90_001);

beforeAll(async () => {
  t = await startTestBroker();
  await api(t.url, 'PUT', '/v1/datasets/s', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  const up = await api(t.url, 'POST', '/v1/datasets/s/versions', {
    token: t.tokens.dp,
    raw: JSON.stringify({ ref: 's0', clk: b64(clk), claims: { over_18: true } }),
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
  verification = JSON.stringify({ dataset: 's', clk: b64(clk), claims: ['over_18'], purpose: 'age_verification' });
});

afterAll(async () => {
  await t?.broker.close();
});

/** A complete, valid verification request (would add one audit entry). */
const verify = (extraHeaders = '') =>
  `POST /v1/verifications HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${t.tokens.rp}\r\n` +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(verification)}\r\n` +
  `${extraHeaders}\r\n${verification}`;

/** The head of a POST to /v1/verifications with `headers`, then `body` as given. */
const post = (headers: string, body: string) =>
  `POST /v1/verifications HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${t.tokens.rp}\r\n` +
  `Content-Type: application/json\r\n${headers}\r\n${body}`;

/** Runs the exchange and returns it with the number of audit entries it added. */
async function audited(
  writes: string[],
  opts?: { quietMs?: number; gapMs?: number },
): Promise<RawExchange & { added: number }> {
  await t.broker.audit.size(); // settle earlier appends
  const before = await t.broker.audit.size();
  const r = await rawExchange(t.url, writes, opts);
  await new Promise((resolve) => setTimeout(resolve, 150)); // anything that did run has committed by now
  return { ...r, added: (await t.broker.audit.size()) - before };
}

const codeOf = (body: string) => (JSON.parse(body) as { code: string }).code;

describe('request smuggling over one connection', () => {
  it('control: one verification alone is answered 200 and adds one audit entry', async () => {
    const r = await audited([verify()]);
    expect(r.answers.map((a) => a.status)).toEqual([200]);
    expect(r.added).toBe(1);
  });

  it('CL.CL: two differing Content-Length headers → 400 REQUEST_FRAMING_INVALID, closed, nothing runs', async () => {
    const smuggled = verify();
    const r = await audited([
      post(`Content-Length: ${Buffer.byteLength(smuggled)}\r\nContent-Length: 5\r\n`, smuggled),
    ]);
    expect(r.answers.map((a) => a.status)).toEqual([400]);
    expect(codeOf(r.answers[0]!.body)).toBe('REQUEST_FRAMING_INVALID');
    expect(r.closedByServer).toBe(true);
    expect(r.added).toBe(0);
  });

  it('CL.CL with equal values is refused the same way (one Content-Length or none)', async () => {
    const r = await audited([post(`Content-Length: 2\r\nContent-Length: 2\r\n`, '{}')]);
    expect(r.answers.map((a) => [a.status, codeOf(a.body)])).toEqual([[400, 'REQUEST_FRAMING_INVALID']]);
    expect(r.closedByServer).toBe(true);
  });

  // A request parsed from the same read as a refused one makes uWS close the connection while the refusal is
  // still pending (server/http/framing.ts): neither is answered, nothing runs.
  it('Content-Length 0 then n, the body a second request: closed unanswered, the smuggled one never runs', async () => {
    const smuggled = verify();
    const r = await audited([
      post(`Content-Length: 0\r\nContent-Length: ${Buffer.byteLength(smuggled)}\r\n`, smuggled),
    ]);
    expect(r.answers).toEqual([]);
    expect(r.closedByServer).toBe(true);
    expect(r.added).toBe(0);
  });

  it('a refused request and a GET in one write: closed, neither answered (the GET reaches no handler)', async () => {
    const r = await rawExchange(t.url, [
      `${post('Content-Length: 2\r\nContent-Length: 2\r\n', '{}')}GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n`,
    ]);
    expect(r.answers).toEqual([]);
    expect(r.closedByServer).toBe(true);
  });

  // uWS 20.30 itself drops a request carrying both headers: the connection closes without an answer.
  for (const [name, headers] of [
    ['CL.TE', `Content-Length: 4\r\nTransfer-Encoding: chunked\r\n`],
    ['TE.CL', `Transfer-Encoding: chunked\r\nContent-Length: 4\r\n`],
  ])
    it(`${name}: closed without an answer (uWS's parser refuses it), the smuggled request never runs`, async () => {
      const r = await audited([post(headers!, `0\r\n\r\n${verify()}`)]);
      expect(r.answers).toEqual([]);
      expect(r.closedByServer).toBe(true);
      expect(r.added).toBe(0);
    });

  const te: [string, string][] = [
    ['TE alone', `Transfer-Encoding: chunked\r\n`],
    ['TE with a tab', `Transfer-Encoding:\tchunked\r\n`],
    ['TE in capitals', `TRANSFER-ENCODING: CHUNKED\r\n`],
    ['TE xchunked', `Transfer-Encoding: xchunked\r\n`],
    ['TE identity, chunked', `Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n`],
    ['TE chunked, identity', `Transfer-Encoding: chunked, identity\r\n`],
  ];
  for (const [name, headers] of te) {
    it(`${name}: 411 LENGTH_REQUIRED, connection closed`, async () => {
      const r = await audited([post(headers, '0\r\n\r\n')]);
      expect(r.answers.map((a) => [a.status, codeOf(a.body)])).toEqual([[411, 'LENGTH_REQUIRED']]);
      expect(r.closedByServer).toBe(true);
      expect(r.added).toBe(0);
    });
    it(`${name} with a request after the chunks: closed, the smuggled verification never runs`, async () => {
      const r = await audited([post(headers, `0\r\n\r\n${verify()}`)]);
      for (const a of r.answers) expect([a.status, codeOf(a.body)]).toEqual([411, 'LENGTH_REQUIRED']);
      expect(r.closedByServer).toBe(true);
      expect(r.added).toBe(0);
    });
  }

  it('a chunk without its CRLF: 411, nothing runs', async () => {
    const body = `${Buffer.byteLength(verification).toString(16)}\r\n${verification}0\r\n\r\n`;
    const r = await audited([post('Transfer-Encoding: chunked\r\n', body)]);
    expect([r.answers[0]!.status, codeOf(r.answers[0]!.body)]).toEqual([411, 'LENGTH_REQUIRED']);
    expect(r.closedByServer).toBe(true);
    expect(r.added).toBe(0);
  });

  it('"Transfer-Encoding : chunked" (space before the colon) never runs the smuggled request', async () => {
    const smuggled = verify();
    const r = await audited([post('Transfer-Encoding : chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${smuggled}`)], {
      quietMs: 1500,
    });
    for (const a of r.answers) expect(a.status).toBeGreaterThanOrEqual(400);
    expect(r.added).toBe(0);
  });
});

describe('a refusal is per connection', () => {
  const healthz = 'GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n';
  const refusals: [string, () => string, number][] = [
    ['Transfer-Encoding', () => post('Transfer-Encoding: chunked\r\n', '0\r\n\r\n'), 411],
    ['two Content-Length headers', () => post('Content-Length: 2\r\nContent-Length: 2\r\n', '{}'), 400],
  ];
  for (const [name, refused, status] of refusals)
    it(`${name} on one connection: other connections of the same address are answered as usual`, async () => {
      for (let round = 0; round < 3; round++) {
        const bad = await rawConnection(t.url);
        const others = await Promise.all([1, 2, 3].map(() => rawConnection(t.url)));
        try {
          // Every connection accepted and kept alive first: one answered request each.
          for (const c of [bad, ...others]) {
            c.write(healthz);
            expect((await c.answers(1)).map((a) => a.status)).toEqual([200]);
          }
          // Written in one synchronous block: the broker runs in this process, so its next poll finds them
          // all readable, the refused one first, before the event loop's next turn (the window the refusal
          // of a request parsed from the same read spans).
          bad.write(refused());
          for (const c of others) c.write(healthz);
          await bad.closed;
          expect((await bad.answers(2)).map((a) => a.status)).toEqual([200, status]);
          for (const c of others) {
            const answers = await c.answers(2);
            expect(
              answers.map((a) => a.status),
              answers[1]?.body,
            ).toEqual([200, 200]);
            expect(c.isClosed()).toBe(false);
          }
        } finally {
          for (const c of [bad, ...others]) c.destroy();
        }
      }
    });
});

describe('pipelining', () => {
  it('two verifications in one write: neither runs (no audit entry); the connection closes', async () => {
    const r = await audited([verify() + verify()]);
    expect(r.added).toBe(0);
    expect(r.closedByServer).toBe(true);
    for (const a of r.answers) expect(a.status).toBeGreaterThanOrEqual(400);
  });

  it('a verification then a GET in one write: the verification does not run half-answered', async () => {
    const r = await audited([`${verify()}GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n`]);
    // Either it ran and was answered, or it did not run: never ran-and-unanswered.
    const answeredOk = r.answers.some((a) => a.status === 200 && a.body.includes('"decision"'));
    expect(r.added).toBe(answeredOk ? 1 : 0);
  });

  it('pipelined GETs are answered, in order', async () => {
    const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: broker\r\n\r\n`;
    const r = await rawExchange(t.url, [get('/healthz') + get('/nope') + get('/healthz')], { quietMs: 500 });
    expect(r.answers.map((a) => a.status)).toEqual([200, 404, 200]);
  });

  it('requests sent one after another on a keep-alive connection are all answered and run once each', async () => {
    const r = await audited([verify(), verify()], { quietMs: 1000, gapMs: 500 });
    expect(r.answers.map((a) => a.status)).toEqual([200, 200]);
    expect(r.added).toBe(2);
  });
});

describe('answers without a body', () => {
  it('a 204 has no Content-Length and leaves the connection usable', async () => {
    const definition = JSON.stringify({ schema: loadDemoSchema(), claims: ['over_18'] });
    const request = (method: string, path: string, body = '') =>
      `${method} ${path} HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${t.tokens.dp}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const c = await rawConnection(t.url);
    try {
      // One request at a time, each after the previous answer: a kept-alive connection, not a pipeline.
      c.write(request('PUT', '/v1/datasets/gone', definition));
      expect((await c.answers(1)).map((a) => a.status)).toEqual([201]);
      c.write(request('DELETE', '/v1/datasets/gone'));
      const deleted = (await c.answers(2))[1]!;
      expect(deleted.status).toBe(204);
      // RFC 9110 §8.6; uWS 20.30 wrote 9223372036854775808 and kept the response pending.
      expect(deleted.headers['content-length']).toBeUndefined();
      c.write('GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n');
      expect((await c.answers(3)).map((a) => a.status)).toEqual([201, 204, 200]);
      expect(c.isClosed()).toBe(false);
    } finally {
      c.destroy();
    }
  });
});

describe('HEAD', () => {
  for (const [name, path, status] of [
    ['a GET route', '/healthz', 200],
    ['an unknown path', '/nope', 404],
    ['a route that is not GET', '/v1/verifications', 405],
  ] as const)
    it(`HEAD on ${name}: what GET answers, without the body; the connection stays usable`, async () => {
      const { head, get, headEndedClean } = await headThenGet(t.url, path);
      expect([head.status, get.status]).toEqual([status, status]);
      expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
      expect(head.headers['content-type']).toBe(get.headers['content-type']);
      expect(head.headers.allow).toBe(get.headers.allow);
      expect(headEndedClean).toBe(true);
    });

  it('a refused HEAD (Transfer-Encoding): 411 without a body, closed', async () => {
    const r = await rawExchange(t.url, [
      'HEAD /healthz HTTP/1.1\r\nHost: broker\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ]);
    expect(r.raw).toMatch(/^HTTP\/1\.1 411 /);
    expect(r.raw.endsWith('\r\n\r\n')).toBe(true);
    expect(r.closedByServer).toBe(true);
  });
});
