/**
 * One WebSocket to /v1/ws (protocol: server/ws.ts) for many verifications
 * and job subscriptions, as Node or a browser has it:
 *
 * - authenticates with a first `{"type":"auth"}` message (browsers cannot
 *   set headers), asking the token source again on every connection;
 * - at most `maxInFlight` verifications on the wire (the broker refuses more
 *   with 429 TOO_MANY_IN_FLIGHT); the rest wait in a bounded queue, and a
 *   caller past `maxQueued` is refused with CLIENT_QUEUE_FULL: the caller's
 *   own awaits are the backpressure;
 * - reconnects with exponential backoff when the connection drops, resends
 *   what was in flight (at least once: a verification the broker answered
 *   but whose answer was lost is asked, and audited, again) and resubscribes
 *   to jobs. A rejected token (close 4401) does not reconnect.
 */
import { PavilionClientError } from './errors.js';
import { asProblem, PavilionApiError, type TokenSource, tokenOf } from './http.js';

/** The subset of the WHATWG WebSocket both the browser's and the `ws` package's have. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface SocketOptions {
  /** Verifications on the wire at once (default 64; the broker allows WS_MAX_IN_FLIGHT, 256 by default). */
  maxInFlight?: number;
  /** Verifications waiting for a slot before verify() refuses (default 10 000). */
  maxQueued?: number;
  /** Reconnection attempts in a row before pending calls fail with CONNECTION_LOST (default 8). */
  maxReconnects?: number;
  /** First reconnection delay, doubled each attempt up to 5 s (default 100 ms). */
  reconnectDelayMs?: number;
}

interface Pending {
  id: number;
  message: Record<string, unknown>;
  resolve(v: Record<string, unknown>): void;
  reject(e: unknown): void;
  retries: number;
}

export type JobMessage = Record<string, unknown> & { type: 'progress' | 'result'; job: string };

const OPEN = 1;
const CLOSE_UNAUTHENTICATED = 4401;

export class VerificationSocket {
  private ws: WebSocketLike | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private readonly subscriptions = new Map<string, Set<(m: JobMessage) => void>>();
  private readonly subscribeCalls = new Map<number, { job: string; reject(e: unknown): void }>();
  private closed = false;
  private failures = 0;
  private readonly maxInFlight: number;
  private readonly maxQueued: number;
  private readonly maxReconnects: number;
  private readonly baseDelay: number;
  /** Connections opened so far (tests and diagnostics). */
  connections = 0;

  constructor(
    private readonly url: string,
    private readonly token: TokenSource | undefined,
    private readonly WebSocketImpl: () => Promise<WebSocketConstructor>,
    opts: SocketOptions = {},
  ) {
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.maxQueued = opts.maxQueued ?? 10_000;
    this.maxReconnects = opts.maxReconnects ?? 8;
    this.baseDelay = opts.reconnectDelayMs ?? 100;
  }

  /** Verifications sent and not yet answered. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Sends `{type: "verify", ...body}`; resolves with the broker's result message. */
  verify(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new PavilionClientError('CLIENT_CLOSED', 'the socket was closed', 400));
    if (this.queue.length >= this.maxQueued)
      return Promise.reject(
        new PavilionClientError('CLIENT_QUEUE_FULL', `more than ${this.maxQueued} verifications waiting`, 429),
      );
    return new Promise((resolve, reject) => {
      this.queue.push({ id: 0, message: { ...body, type: 'verify' }, resolve, reject, retries: 0 });
      void this.pump();
    });
  }

  /** Follows a linkage job: `onMessage` gets its progress and final result. Returns the unsubscribe. */
  async subscribe(job: string, onMessage: (m: JobMessage) => void): Promise<() => void> {
    let set = this.subscriptions.get(job);
    const first = !set;
    if (!set) {
      set = new Set();
      this.subscriptions.set(job, set);
    }
    set.add(onMessage);
    if (first) {
      await this.connect();
      this.sendSubscribe(job);
    }
    return () => {
      set!.delete(onMessage);
      if (set!.size === 0) this.subscriptions.delete(job);
    };
  }

  close(): void {
    this.closed = true;
    const err = new PavilionClientError('CLIENT_CLOSED', 'the socket was closed', 400);
    for (const p of [...this.inFlight.values(), ...this.queue]) p.reject(err);
    this.inFlight.clear();
    this.queue.length = 0;
    this.ws?.close(1000, 'client closed');
  }

  private sendSubscribe(job: string): void {
    const id = this.nextId++;
    this.subscribeCalls.set(id, {
      job,
      reject: (e) => {
        const set = this.subscriptions.get(job);
        this.subscriptions.delete(job);
        for (const fn of set ?? [])
          fn({ type: 'result', job, status: 'failed', code: (e as PavilionClientError).code });
      },
    });
    this.ws?.send(JSON.stringify({ type: 'subscribe', id, job }));
  }

  private async pump(): Promise<void> {
    if (this.queue.length === 0 || this.inFlight.size >= this.maxInFlight) return;
    try {
      await this.connect();
    } catch (err) {
      this.failAll(err);
      return;
    }
    while (this.queue.length > 0 && this.inFlight.size < this.maxInFlight && this.ws?.readyState === OPEN) {
      const p = this.queue.shift()!;
      p.id = this.nextId++;
      this.inFlight.set(p.id, p);
      this.ws.send(JSON.stringify({ ...p.message, id: p.id }));
    }
  }

  /** Opens and authenticates a connection, once; concurrent callers share it. */
  private connect(): Promise<void> {
    if (this.closed) return Promise.reject(new PavilionClientError('CLIENT_CLOSED', 'the socket was closed', 400));
    this.ready ??= this.open().catch((err) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async open(): Promise<void> {
    const token = await tokenOf(this.token);
    const Impl = await this.WebSocketImpl();
    await new Promise<void>((resolve, reject) => {
      const ws = new Impl(this.url);
      this.ws = ws;
      this.connections++;
      let authenticated = false;
      ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: token ?? '' }));
      ws.onerror = () => {};
      ws.onmessage = (ev) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data));
        } catch {
          return;
        }
        if (!authenticated) {
          if (msg.type === 'authenticated') {
            authenticated = true;
            this.failures = 0;
            resolve();
          } else if (msg.type === 'error') {
            // The broker answers nothing but its refusal of the token before `authenticated` (then closes
            // with 4401): one code for it, AUTH_FAILED, whichever AUTH_* the broker gave, so reconnect() stops.
            const refusal = new PavilionApiError(asProblem(msg.problem, 401));
            reject(
              new PavilionClientError('AUTH_FAILED', `the broker refused the token: ${refusal.message}`, 401, {
                cause: refusal,
              }),
            );
          }
          return;
        }
        this.onMessage(msg);
      };
      ws.onclose = (ev) => {
        if (!authenticated) {
          reject(
            ev.code === CLOSE_UNAUTHENTICATED
              ? new PavilionClientError('AUTH_FAILED', 'the broker refused the token on the WebSocket', 401)
              : new PavilionClientError('CONNECTION_LOST', 'the WebSocket closed before it was ready', 503),
          );
          return;
        }
        this.onDisconnect(ev.code);
      };
    });
  }

  private onMessage(msg: Record<string, unknown>): void {
    if (typeof msg.job === 'string' && (msg.type === 'progress' || msg.type === 'result')) {
      const set = this.subscriptions.get(msg.job);
      if (msg.type === 'result') this.subscriptions.delete(msg.job);
      for (const fn of set ?? []) fn(msg as JobMessage);
      return;
    }
    const id = typeof msg.id === 'number' ? msg.id : undefined;
    if (id === undefined) return;
    const sub = this.subscribeCalls.get(id);
    if (sub) {
      this.subscribeCalls.delete(id);
      if (msg.type === 'error') sub.reject(new PavilionApiError(asProblem(msg.problem, 400)));
      return;
    }
    const p = this.inFlight.get(id);
    if (!p) return;
    this.inFlight.delete(id);
    if (msg.type === 'result') p.resolve(msg);
    else {
      const problem = asProblem(msg.problem, 500);
      // The broker's in-flight limit is lower than ours, or it asks us to read first: wait, then ask again.
      if (problem.status === 429 && p.retries < 10) {
        p.retries++;
        setTimeout(() => {
          this.queue.unshift(p);
          void this.pump();
        }, 50 * p.retries);
      } else p.reject(new PavilionApiError(problem));
    }
    void this.pump();
  }

  private onDisconnect(code: number): void {
    this.ws = undefined;
    this.ready = undefined;
    this.subscribeCalls.clear();
    // What was on the wire goes first when the connection is back (at least once).
    this.queue.unshift(...[...this.inFlight.values()].sort((a, b) => a.id - b.id));
    this.inFlight.clear();
    if (this.closed) return;
    if (code === CLOSE_UNAUTHENTICATED) {
      this.failAll(
        new PavilionClientError('AUTH_FAILED', 'the broker ended the session (token expired or refused)', 401),
      );
      return;
    }
    if (this.queue.length === 0 && this.subscriptions.size === 0) return; // reconnect lazily on the next call
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    while (!this.closed) {
      if (this.failures >= this.maxReconnects) {
        this.failAll(new PavilionClientError('CONNECTION_LOST', `no connection after ${this.failures} attempts`, 503));
        return;
      }
      const delay = Math.min(5000, this.baseDelay * 2 ** this.failures++);
      await new Promise((r) => setTimeout(r, delay));
      try {
        await this.connect();
        for (const job of this.subscriptions.keys()) this.sendSubscribe(job);
        await this.pump();
        return;
      } catch (err) {
        if ((err as PavilionClientError).code === 'AUTH_FAILED') {
          this.failAll(err);
          return;
        }
      }
    }
  }

  private failAll(err: unknown): void {
    for (const p of [...this.inFlight.values(), ...this.queue]) p.reject(err);
    this.inFlight.clear();
    this.queue.length = 0;
    for (const [job, set] of this.subscriptions)
      for (const fn of set) fn({ type: 'result', job, status: 'failed', code: (err as PavilionClientError).code });
    this.subscriptions.clear();
  }
}
