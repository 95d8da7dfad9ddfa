/**
 * The verification result cache: an in-process LRU in front of an optional
 * Redis shared by all broker instances.
 *
 * Contract for the request path:
 * - `get` resolves the cached answer or undefined; it never rejects and never
 *   waits longer than Redis's command timeout (Redis down → an immediate miss).
 * - `set` validates its arguments synchronously (a bad TTL or value is a
 *   programming error and throws PavilionError) and returns a promise that
 *   never rejects; it need not be awaited.
 * - Answers come back deep-frozen: the same object may be handed to many
 *   requests, so a caller adding its receipt must copy (`{...answer, receipt}`).
 *
 * Redis values are compact JSON `[expiresAtEpochMs, answer]`: carrying the
 * expiry lets an answer found in Redis enter the LRU with its remaining TTL
 * (no extra PTTL round trip), so the LRU never outlives what the policy allowed.
 */
import { PavilionError } from '../common/errors.js';
import { datasetKeyPrefix, keyDatasetVersion } from './cache-key.js';
import { type RedisGetResult, RedisLayer, UNAVAILABLE } from './redis-layer.js';
import { TtlLru } from './ttl-lru.js';

export interface CacheStats {
  /** `get` calls that resolved an answer (from either layer). */
  hits: number;
  /** `get` calls that resolved undefined, including `degradedMisses`. */
  misses: number;
  /** Misses where Redis could not be asked or failed (the `error` result of the metric). */
  degradedMisses: number;
  lruHits: number;
  redisHits: number;
  /** Failed Redis commands (one per failed batch), timeouts included. */
  redisErrors: number;
  /** Writes that did not reach Redis (down, failed, or value over the size cap). */
  setsDropped: number;
  /** Redis connected and answering. Always false when no Redis is configured. */
  redisUp: boolean;
  redisConfigured: boolean;
  lruEntries: number;
  lruBytes: number;
}

export interface InvalidationResult {
  lruRemoved: number;
  redisRemoved: number;
  /** False when Redis was down or failed part-way: the rest expires by TTL. */
  redisComplete: boolean;
}

export interface VerificationCache<T extends object> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T, ttlSec: number): Promise<void>;
  /**
   * Drops cached answers of `datasetId` for every version older than
   * `keepVersion` (all versions when omitted). The LRU is purged before this
   * returns; the Redis SCAN+UNLINK runs on, and the promise reports it when
   * done. It rejects only for invalid arguments (PavilionError), never for Redis. Keys carry the version, so stale
   * answers are
   * never served meanwhile: this only frees memory.
   */
  invalidateDataset(datasetId: string, keepVersion?: number): Promise<InvalidationResult>;
  stats(): CacheStats;
  close(): Promise<void>;
}

export interface CreateCacheOptions {
  /** Redis connection URL (the server passes `process.env.REDIS_URL`); absent → LRU only. */
  redisUrl?: string;
  /** LRU bound by entry count (default 10 000). */
  lruEntries?: number;
  /** LRU bound by summed JSON size (default 64 MiB). */
  lruMaxBytes?: number;
  /** Called when Redis goes up or down, and once after startup. */
  onStatus?: (s: { redisUp: boolean }) => void;
  /** Bound on one Redis command (default 100 ms: a miss costs one Dice search, a few ms to tens of ms). */
  commandTimeoutMs?: number;
  /** Wait for the first connection at startup (default 1000 ms); later reconnects run in the background. */
  connectTimeoutMs?: number;
  /** Answers larger than this (JSON bytes) are not cached (default 64 KiB). */
  maxValueBytes?: number;
  /** Milliseconds wall clock; injectable for tests. */
  now?: () => number;
}

const MAX_TTL_SEC = 30 * 24 * 3600;

export async function createCache<T extends object = Record<string, unknown>>(
  opts: CreateCacheOptions = {},
): Promise<VerificationCache<T>> {
  const lruEntries = positiveInt('lruEntries', opts.lruEntries ?? 10_000);
  const lruMaxBytes = positiveInt('lruMaxBytes', opts.lruMaxBytes ?? 64 * 1024 * 1024);
  const maxValueBytes = positiveInt('maxValueBytes', opts.maxValueBytes ?? 64 * 1024);
  const commandTimeoutMs = positiveInt('commandTimeoutMs', opts.commandTimeoutMs ?? 100);
  const connectTimeoutMs = positiveInt('connectTimeoutMs', opts.connectTimeoutMs ?? 1000);
  const now = opts.now ?? Date.now;
  const onStatus = opts.onStatus;

  let redis: RedisLayer | undefined;
  if (opts.redisUrl !== undefined && opts.redisUrl !== '') {
    checkRedisUrl(opts.redisUrl);
    redis = await RedisLayer.open({
      url: opts.redisUrl,
      commandTimeoutMs,
      connectTimeoutMs,
      onStatus: (up) => onStatus?.({ redisUp: up }),
    });
  } else {
    onStatus?.({ redisUp: false });
  }
  return new LayeredCache<T>(
    new TtlLru<T>({ maxEntries: lruEntries, maxBytes: lruMaxBytes, now }),
    redis,
    maxValueBytes,
    now,
  );
}

interface Lookup<T> {
  value: T | undefined;
  degraded: boolean;
}

class LayeredCache<T extends object> implements VerificationCache<T> {
  private closed = false;
  private hits = 0;
  private misses = 0;
  private degradedMisses = 0;
  private lruHits = 0;
  private redisHits = 0;
  private oversizedSets = 0;

  constructor(
    private readonly lru: TtlLru<T>,
    private readonly redis: RedisLayer | undefined,
    private readonly maxValueBytes: number,
    private readonly now: () => number,
  ) {}

  get(key: string): Promise<T | undefined> {
    if (typeof key !== 'string' || this.closed) return this.miss(false);
    const cached = this.lru.get(key);
    if (cached !== undefined) {
      this.hits++;
      this.lruHits++;
      return Promise.resolve(cached);
    }
    if (this.redis === undefined) return this.miss(false);
    // Lookups of one key in the same loop turn share one MGET slot (the Redis
    // layer groups them); the first to resolve fills the LRU and the others
    // take the value from there instead of parsing it again.
    return this.redis.get(key).then((raw) => {
      const r = this.fromRedis(key, raw);
      if (r.value !== undefined) {
        this.hits++;
        this.redisHits++;
        return r.value;
      }
      this.misses++;
      if (r.degraded) this.degradedMisses++;
      return undefined;
    });
  }

  set(key: string, value: T, ttlSec: number): Promise<void> {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
      throw new PavilionError('CACHE_KEY_INVALID', 'cache key must be a non-empty string of at most 1024 characters');
    }
    if (typeof ttlSec !== 'number' || !(ttlSec >= 0 && ttlSec <= MAX_TTL_SEC)) {
      throw new PavilionError('CACHE_TTL_INVALID', `cache TTL must be a number of seconds in [0, ${MAX_TTL_SEC}]`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new PavilionError('CACHE_VALUE_INVALID', 'cached answer must be a plain JSON object');
    }
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      // BigInt or a cycle; the message names no values.
      throw new PavilionError('CACHE_VALUE_INVALID', 'cached answer is not JSON-serialisable', { cause: err });
    }
    const ttlMs = Math.round(ttlSec * 1000);
    // TTL 0 is the policy saying "do not cache".
    if (ttlMs < 1 || this.closed) return Promise.resolve();
    if (json.length > this.maxValueBytes) {
      this.oversizedSets++;
      return Promise.resolve();
    }
    const expiresAt = this.now() + ttlMs;
    // Stored as its JSON round trip, frozen: what a later get returns equals
    // what Redis would return, and no caller can alter another's answer.
    this.lru.set(key, deepFreeze(JSON.parse(json)) as T, expiresAt, json.length);
    if (this.redis === undefined) return Promise.resolve();
    return this.redis.set(key, `[${expiresAt},${json}]`, ttlMs);
  }

  async invalidateDataset(datasetId: string, keepVersion?: number): Promise<InvalidationResult> {
    if (keepVersion !== undefined && !(Number.isSafeInteger(keepVersion) && keepVersion >= 0)) {
      throw new PavilionError('CACHE_KEY_INVALID', 'keepVersion must be a non-negative safe integer');
    }
    const prefix = datasetKeyPrefix(datasetId);
    const stale = (key: string): boolean => {
      const v = keyDatasetVersion(key, prefix);
      return v !== undefined && (keepVersion === undefined || v < keepVersion);
    };
    const lruRemoved = this.lru.deleteWhere(stale);
    if (this.redis === undefined || this.closed)
      return { lruRemoved, redisRemoved: 0, redisComplete: this.redis === undefined };
    const r = await this.redis.scanDelete(prefix, stale);
    return { lruRemoved, redisRemoved: r.deleted, redisComplete: r.complete };
  }

  stats(): CacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      degradedMisses: this.degradedMisses,
      lruHits: this.lruHits,
      redisHits: this.redisHits,
      redisErrors: this.redis?.errors ?? 0,
      setsDropped: this.oversizedSets + (this.redis?.droppedSets ?? 0),
      redisUp: this.redis?.up ?? false,
      redisConfigured: this.redis !== undefined,
      lruEntries: this.lru.size,
      lruBytes: this.lru.totalBytes,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lru.clear();
    await this.redis?.close();
  }

  private miss(degraded: boolean): Promise<undefined> {
    this.misses++;
    if (degraded) this.degradedMisses++;
    return Promise.resolve(undefined);
  }

  private fromRedis(key: string, raw: RedisGetResult): Lookup<T> {
    if (raw === UNAVAILABLE) return { value: undefined, degraded: true };
    if (raw === null) return { value: undefined, degraded: false };
    // Filled by an earlier waiter for the same reply, or by a set() that landed
    // while this lookup was in flight (newer than what Redis returned).
    const current = this.closed ? undefined : this.lru.get(key);
    if (current !== undefined) return { value: current, degraded: false };
    const entry = parseStored(raw);
    if (entry === undefined || entry.expiresAt <= this.now()) return { value: undefined, degraded: false };
    const value = deepFreeze(entry.value) as T;
    if (!this.closed) this.lru.set(key, value, entry.expiresAt, raw.length);
    return { value, degraded: false };
  }
}

/** `[expiresAtEpochMs, answer]`; anything else (a foreign or corrupt value) reads as a miss. */
function parseStored(raw: string): { expiresAt: number; value: object } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
  const [expiresAt, value] = parsed as [unknown, unknown];
  if (typeof expiresAt !== 'number' || typeof value !== 'object' || value === null || Array.isArray(value))
    return undefined;
  return { expiresAt, value };
}

function deepFreeze<V>(v: V): V {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1)
    throw new PavilionError('CACHE_CONFIG_INVALID', `cache option ${name} must be a positive integer`);
  return v;
}

function checkRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL may carry a password: never echo it.
    throw new PavilionError('CACHE_CONFIG_INVALID', 'REDIS_URL is not a valid URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new PavilionError('CACHE_CONFIG_INVALID', 'REDIS_URL must use the redis: or rediss: scheme');
  }
}
