/**
 * uWebSockets.js plumbing: routes declared with who may call them and the zod schemas of their
 * parameters, bodies and answers (server/http/schemas.ts); bodies read with a limit; corked writes;
 * problem+json errors; per-route metrics. The declarations are also what server/http/openapi.ts turns
 * into the OpenAPI document, so a route is validated exactly as it is documented.
 *
 * uWS rules this file enforces once so handlers cannot get them wrong:
 * - an HttpRequest is stack-allocated: everything a handler needs (params,
 *   headers, query) is copied out before the first await;
 * - every async handler has onAborted attached before returning, and nothing
 *   is written to a response after it aborted;
 * - writes after an await are wrapped in res.cork() (one syscall, and uWS
 *   warns on uncorked writes);
 * - a body longer than its limit gets 413 PAYLOAD_TOO_LARGE (an upload, a
 *   streamed body, 413 UPLOAD_TOO_LARGE) and the connection is closed (the
 *   rest of the body is not read).
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ZodObject, z } from 'zod';
import type { ErrorCode } from '../../common/error-codes.js';
import { PavilionError } from '../../common/errors.js';
import { type Principal, type Role, requireRole } from '../../identity/index.js';
import { framingRefusal, refuse } from './framing.js';
import { makeProblem, type Problem, REASON_PHRASES, toProblem } from './problem.js';
import { jsonPath, parseJsonBody, ValidationError, validate } from './validation.js';

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
  /**
   * While the database does not answer (storage/postgres.ts, `Reachability`), requests of routes that need
   * it get 503 DATABASE_UNAVAILABLE at once instead of waiting for the pool.
   */
  databaseUnreachable?(): boolean;
}

/** `422 Unprocessable Content`: the status and its RFC 9110 reason phrase, built once per status. */
const STATUS_LINES = new Map(
  Object.entries(REASON_PHRASES).map(([status, phrase]) => [Number(status), `${status} ${phrase}`]),
);
export function statusLine(status: number): string {
  // RFC 9112 §4: the reason phrase may be empty (clients ignore it); every catalogue status has one.
  return STATUS_LINES.get(status) ?? `${status} `;
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
 * What a body over its route's limit is refused with. A streamed body is an upload, whose limit is
 * UPLOAD_LIMIT_BYTES: UPLOAD_TOO_LARGE, as a pulled object over PULL_LIMIT_BYTES (server/datasets/pulls.ts).
 * UPLOAD_LIMIT_BYTES cannot exceed the largest Content-Length uWS reads (server/config.ts MAX_CONTENT_LENGTH),
 * so the message points at a pull. Any other body: PAYLOAD_TOO_LARGE (BODY_LIMIT_BYTES and the like).
 */
function tooLarge(limit: number, upload: boolean): PavilionError {
  return upload
    ? new PavilionError(
        'UPLOAD_TOO_LARGE',
        `the upload exceeds the upload limit of ${limit} bytes: publish a larger file as a pull from the object ` +
          'store (docs/data-providers.md)',
      )
    : new PavilionError('PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`);
}

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
  /** Set once the exchange is answered or aborted: uWS forbids touching the response after that. */
  private detached = false;
  received = 0;

  constructor(
    private readonly res: HttpResponse,
    private readonly limit: number,
    /** A streamed upload: over the limit is UPLOAD_TOO_LARGE (see tooLarge). */
    private readonly upload = false,
    private highWater = 4 << 20,
  ) {}

  /** Called from onData. */
  push(chunk: ArrayBuffer, isLast: boolean): void {
    // uWS goes on delivering a body after an early answer (to keep the connection usable): drop it.
    if (this.failure || this.ended || this.detached) return;
    this.received += chunk.byteLength;
    if (this.received > this.limit) {
      this.fail(tooLarge(this.limit, this.upload));
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

  /**
   * The response is about to end or was aborted. A paused socket is resumed first (while that is still
   * allowed), so the rest of an unread body drains instead of stalling the kept-alive connection.
   */
  detach(aborted: boolean): void {
    if (this.detached) return;
    if (this.paused && !aborted) this.res.resume();
    this.paused = false;
    this.detached = true;
    if (!this.ended) this.fail(new PavilionError('CLIENT_ABORTED', aborted ? 'client went away' : 'answered'));
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
        if (this.paused && !this.detached && this.queued <= this.highWater / 2) {
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
    if (this.paused && !this.detached) {
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

const clientWentAway = (): PavilionError => new PavilionError('CLIENT_ABORTED', 'client went away');

/**
 * Ends a response without a body, with `length` as its Content-Length if given. uWS 20.30's
 * endWithoutBody takes any first argument as a length, `undefined` too (as 9223372036854775808), writes it,
 * and then waits for that many body bytes with the response still pending, so the connection's next request
 * closed the connection. The length is therefore written as a header and endWithoutBody called without
 * one. Closing needs endWithoutBody's second argument, hence a first: `Content-Length: 0`, the only length
 * after which uWS ends the response (no closing answer of the broker is a 204).
 */
export function endWithoutBody(res: HttpResponse, length: number | undefined, closeConnection = false): void {
  if (closeConnection) {
    res.endWithoutBody(0, true);
    return;
  }
  if (length !== undefined) res.writeHeader('content-length', String(length));
  res.endWithoutBody();
}

/** A HEAD request (uWS hands every handler the method lowercased). Read before any await. */
export function isHead(req: HttpRequest): boolean {
  return req.getMethod() === 'head';
}

/**
 * Ends a response with `body`, or for a HEAD request with the same headers and the body's length but no
 * body (RFC 9110 §9.3.2): every path that answers goes through here, since a body after a HEAD answer is
 * read as the start of the next answer on a kept-alive connection. A HEAD answer that closes the connection
 * says `Content-Length: 0` (see endWithoutBody).
 */
export function endAnswer(res: HttpResponse, body: string | Uint8Array, head: boolean, closeConnection = false): void {
  if (!head) res.end(body, closeConnection);
  else endWithoutBody(res, typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength, closeConnection);
}

export class Exchange {
  aborted = false;
  responded = false;
  status = 0;
  /** Path parameters as sent: never percent-decoded (ids have one spelling; server/http/schemas.ts). */
  readonly params: Record<string, string> = {};
  readonly headers: Record<CapturedHeader, string>;
  readonly rawQuery: string;
  private abortHandlers: (() => void)[] = [];
  private abortController: AbortController | null = null;
  private bodyStream: BodyStream | null = null;
  /** Set once authenticated, for logs only. */
  actor?: string;

  constructor(
    readonly res: HttpResponse,
    req: HttpRequest,
    readonly method: string,
    readonly route: string,
    paramNames: readonly string[],
    /** For a pattern ending in `*`: where the rest starts; it becomes params.path. */
    wildcardAt = -1,
  ) {
    for (let i = 0; i < paramNames.length; i++) this.params[paramNames[i]!] = req.getParameter(i) ?? '';
    if (wildcardAt >= 0) this.params.path = req.getUrl().slice(wildcardAt);
    const h = {} as Record<CapturedHeader, string>;
    for (const name of CAPTURED_HEADERS) h[name] = req.getHeader(name);
    this.headers = h;
    this.rawQuery = req.getQuery() ?? '';
  }

  /**
   * Starts reading the body; must be called synchronously inside the route handler (see HttpRouter).
   * `upload`: a streamed upload, refused over `limit` with UPLOAD_TOO_LARGE rather than PAYLOAD_TOO_LARGE.
   */
  startBody(limit: number, upload = false): BodyStream {
    const declared = this.headers['content-length'];
    const stream = new BodyStream(this.res, limit, upload);
    this.bodyStream = stream;
    if (declared !== '' && Number(declared) > limit) {
      // Refuse before reading: the client announced more than we accept.
      stream.fail(tooLarge(limit, upload));
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

  /**
   * Aborted, with CLIENT_ABORTED as its reason, when the client goes away before the answer: for work done
   * only for this answer (a record's encoding, server/verification/service.ts), so it stops with the client.
   */
  get signal(): AbortSignal {
    if (!this.abortController) {
      this.abortController = new AbortController();
      if (this.aborted) this.abortController.abort(clientWentAway());
    }
    return this.abortController.signal;
  }

  markAborted(): void {
    this.aborted = true;
    this.abortController?.abort(clientWentAway());
    this.bodyStream?.detach(true);
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
    this.bodyStream?.detach(false);
    const status = reply.status ?? 200;
    this.status = status;
    const body = reply.body ?? (reply.json === undefined ? '' : JSON.stringify(reply.json));
    const contentType =
      reply.contentType ??
      (reply.body === undefined && reply.json !== undefined ? 'application/json' : 'text/plain; charset=utf-8');
    this.res.cork(() => {
      // uWS answers 200 OK unless told otherwise: one native call fewer on the common answer.
      if (status !== 200) this.res.writeStatus(statusLine(status));
      // RFC 9110 §8.6: no Content-Length (and no body) on a 204.
      if (status !== 204) this.res.writeHeader('content-type', contentType);
      // Answers depend on who asks and on live state: never cached unless the route says otherwise.
      if (reply.headers?.['cache-control'] === undefined) this.res.writeHeader('cache-control', 'no-store');
      if (reply.headers) for (const [k, v] of Object.entries(reply.headers)) this.res.writeHeader(k, v);
      if (status === 204) endWithoutBody(this.res, undefined, closeConnection);
      else endAnswer(this.res, body, this.method === 'HEAD', closeConnection);
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

/**
 * Refuses a request whose framing the broker refuses (server/http/framing.ts): answered on the next turn
 * with the connection closed, or closed unanswered by uWS if another request came in the same read. True
 * when it did.
 */
export function refusedFraming(res: HttpResponse, req: HttpRequest): boolean {
  const refusal = framingRefusal(req);
  if (!refusal) return false;
  const p = makeProblem(refusal.code, refusal.detail);
  const head = isHead(req);
  refuse(res, () => {
    res.writeStatus(statusLine(p.status)).writeHeader('content-type', 'application/problem+json');
    endAnswer(res, JSON.stringify(p), head, true);
  });
  return true;
}

/**
 * A query string as an object. A name given twice is refused rather than one value picked: `dry_run=true&
 * dry_run=false` has no answer the caller surely meant.
 */
export function queryParameters(rawQuery: string): Record<string, string> {
  // No prototype: `?__proto__=1` becomes a parameter of that name (refused by validate), not a silent no-op.
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    if (Object.hasOwn(out, name))
      throw new ValidationError([{ path: jsonPath([name], QUERY_ROOT), message: 'given more than once' }]);
    out[name] = value;
  }
  return out;
}

/**
 * The query of a route that declares none: empty, so any parameter is refused by name. Ignoring it made
 * `?dry_run=true` on activate, rollback or delete do the real thing.
 */
const NO_QUERY = z.object({}).strict();

/** What the paths of a query parameter's errors start with: `$` is the body's root. */
const QUERY_ROOT = 'query';

/**
 * JSON bodies are read only when labelled JSON (application/json or a +json type), as fastify does: a form
 * (curl -d without -H) or text body is 415 with what to send instead. A body without any Content-Type is
 * read as JSON (RFC 9110 §8.3 leaves it to the recipient, and there is nothing else it could be here).
 */
function requireJsonContentType(contentType: string | undefined): void {
  if (!contentType) return;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return;
  throw new PavilionError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
}

/** Resolves on the event loop's next turn: after uWS has parsed every request of the bytes it read. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export type Method = 'get' | 'post' | 'put' | 'del';
const METHOD_NAMES: Record<Method, string> = { get: 'GET', post: 'POST', put: 'PUT', del: 'DELETE' };

/** What an answer of a route is, for the OpenAPI document. */
export type ResponseDoc =
  | { description: string; json: z.ZodTypeAny }
  | { description: string; mediaType: string; format?: 'binary' }
  | { description: string };

/**
 * A body the router reads: a JSON document it validates (over `limit`: PAYLOAD_TOO_LARGE), or a stream the
 * handler reads, which is an upload (over `limit`: UPLOAD_TOO_LARGE).
 */
export type BodySpec<B extends z.ZodTypeAny> =
  /** `sensitive`: the raw bytes are zeroed once parsed (a linkage secret should not linger in a buffer). */
  | { json: B; limit: number; sensitive?: boolean }
  | { stream: Record<string, { description: string; format?: 'binary' }>; limit: number };

export interface RouteSpec<
  P extends z.ZodTypeAny = z.ZodTypeAny,
  Q extends z.ZodTypeAny = z.ZodTypeAny,
  B extends z.ZodTypeAny = z.ZodTypeAny,
> {
  method: Method;
  /** uWS pattern: `/v1/datasets/:id`, or a trailing `*` captured as params.path. */
  path: string;
  summary: string;
  description?: string;
  /**
   * Who may call: any of these roles; `public`; or `handler` when the handler decides (it calls
   * `authenticate` itself, e.g. when the answer depends on what was asked).
   */
  access: readonly Role[] | 'public' | 'handler';
  params?: P;
  query?: Q;
  body?: BodySpec<B>;
  responses: Record<number, ResponseDoc>;
  /** Codes the handler can raise beyond those the router itself raises (authentication, bodies, …). */
  errors?: readonly ErrorCode[];
  /** False for a route that answers without the database (health, metrics, documents): served during an outage. */
  database?: boolean;
}

type Parsed<T extends z.ZodTypeAny | undefined> = T extends z.ZodTypeAny ? z.output<T> : undefined;

export interface RouteRequest<S extends RouteSpec> {
  x: Exchange;
  /** Present when `access` lists roles (or after `authenticate`). */
  principal: S['access'] extends readonly Role[] ? Principal : Principal | undefined;
  params: Parsed<S['params']>;
  query: Parsed<S['query']>;
  body: S['body'] extends { json: infer B extends z.ZodTypeAny }
    ? z.output<B>
    : S['body'] extends object
      ? BodyStream
      : undefined;
  /** Authenticates now and requires one of `roles` (none: any valid token). */
  authenticate(...roles: Role[]): Promise<Principal>;
}

export type Handler<S extends RouteSpec> = (r: RouteRequest<S>) => Promise<Reply> | Reply;

/** `/v1/datasets/:id` → `/v1/datasets/{id}`, a trailing `*` → `{path}`: the label of metrics and OpenAPI. */
export function routeTemplate(pattern: string): string {
  return pattern.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{path}');
}

/** How the router turns a bearer header into a principal (identity/ verifies; the party registry notes it). */
export type Authenticate = (authorization: string | undefined) => Promise<Principal>;

export class HttpRouter {
  /** Routes registered, with their declarations (the OpenAPI document is built from these). */
  readonly routes: (RouteSpec & { template: string; methodName: string })[] = [];
  private readonly patterns = new Map<string, string[]>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly observer: RouteObserver,
    private readonly authenticateHeader: Authenticate,
  ) {}

  route<S extends RouteSpec>(spec: S, handler: Handler<S>): this {
    const { method, path } = spec;
    const template = routeTemplate(path);
    const paramNames = [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!);
    const wildcardAt = path.endsWith('*') ? path.length - 1 : -1;
    const methodName = METHOD_NAMES[method];
    this.routes.push({ ...spec, template, methodName });
    const allowed = this.patterns.get(path) ?? [];
    allowed.push(methodName);
    if (method === 'get') allowed.push('HEAD');
    this.patterns.set(path, allowed);
    const observer = this.observer;
    const authenticateHeader = this.authenticateHeader;
    const roles = Array.isArray(spec.access) ? (spec.access as readonly Role[]) : null;
    const body = spec.body;
    // An option the route does not know is refused, not ignored: a misspelt `dry_run` made an upload live.
    const strictQuery = spec.query instanceof ZodObject ? spec.query.strict() : spec.query;

    const changesState = method !== 'get';
    const usesDatabase = spec.database !== false;
    const run = async (x: Exchange): Promise<Reply | undefined> => {
      const authenticate = async (...required: Role[]): Promise<Principal> => {
        const principal = await authenticateHeader(x.headers.authorization || undefined);
        x.actor = principal.subject;
        if (required.length > 0) requireRole(principal, ...required);
        return principal;
      };
      const principal = roles ? await authenticate(...roles) : undefined;
      const params = spec.params ? validate(spec.params, x.params) : undefined;
      let query: unknown;
      if (strictQuery) query = validate(strictQuery, queryParameters(x.rawQuery), QUERY_ROOT);
      // No query declared: none accepted (an empty query string skips the parse on the hot path).
      else if (x.rawQuery !== '') validate(NO_QUERY, queryParameters(x.rawQuery), QUERY_ROOT);
      let parsedBody: unknown;
      if (body !== undefined && 'json' in body) {
        requireJsonContentType(x.headers['content-type']);
        const raw = await x.body.buffer();
        try {
          parsedBody = validate(body.json, parseJsonBody(raw));
        } finally {
          if (body.sensitive) raw.fill(0);
        }
      } else if (body !== undefined) parsedBody = x.body;
      if (changesState) {
        // uWS 20.30 aborts a pending response when the next pipelined request arrives on its
        // connection; one sent in the same write aborts it before this turn ends. Such a request is
        // refused before it changes anything (the client sees the connection close and can retry).
        await nextTurn();
        if (x.aborted) return undefined;
      }
      return handler({ x, principal, params, query, body: parsedBody, authenticate } as RouteRequest<S>);
    };

    const serve = (res: HttpResponse, req: HttpRequest, asMethod: string): void => {
      if (refusedFraming(res, req)) return;
      const started = performance.now();
      const x = new Exchange(res, req, asMethod, template, paramNames, wildcardAt);
      if (observer.isClosing?.()) {
        x.sendProblem(makeProblem('SHUTTING_DOWN', 'the broker is shutting down'), true);
        return;
      }
      if (usesDatabase && observer.databaseUnreachable?.()) {
        x.sendProblem(makeProblem('DATABASE_UNAVAILABLE', 'the database is unreachable; retry later'));
        observer.observeRequest(template, asMethod, 503, (performance.now() - started) / 1000);
        return;
      }
      observer.onStart?.();
      res.onAborted(() => {
        x.markAborted();
        observer.onEnd?.();
      });
      if (body !== undefined) x.startBody(body.limit, 'stream' in body);
      let ended = false;
      const finish = (): void => {
        if (ended) return;
        ended = true;
        if (!x.aborted) {
          observer.observeRequest(template, asMethod, x.status, (performance.now() - started) / 1000);
          observer.onEnd?.();
        }
      };
      run(x).then(
        (reply) => {
          if (reply) x.send(reply);
          finish();
        },
        (err: unknown) => {
          const problem = toProblem(err, (e) => observer.unexpected(e, template));
          // After a 413 the unread rest of the body is still on the socket.
          x.sendProblem(problem, problem.status === 413);
          finish();
        },
      );
    };
    this.app[method](path, (res, req) => serve(res, req, methodName));
    if (method === 'get') this.app.head(path, (res, req) => serve(res, req, 'HEAD'));
    return this;
  }

  /** Registers 405 for other methods on known paths and 404 for everything else; call after all routes. */
  finish(): void {
    for (const [pattern, allowed] of this.patterns) {
      this.app.any(pattern, (res, req) => {
        if (refusedFraming(res, req)) return;
        const head = isHead(req);
        res.cork(() => {
          const p = makeProblem('METHOD_NOT_ALLOWED', `allowed: ${allowed.join(', ')}`);
          res
            .writeStatus(statusLine(405))
            .writeHeader('content-type', 'application/problem+json')
            .writeHeader('allow', allowed.join(', '));
          endAnswer(res, JSON.stringify(p), head);
        });
        this.observer.observeRequest(routeTemplate(pattern), 'OTHER', 405, 0);
      });
    }
    this.app.any('/*', (res, req) => {
      if (refusedFraming(res, req)) return;
      const head = isHead(req);
      res.cork(() => {
        res.writeStatus(statusLine(404)).writeHeader('content-type', 'application/problem+json');
        endAnswer(res, JSON.stringify(makeProblem('ROUTE_NOT_FOUND', 'no such route')), head);
      });
      this.observer.observeRequest('/*', 'OTHER', 404, 0);
    });
  }
}
