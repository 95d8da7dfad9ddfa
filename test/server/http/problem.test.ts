/**
 * Problem mapping (server/http/problem.ts): coded errors keep their status; anything else leaks nothing.
 * Every status of the error catalogue is sent with its RFC 9110 reason phrase, as the status line's text and
 * as the problem's title.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../common/error-codes.js';
import { PavilionError } from '../../../common/errors.js';
import { makeProblem, toProblem } from '../../../server/http/problem.js';
import { statusLine } from '../../../server/http/router.js';
import { startTestBroker, type TestBroker } from '../helpers.js';
import { rawExchange } from './raw-http.js';

/** RFC 9110 §15 (and RFC 6585 §4 for 429): the reason phrase of every status code they define. */
const RFC_REASON_PHRASES: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

describe('problem mapping', () => {
  it('a PavilionError keeps its status and code', () => {
    expect(toProblem(new PavilionError('DATASET_NOT_FOUND', 'no such dataset'))).toMatchObject({
      status: 404,
      code: 'DATASET_NOT_FOUND',
      detail: 'no such dataset',
      title: 'Not Found',
    });
  });
  it('anything else is 500 INTERNAL without detail leak', () => {
    let seen: unknown;
    const p = toProblem(new Error('secret stuff at /home/x'), (e) => (seen = e));
    expect(p).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'internal error' });
    expect(JSON.stringify(p)).not.toContain('secret stuff');
    expect(seen).toBeInstanceOf(Error);
  });
});

describe('reason phrases', () => {
  it('every code of the catalogue: its status line and title carry the RFC reason phrase', () => {
    const statuses = new Set<number>();
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      // CLIENT_ABORTED (499, no RFC phrase) is never sent: the client has gone.
      if (code === 'CLIENT_ABORTED') continue;
      const phrase = RFC_REASON_PHRASES[spec.status];
      expect(phrase, `${code}: ${spec.status} is a status RFC 9110 defines`).toBeDefined();
      expect(statusLine(spec.status), code).toBe(`${spec.status} ${phrase}`);
      expect(makeProblem(code as keyof typeof ERROR_CODES).title, code).toBe(phrase);
      statuses.add(spec.status);
    }
    expect([...statuses]).toEqual(expect.arrayContaining([400, 422, 426, 500, 502, 503]));
  });
});

describe('on the wire', () => {
  let t: TestBroker;
  beforeAll(async () => {
    t = await startTestBroker();
  });
  afterAll(async () => {
    await t?.broker.close();
  });

  it('a plain GET of the WebSocket endpoint: HTTP/1.1 426 Upgrade Required, titled so', async () => {
    const r = await rawExchange(t.url, ['GET /v1/ws HTTP/1.1\r\nHost: broker\r\n\r\n'], { quietMs: 400 });
    expect(r.raw.split('\r\n', 1)[0]).toBe('HTTP/1.1 426 Upgrade Required');
    expect(JSON.parse(r.answers[0]!.body)).toMatchObject({
      status: 426,
      code: 'UPGRADE_REQUIRED',
      title: 'Upgrade Required',
    });
  });
});
