/**
 * uWebSockets.js plumbing: routing with captured request data, bodies read
 * with a limit, corked writes, problem+json errors and per-route metrics.
 *
 * uWS rules this file enforces once so handlers cannot get them wrong:
 * - an HttpRequest is stack-allocated: everything a handler needs (params,
 *   headers, query) is copied out before the first await;
 * - every async handler has onAborted attached before returning, and nothing
 *   is written to a response after it aborted;
 * - writes after an await are wrapped in res.cork() (one syscall, and uWS
 *   warns on uncorked writes);
 * - a body longer than its limit gets 413 PAYLOAD_TOO_LARGE and the
 *   connection is closed (the rest of the body is not read).
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { PavilionError } from '../common/errors.js';
import { makeProblem, type Problem, toProblem } from './problem.js';

export interface Reply {
  status?: number;
  /** Serialised with JSON.stringify unless `body` is given. */
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RouteObserver {
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Called for errors that are not PavilionErrors: the caller logs them (no request body is passed). */
  unexpected(err: unknown, route: string): void;
  /** In-flight accounting for graceful shutdown. */
  onStart?(): void;
  onEnd?(): void;
  /** While shutting down, new requests get 503 SHUTTING_DOWN. */
  isClosing?(): boolean;
}

const STATUS_LINES: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  202: '202 Accepted',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  411: '411 Length Required',
  413: '413 Content Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Content',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};
export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} Status`;
}

/** Headers copied out of the stack-allocated request. */
const CAPTURED_HEADERS = [
  'authorization',
  'content-type',
  'content-length',
  'transfer-encoding',
  'accept',
  'accept-encoding',
] as const;
type CapturedHeader = (typeof CAPTURED_HEADERS)[number];

/**
 * A request body delivered as it arrives. Chunks are copied (uWS neuters
 * its ArrayBuffer after the callback) and queued; when more than
 * `highWater` bytes wait, the socket is paused until the consumer catches up,
 * so a fast uploader cannot make the broker buffer a whole file.
 */
export class BodyStream implements AsyncIterable<Buffer> {
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private paused = false;
  received = 0;

  constructor(
    private readonly res: HttpResponse,
    private readonly limit: number,
    private highWater = 4 << 20,
  ) {}

  /** Called from onData. */
  push(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.failure || this.ended) return;
    this.received += chunk.byteLength;
    if (this.received > this.limit) {
      this.fail(new PavilionError('PAYLOAD_TOO_LARGE', `request body exceeds ${this.limit} bytes`, 413));
      return;
    }
    if (chunk.byteLength > 0) {
      // One copy (ArrayBuffer.slice); Buffer.from(arrayBuffer) only wraps it.
      this.queue.push(Buffer.from(chunk.slice(0)));
      this.queued += chunk.byteLength;
    }
    if (isLast) this.ended = true;
    else if (this.queued > this.highWater && !this.paused) {
      this.paused = true;
      this.res.pause();
    }
    this.notify();
  }

  fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const next = this.queue.shift();
      if (next) {
        this.queued -= next.length;
        if (this.paused && this.queued <= this.highWater / 2) {
          this.paused = false;
          this.res.resume();
        }
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /**
   * The whole body as one buffer (small JSON bodies). Waits for the end
   * once instead of once per chunk: most request bodies arrive in a single
   * onData call, and this is on the verification hot path.
   */
  async buffer(): Promise<Buffer> {
    // Collecting everything anyway (bounded by the route's limit): never pause.
    this.highWater = Number.POSITIVE_INFINITY;
    if (this.paused) {
      this.paused = false;
      this.res.resume();
    }
    while (!this.ended && !this.failure) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.failure) throw this.failure;
    const parts = this.queue;
    this.queue = [];
    this.queued = 0;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

/** Percent-decoding that cannot throw: a malformed escape stays as sent (and fails validation downstream). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class Exchange {
  aborted = false;
  responded = false;
  status = 0;
  readonly params: Record<string, string> = {};
  readonly headers: Record<CapturedHeader, string>;
  readonly rawQuery: string;
  private abortHandlers: (() => void)[] = [];
  private bodyStream: BodyStream | null = null;
  /** Set by the auth layer, for logs and metrics labels only. */
  actor?: string;

  constructor(
    readonly res: HttpResponse,
    req: HttpRequest,
    readonly method: string,
    readonly route: string,
    paramNames: readonly string[],
    /** For a pattern ending in `*`: where the rest starts; it becomes params.path, as sent (not decoded). */
    wildcardAt = -1,
  ) {
    for (let i = 0; i < paramNames.length; i++) this.params[paramNames[i]!] = safeDecode(req.getParameter(i));
    if (wildcardAt >= 0) this.params.path = req.getUrl().slice(wildcardAt);
    const h = {} as Record<CapturedHeader, string>;
    for (const name of CAPTURED_HEADERS) h[name] = req.getHeader(name);
    this.headers = h;
    this.rawQuery = req.getQuery() ?? '';
  }

  get query(): URLSearchParams {
    return new URLSearchParams(this.rawQuery);
  }

  /** Starts reading the body; must be called synchronously inside the route handler (see HttpRouter). */
  startBody(limit: number): BodyStream {
    const declared = this.headers['content-length'];
    const stream = new BodyStream(this.res, limit);
    this.bodyStream = stream;
    if (declared !== '' && Number(declared) > limit) {
      // Refuse before reading: the client announced more than we accept.
      stream.fail(new PavilionError('PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`, 413));
      return stream;
    }
    this.res.onData((chunk, isLast) => stream.push(chunk, isLast));
    return stream;
  }

  get body(): BodyStream {
    if (!this.bodyStream) throw new Error('route declared no body');
    return this.bodyStream;
  }

  onAbort(fn: () => void): void {
    this.abortHandlers.push(fn);
  }

  markAborted(): void {
    this.aborted = true;
    this.bodyStream?.fail(new PavilionError('CLIENT_ABORTED', 'client went away', 499));
    for (const fn of this.abortHandlers) {
      try {
        fn();
      } catch {
        /* abort handlers are best effort */
      }
    }
  }

  /** Writes a complete response, corked; a no-op once aborted or answered. */
  send(reply: Reply, closeConnection = false): void {
    if (this.aborted || this.responded) return;
    this.responded = true;
    const status = reply.status ?? 200;
    this.status = status;
    const body = reply.body ?? (reply.json === undefined ? '' : JSON.stringify(reply.json));
    const contentType =
      reply.contentType ??
      (reply.body === undefined && reply.json !== undefined ? 'application/json' : 'text/plain; charset=utf-8');
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      // RFC 9110 §8.6: no Content-Length (and no body) on a 204.
      if (status !== 204) this.res.writeHeader('content-type', contentType);
      // Answers depend on who asks and on live state: never cached unless the route says otherwise.
      if (reply.headers?.['cache-control'] === undefined) this.res.writeHeader('cache-control', 'no-store');
      if (reply.headers) for (const [k, v] of Object.entries(reply.headers)) this.res.writeHeader(k, v);
      if (status === 204) this.res.endWithoutBody(undefined, closeConnection);
      else this.res.end(body, closeConnection);
    });
  }

  sendProblem(problem: Problem, closeConnection = false): void {
    this.send(
      {
        status: problem.status,
        body: JSON.stringify(problem),
        contentType: 'application/problem+json',
        headers: problem.status === 401 ? { 'www-authenticate': 'Bearer' } : undefined,
      },
      closeConnection,
    );
  }
}

export interface RouteOptions {
  /** Read a request body up to this many bytes (413 beyond). Omit for bodiless routes. */
  bodyLimit?: number;
}

export type Handler = (x: Exchange) => Promise<Reply | undefined> | Reply | undefined;

type Method = 'get' | 'post' | 'put' | 'del';
const METHOD_NAMES: Record<Method, string> = { get: 'GET', post: 'POST', put: 'PUT', del: 'DELETE' };

/** `/v1/datasets/:id` → `/v1/datasets/{id}`, a trailing `*` → `{path}` (the label used in metrics and OpenAPI, and the param name). */
export function routeTemplate(pattern: string): string {
  return pattern.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{path}');
}

export class HttpRouter {
  /** Patterns registered, for the OpenAPI coverage test and 405 answers. */
  readonly routes: { method: string; template: string }[] = [];
  private readonly patterns = new Map<string, string[]>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly observer: RouteObserver,
  ) {}

  route(method: Method, pattern: string, handler: Handler, opts: RouteOptions = {}): this {
    const template = routeTemplate(pattern);
    const paramNames = [...pattern.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!);
    const wildcardAt = pattern.endsWith('*') ? pattern.length - 1 : -1;
    const methodName = METHOD_NAMES[method];
    this.routes.push({ method: methodName, template });
    const allowed = this.patterns.get(pattern) ?? [];
    allowed.push(methodName);
    this.patterns.set(pattern, allowed);
    const observer = this.observer;

    this.app[method](pattern, (res, req) => {
      const started = performance.now();
      const x = new Exchange(res, req, methodName, template, paramNames, wildcardAt);
      if (observer.isClosing?.()) {
        x.sendProblem(makeProblem(503, 'SHUTTING_DOWN', 'the broker is shutting down'), true);
        return;
      }
      observer.onStart?.();
      res.onAborted(() => {
        x.markAborted();
        observer.onEnd?.();
      });
      if (opts.bodyLimit !== undefined) x.startBody(opts.bodyLimit);
      let ended = false;
      const finish = (): void => {
        if (ended) return;
        ended = true;
        if (!x.aborted) {
          observer.observeRequest(template, methodName, x.status, (performance.now() - started) / 1000);
          observer.onEnd?.();
        }
      };
      const fail = (err: unknown): void => {
        const problem = toProblem(err, (e) => observer.unexpected(e, template));
        // After a 413 the unread rest of the body is still on the socket.
        x.sendProblem(problem, problem.status === 413);
        finish();
      };
      try {
        const out = handler(x);
        if (out && typeof (out as Promise<unknown>).then === 'function') {
          (out as Promise<Reply | undefined>).then((reply) => {
            if (reply) x.send(reply);
            finish();
          }, fail);
        } else {
          if (out) x.send(out as Reply);
          finish();
        }
      } catch (err) {
        fail(err);
      }
    });
    return this;
  }

  /** Registers 405 for other methods on known paths and 404 for everything else; call after all routes. */
  finish(): void {
    for (const [pattern, allowed] of this.patterns) {
      this.app.any(pattern, (res) => {
        res.cork(() => {
          const p = makeProblem(405, 'METHOD_NOT_ALLOWED', `allowed: ${allowed.join(', ')}`);
          res
            .writeStatus(statusLine(405))
            .writeHeader('content-type', 'application/problem+json')
            .writeHeader('allow', allowed.join(', '));
          res.end(JSON.stringify(p));
        });
        this.observer.observeRequest(routeTemplate(pattern), 'OTHER', 405, 0);
      });
    }
    this.app.any('/*', (res) => {
      res.cork(() => {
        res.writeStatus(statusLine(404)).writeHeader('content-type', 'application/problem+json');
        res.end(JSON.stringify(makeProblem(404, 'ROUTE_NOT_FOUND', 'no such route')));
      });
      this.observer.observeRequest('/*', 'OTHER', 404, 0);
    });
  }
}
