/**
 * WebSocket /v1/ws: verifications and linkage job progress over one socket.
 *
 * Authentication, either way:
 * - an `Authorization: Bearer …` header on the upgrade request (servers,
 *   CLIs): verified before upgrading; a bad token gets the HTTP 401 problem
 *   and no socket;
 * - or, without the header (browsers cannot set it), a first message
 *   `{"type":"auth","token":"…"}` within AUTH_TIMEOUT_MS. Anything else
 *   first (a binary frame, text that is not JSON), a bad token, or the timeout closes the socket with code
 *   4401. Messages sent after `auth` without waiting for `authenticated` are held, in order, until the
 *   token is checked.
 * A token that expires while the socket is open ends it (4401) at the next message once it is past
 * exp plus the clock tolerance HTTP allows (identity/, tokenExpired): one rule for both.
 *
 * Messages (JSON text):
 *   → {type:"verify", id, dataset, clk | record, claims, purpose, consent?}
 *   ← {type:"result", id, verification_id, ...rest of the HTTP answer}  or  {type:"error", id, problem}
 *     (`id` is the client's message id; the answer's own id is `verification_id`.)
 *     Many may be in flight; answers come as they finish (not in order). Closing the socket stops the
 *     encoding of the records of those still in flight (server/verification/service.ts).
 *   → {type:"subscribe", job}  ← {type:"progress", job, done, total, chunks?} … {type:"result", job, status, …}
 *   → {type:"cancel", id?, job}  ← {type:"cancelled", id?, job} (subscribers get the failed result, LINK_CANCELLED)
 *     (subscribe and cancel: rp or admin, as the job routes over HTTP; another role gets 403 FORBIDDEN_ROLE)
 *   → {type:"ping"}  ← {type:"pong"}
 *
 * Backpressure: at most WS_MAX_IN_FLIGHT verifications per socket (more are
 * answered with error 429 TOO_MANY_IN_FLIGHT); while more than half of
 * WS_MAX_BACKPRESSURE bytes of answers wait unread, new verifications are
 * refused with 429 SLOW_CONSUMER; a reader that lets WS_MAX_BACKPRESSURE
 * bytes pile up is disconnected (uWS closeOnBackpressureLimit), so one slow
 * client cannot make the broker buffer without bound.
 *
 * Metrics: every verify message answered counts under route /v1/ws, method WS, with the status of its
 * answer, refusals (429, 422, 401) included, as HTTP counts its refusals.
 */
import uWS, { type TemplatedApp, type WebSocket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { PavilionError } from '../../common/errors.js';
import { type Principal, requireRole, tokenExpired } from '../../identity/index.js';
import { makeProblem, type Problem, toProblem } from '../http/problem.js';
import { type HttpRouter, refusedFraming, statusLine } from '../http/router.js';
import { VerificationRequest } from '../http/schemas.js';
import { validate } from '../http/validation.js';
import type { JobMessage, LinkageJobs } from '../linkage/jobs.js';
import type { VerificationService } from '../verification/service.js';
import { JOB_ROLES } from './linkage-jobs.js';

export const AUTH_TIMEOUT_MS = 10_000;
const CLOSE_UNAUTHENTICATED = 4401;

interface SocketState {
  principal: Principal | null;
  /**
   * While the `auth` message's token is being checked: the messages that came after it, in order (null: a
   * binary frame), handled once it is accepted. A client need not wait for `authenticated` to send more.
   */
  heldDuringAuth: (string | null)[] | null;
  open: boolean;
  inFlight: number;
  /** One per verification of a record in flight: aborted when the socket closes, so its encoding stops. */
  verifications: Set<AbortController>;
  authTimer: NodeJS.Timeout | null;
  unsubscribers: (() => void)[];
}

type Socket = WebSocket<SocketState>;

function send(ws: Socket, state: SocketState, msg: unknown): void {
  if (!state.open) return;
  ws.cork(() => {
    ws.send(JSON.stringify(msg), false);
  });
}

function sendProblem(ws: Socket, state: SocketState, id: unknown, problem: Problem): void {
  send(ws, state, id === undefined ? { type: 'error', problem } : { type: 'error', id, problem });
}

/** Answers with the problem; its status, for the metrics. */
function refuse(ws: Socket, state: SocketState, id: unknown, problem: Problem): number {
  sendProblem(ws, state, id, problem);
  return problem.status;
}

const messageId = (v: unknown): string | number | undefined =>
  (typeof v === 'string' && v.length <= 64) || (typeof v === 'number' && Number.isSafeInteger(v))
    ? (v as string | number)
    : undefined;

/**
 * The job a subscribe or cancel names, or why it is refused before the job is looked up, checked in the
 * order HTTP checks a job route (server/http/router.ts): first the roles those routes require (JOB_ROLES,
 * with requireRole's wording), so a DP is told 403 FORBIDDEN_ROLE here as there, not 404 JOB_NOT_FOUND;
 * then a job id, worded as server/http/validation.ts words a body's.
 */
function jobOfMessage(principal: Principal, msg: Record<string, unknown>): string | Problem {
  try {
    requireRole(principal, ...JOB_ROLES);
  } catch (err) {
    return toProblem(err);
  }
  if (typeof msg.job === 'string') return msg.job;
  return makeProblem('VALIDATION_FAILED', msg.job === undefined ? '$.job: required' : '$.job: expected string');
}

export interface WebSocketDeps {
  /** Verifies a bearer header and notes the party (server/http/auth.ts). */
  authenticate(authorization: string): Promise<Principal>;
  verification: VerificationService;
  jobs: LinkageJobs;
  log: Logger;
  /**
   * The broker's count of requests in flight, which close() waits for before it ends the sockets: a
   * verification counts from its message to its answer, and none starts once the broker is closing
   * (SHUTTING_DOWN), so a decision the audit log holds is never left unanswered (server/app.ts).
   */
  requests: { onStart(): void; onEnd(): void; isClosing(): boolean };
  limits: { wsPayload: number; wsBackpressure: number; wsInFlight: number };
  /** Per-message metrics, as the HTTP routes have. */
  onRequest(type: string, status: number, seconds: number): void;
}

export function registerWebSocket(app: TemplatedApp, router: HttpRouter, deps: WebSocketDeps): { closeAll(): void } {
  const { limits, log, verification, jobs, onRequest, requests } = deps;
  const sockets = new Set<Socket>();

  /** One verify message, answered with a result or a problem; the status of the answer. */
  async function verifyMessage(
    ws: Socket,
    state: SocketState,
    principal: Principal,
    msg: Record<string, unknown>,
  ): Promise<number> {
    const id = messageId(msg.id);
    if (id === undefined) {
      const message = '$.id: a string of at most 64 characters or an integer is required';
      return refuse(ws, state, undefined, makeProblem('VALIDATION_FAILED', message));
    }
    if (state.inFlight >= limits.wsInFlight) {
      const message = `at most ${limits.wsInFlight} verifications may be in flight per connection`;
      return refuse(ws, state, id, makeProblem('TOO_MANY_IN_FLIGHT', message));
    }
    if (ws.getBufferedAmount() > limits.wsBackpressure / 2) {
      return refuse(ws, state, id, makeProblem('SLOW_CONSUMER', 'read your pending answers first'));
    }
    if (requests.isClosing()) return refuse(ws, state, id, makeProblem('SHUTTING_DOWN', 'the broker is shutting down'));
    requests.onStart();
    state.inFlight++;
    let stop: AbortController | undefined;
    try {
      requireRole(principal, 'rp');
      const { type: _t, id: _i, ...body } = msg;
      const request = validate(VerificationRequest, body);
      // Only a record's encoding stops with the socket: no controller for a CLK (the cache-hit path).
      if (request.record !== undefined) {
        stop = new AbortController();
        state.verifications.add(stop);
      }
      const { id: verificationId, ...answer } = await verification.verify(principal, request, stop?.signal);
      send(ws, state, { type: 'result', id, verification_id: verificationId, ...answer });
      return 200;
    } catch (err) {
      return refuse(
        ws,
        state,
        id,
        toProblem(err, (e) => log.error({ err: e }, 'ws verify failed unexpectedly')),
      );
    } finally {
      state.inFlight--;
      if (stop) state.verifications.delete(stop);
      requests.onEnd();
    }
  }

  /** One message as received (null: a binary frame); messages held during authentication come back here. */
  function receive(ws: Socket, state: SocketState, raw: string | null): void {
    if (state.heldDuringAuth) {
      // As many as a socket may have in flight: a client sending more before its token is accepted is not one.
      if (state.heldDuringAuth.length >= limits.wsInFlight) ws.end(CLOSE_UNAUTHENTICATED, 'authenticate first');
      else state.heldDuringAuth.push(raw);
      return;
    }
    if (raw === null) {
      if (!state.principal) ws.end(CLOSE_UNAUTHENTICATED, 'authenticate first');
      else sendProblem(ws, state, undefined, makeProblem('UNSUPPORTED_MEDIA_TYPE', 'send JSON text messages'));
      return;
    }
    handle(ws, state, raw).catch((err) => {
      log.error({ err }, 'ws handler failed');
      sendProblem(ws, state, undefined, makeProblem('INTERNAL', 'internal error'));
    });
  }

  async function handle(ws: Socket, state: SocketState, raw: string): Promise<void> {
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch {
      if (!state.principal) ws.end(CLOSE_UNAUTHENTICATED, 'authenticate first');
      else sendProblem(ws, state, undefined, makeProblem('BODY_INVALID_JSON', 'message is not a JSON object'));
      return;
    }
    const type = msg.type;

    if (!state.principal) {
      if (type !== 'auth' || typeof msg.token !== 'string') {
        ws.end(CLOSE_UNAUTHENTICATED, 'authenticate first');
        return;
      }
      state.heldDuringAuth = [];
      try {
        const principal = await deps.authenticate(`Bearer ${msg.token}`);
        if (!state.open) return;
        state.principal = principal;
        if (state.authTimer) clearTimeout(state.authTimer);
        state.authTimer = null;
        send(ws, state, { type: 'authenticated', sub: principal.subject, roles: [...principal.roles] });
        const held = state.heldDuringAuth;
        state.heldDuringAuth = null;
        for (const m of held) receive(ws, state, m);
      } catch (err) {
        state.heldDuringAuth = null;
        if (!state.open) return;
        sendProblem(
          ws,
          state,
          undefined,
          toProblem(err, (e) => log.error({ err: e }, 'ws auth failed unexpectedly')),
        );
        ws.end(CLOSE_UNAUTHENTICATED, 'authentication failed');
      }
      return;
    }
    const started = performance.now();
    if (tokenExpired(state.principal, Date.now())) {
      const problem = makeProblem('AUTH_EXPIRED', 'the access token expired; reconnect with a fresh one');
      const status = refuse(ws, state, undefined, problem);
      if (type === 'verify') onRequest('verify', status, (performance.now() - started) / 1000);
      ws.end(CLOSE_UNAUTHENTICATED, 'token expired');
      return;
    }

    if (type === 'verify') {
      const status = await verifyMessage(ws, state, state.principal, msg);
      onRequest('verify', status, (performance.now() - started) / 1000);
      return;
    }
    const id = messageId(msg.id);
    if (type === 'subscribe') {
      const job = jobOfMessage(state.principal, msg);
      if (typeof job !== 'string') {
        sendProblem(ws, state, id, job);
        return;
      }
      try {
        const unsubscribe = await jobs.subscribe(state.principal, job, (m: JobMessage) => send(ws, state, m));
        if (!state.open) unsubscribe();
        else state.unsubscribers.push(unsubscribe);
      } catch (err) {
        sendProblem(
          ws,
          state,
          id,
          toProblem(err, (e) => log.error({ err: e }, 'ws subscribe failed unexpectedly')),
        );
      }
      return;
    }
    if (type === 'cancel') {
      const job = jobOfMessage(state.principal, msg);
      if (typeof job !== 'string') {
        sendProblem(ws, state, id, job);
        return;
      }
      try {
        await jobs.cancel(state.principal, job);
        send(ws, state, { type: 'cancelled', job, ...(id !== undefined ? { id } : {}) });
      } catch (err) {
        sendProblem(
          ws,
          state,
          id,
          toProblem(err, (e) => log.error({ err: e }, 'ws cancel failed unexpectedly')),
        );
      }
      return;
    }
    if (type === 'ping') {
      send(ws, state, { type: 'pong', ...(id !== undefined ? { id } : {}) });
      return;
    }
    if (type === 'auth') {
      sendProblem(ws, state, id, makeProblem('ALREADY_AUTHENTICATED', 'this connection is already authenticated'));
      return;
    }
    sendProblem(ws, state, id, makeProblem('MESSAGE_TYPE_UNKNOWN', 'type must be verify, subscribe, cancel or ping'));
  }

  app.ws<SocketState>('/v1/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: limits.wsPayload,
    maxBackpressure: limits.wsBackpressure,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      if (refusedFraming(res, req)) return;
      const key = req.getHeader('sec-websocket-key');
      // RFC 6455 §4.2.2: a server selects one of the client's subprotocols that it supports, or sends none. The
      // broker supports none, so it selects none (an empty string: uWS then writes no Sec-WebSocket-Protocol);
      // passing the header on selected the client's first offer, whatever it was, and echoed it in the 101.
      const protocol = '';
      const extensions = req.getHeader('sec-websocket-extensions');
      const authorization = req.getHeader('authorization');
      const fresh = (): SocketState => ({
        principal: null,
        heldDuringAuth: null,
        open: false,
        inFlight: 0,
        verifications: new Set(),
        authTimer: null,
        unsubscribers: [],
      });
      if (!authorization) {
        res.upgrade(fresh(), key, protocol, extensions, context);
        return;
      }
      let aborted = false;
      res.onAborted(() => (aborted = true));
      deps.authenticate(authorization).then(
        (principal) => {
          if (aborted) return;
          res.cork(() => res.upgrade({ ...fresh(), principal }, key, protocol, extensions, context));
        },
        (err) => {
          if (aborted) return;
          const p = toProblem(err, (e) => log.error({ err: e }, 'ws upgrade auth failed unexpectedly'));
          res.cork(() => {
            res
              .writeStatus(statusLine(p.status))
              .writeHeader('content-type', 'application/problem+json')
              .writeHeader('www-authenticate', 'Bearer');
            res.end(JSON.stringify(p));
          });
        },
      );
    },

    open: (ws) => {
      const state = ws.getUserData();
      state.open = true;
      sockets.add(ws);
      if (!state.principal) {
        state.authTimer = setTimeout(() => {
          if (state.open && !state.principal) ws.end(CLOSE_UNAUTHENTICATED, 'authentication timeout');
        }, AUTH_TIMEOUT_MS);
      }
    },

    message: (ws, message, isBinary) => {
      // The ArrayBuffer is only valid during this callback: decode it now. (uWS has checked a text frame's
      // UTF-8 already: one that is not UTF-8 fails the connection, RFC 6455 §8.1, before it gets here.)
      receive(ws, ws.getUserData(), isBinary ? null : Buffer.from(message).toString('utf8'));
    },

    close: (ws) => {
      sockets.delete(ws);
      const state = ws.getUserData();
      state.open = false;
      if (state.authTimer) clearTimeout(state.authTimer);
      for (const u of state.unsubscribers) u();
      state.unsubscribers = [];
      for (const v of state.verifications) v.abort(new PavilionError('CLIENT_ABORTED', 'the WebSocket closed'));
      state.verifications.clear();
    },
  });

  // A plain GET (no Upgrade) reaches the router, registered after app.ws so upgrades still go there.
  router.route(
    {
      method: 'get',
      path: '/v1/ws',
      summary: 'WebSocket: verify and subscribe messages (server/routes/ws.ts)',
      description:
        'Authenticated by an Authorization header on the upgrade request, or by a first {"type":"auth","token"} ' +
        'message. Messages: verify, subscribe, cancel, ping; answers result, progress, cancelled, error (a problem), ' +
        'pong. A GET ' +
        'without an Upgrade header answers 426.',
      access: 'public',
      responses: { 101: { description: 'switching protocols (with Upgrade: websocket)' } },
      errors: ['UPGRADE_REQUIRED', 'AUTH_MISSING', 'AUTH_MALFORMED', 'AUTH_EXPIRED', 'AUTH_SIGNATURE_INVALID'],
    },
    () => {
      throw new PavilionError('UPGRADE_REQUIRED', 'this is the WebSocket endpoint: send Upgrade: websocket');
    },
  );

  return {
    closeAll() {
      for (const ws of [...sockets]) ws.end(1001, 'broker shutting down');
    },
  };
}
