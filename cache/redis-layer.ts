/**
 * The Redis side of the verification cache: one ioredis connection, commands
 * batched per event-loop turn, and failure handling that never blocks or
 * throws into the request path.
 *
 * Batching: every GET asked during one loop turn goes out as one MGET, every
 * SET as one pipeline, flushed from `setImmediate` (after the poll phase that
 * delivered the turn's requests). Measured here against a loopback Redis 7
 * (test/cache/measure.ts, best of 3, noisy 2-core box): sequential GETs 21–25 µs
 * each (55–70 µs when the box was busier); auto-pipelined GETs (ioredis
 * enableAutoPipelining) 2.9–13 µs per key at 16–256 per turn; one MGET
 * 0.5–2.6 µs per key; through this cache (MGET + JSON parse + LRU fill)
 * 2.0–3.5 µs per key at 16–256 per turn. MGET also
 * dedupes a key asked twice in a turn for free.
 *
 * Failure: the offline queue is off and retries per request are 0, so while
 * disconnected a command fails at once instead of queueing; `commandTimeout`
 * bounds a command on a connection that is up but not answering; and after
 * `breakerFailures` consecutive failures the layer stops asking for
 * `breakerOpenMs` (a hung Redis would otherwise add a full timeout to every
 * miss). ioredis reconnects in the background with the backoff below.
 * Callers see UNAVAILABLE (treated as a miss) or a dropped write, never an error.
 */
import { Redis } from 'ioredis';

/** Returned by `get` when Redis could not answer (down, timed out, breaker open). */
export const UNAVAILABLE = Symbol('redis-unavailable');
export type RedisGetResult = string | null | typeof UNAVAILABLE;

export interface RedisLayerOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  onStatus: (up: boolean) => void;
  /** Consecutive failures that open the breaker (default 3). */
  breakerFailures?: number;
  /** How long an open breaker skips Redis before trying again (default 1000 ms). */
  breakerOpenMs?: number;
}

export interface ScanDeleteResult {
  deleted: number;
  /** False when Redis failed or went away part-way (the rest expires by TTL). */
  complete: boolean;
}

/** Keys per MGET / SETs per pipeline: bounds one reply's size and parse time. */
const MAX_BATCH = 512;
const SCAN_COUNT = 1000;

interface PendingSet {
  key: string;
  payload: string;
  ttlMs: number;
  done: () => void;
}

export class RedisLayer {
  private readonly redis: Redis;
  private readonly breakerFailures: number;
  private readonly breakerOpenMs: number;
  private readonly onStatus: (up: boolean) => void;
  private pendingGets = new Map<string, Array<(r: RedisGetResult) => void>>();
  private pendingSets: PendingSet[] = [];
  private flushScheduled = false;
  private consecutiveFailures = 0;
  private breakerOpenUntil = 0;
  private lastReportedUp: boolean | undefined;
  /** Status events during `open` are folded into the one report `open` makes. */
  private opened = false;
  private closed = false;
  /** Failed commands (a failed MGET of 40 keys counts once), including timeouts. */
  errors = 0;
  /** Writes not sent because Redis was unavailable, or that failed. */
  droppedSets = 0;

  private constructor(opts: RedisLayerOptions) {
    this.breakerFailures = opts.breakerFailures ?? 3;
    this.breakerOpenMs = opts.breakerOpenMs ?? 1000;
    this.onStatus = opts.onStatus;
    this.redis = new Redis(opts.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: opts.connectTimeoutMs,
      enableAutoPipelining: false, // batching is done here, as MGET and explicit pipelines
      // Reconnect forever, 50 ms doubling to 2 s, with jitter so several broker
      // instances do not reconnect in lockstep after a Redis restart.
      retryStrategy: (times) =>
        Math.round(Math.min(50 * 2 ** Math.min(times - 1, 6), 2000) * (0.8 + 0.4 * Math.random())),
      // A cache has nothing to resubscribe or replay after a reconnect.
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
    });
    // ioredis emits 'error' for every failed connection attempt; without a
    // listener Node would treat it as an uncaught error. The status events
    // below carry what we need; messages may hold host names, not logged here.
    this.redis.on('error', () => {});
    this.redis.on('ready', () => {
      this.consecutiveFailures = 0;
      this.breakerOpenUntil = 0;
      this.report();
    });
    this.redis.on('close', () => this.report());
    this.redis.on('end', () => this.report());
  }

  /**
   * Connects, waiting at most `connectTimeoutMs` for the first connection.
   * Resolves either way: when Redis is not there yet the layer starts in the
   * down state and keeps reconnecting in the background.
   */
  static async open(opts: RedisLayerOptions): Promise<RedisLayer> {
    const layer = new RedisLayer(opts);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      layer.redis.connect().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.connectTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    layer.opened = true;
    layer.report(true);
    return layer;
  }

  /** Connection ready and breaker closed. */
  get up(): boolean {
    return !this.closed && this.redis.status === 'ready' && Date.now() >= this.breakerOpenUntil;
  }

  get(key: string): Promise<RedisGetResult> {
    if (!this.up) return Promise.resolve(UNAVAILABLE);
    return new Promise((resolve) => {
      const waiters = this.pendingGets.get(key);
      if (waiters) waiters.push(resolve);
      else this.pendingGets.set(key, [resolve]);
      this.scheduleFlush();
    });
  }

  /** Resolves once Redis acknowledged or the write was dropped; never rejects. */
  set(key: string, payload: string, ttlMs: number): Promise<void> {
    if (!this.up) {
      this.droppedSets++;
      return Promise.resolve();
    }
    return new Promise((done) => {
      this.pendingSets.push({ key, payload, ttlMs, done });
      this.scheduleFlush();
    });
  }

  /**
   * SCAN MATCH `prefix*` and UNLINK (non-blocking delete) the keys `select`
   * picks, one SCAN page at a time so Redis is never blocked for long.
   * `prefix` must hold no glob characters (cache-key.ts guarantees that).
   */
  async scanDelete(prefix: string, select: (key: string) => boolean): Promise<ScanDeleteResult> {
    let deleted = 0;
    let cursor = '0';
    try {
      do {
        if (!this.up) return { deleted, complete: false };
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_COUNT);
        cursor = next;
        const doomed = keys.filter(select);
        if (doomed.length > 0) deleted += await this.redis.unlink(...doomed);
      } while (cursor !== '0');
      return { deleted, complete: true };
    } catch {
      this.failed();
      return { deleted, complete: false };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushNow();
    this.closed = true;
    const redis = this.redis;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      redis.quit().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 500);
      }),
    ]);
    clearTimeout(timer);
    redis.disconnect(false);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushNow());
  }

  private flushNow(): void {
    this.flushScheduled = false;
    if (this.pendingGets.size > 0) {
      const gets = this.pendingGets;
      this.pendingGets = new Map();
      const keys = [...gets.keys()];
      for (let i = 0; i < keys.length; i += MAX_BATCH) this.sendMget(keys.slice(i, i + MAX_BATCH), gets);
    }
    if (this.pendingSets.length > 0) {
      const sets = this.pendingSets;
      this.pendingSets = [];
      for (let i = 0; i < sets.length; i += MAX_BATCH) this.sendSets(sets.slice(i, i + MAX_BATCH));
    }
  }

  private sendMget(keys: string[], waiters: Map<string, Array<(r: RedisGetResult) => void>>): void {
    const settle = (pick: (i: number) => RedisGetResult) => {
      for (let i = 0; i < keys.length; i++) {
        const r = pick(i);
        for (const resolve of waiters.get(keys[i]!)!) resolve(r);
      }
    };
    if (!this.up) {
      settle(() => UNAVAILABLE);
      return;
    }
    this.redis.mget(keys).then(
      (values) => {
        this.succeeded();
        settle((i) => values[i] ?? null);
      },
      () => {
        this.failed();
        settle(() => UNAVAILABLE);
      },
    );
  }

  private sendSets(sets: PendingSet[]): void {
    const finish = () => {
      for (const s of sets) s.done();
    };
    if (!this.up) {
      this.droppedSets += sets.length;
      finish();
      return;
    }
    const pipeline = this.redis.pipeline();
    for (const s of sets) pipeline.set(s.key, s.payload, 'PX', s.ttlMs);
    pipeline.exec().then(
      (results) => {
        const failures = results ? results.filter(([err]) => err !== null).length : sets.length;
        if (failures > 0) {
          this.droppedSets += failures;
          this.failed();
        } else this.succeeded();
        finish();
      },
      () => {
        this.droppedSets += sets.length;
        this.failed();
        finish();
      },
    );
  }

  private succeeded(): void {
    this.consecutiveFailures = 0;
  }

  private failed(): void {
    this.errors++;
    if (++this.consecutiveFailures >= this.breakerFailures) {
      this.consecutiveFailures = 0;
      this.breakerOpenUntil = Date.now() + this.breakerOpenMs;
      this.report();
      // Report the breaker closing again even if no request comes to notice it.
      setTimeout(() => this.report(), this.breakerOpenMs + 1).unref();
    }
  }

  private report(force = false): void {
    // Nothing before open() has settled, and no "down" noise from our own close().
    if (!this.opened || this.closed) return;
    const up = this.up;
    if (!force && up === this.lastReportedUp) return;
    this.lastReportedUp = up;
    try {
      this.onStatus(up);
    } catch {
      // A faulty status listener must not break the cache.
    }
  }
}
