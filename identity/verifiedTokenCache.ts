/**
 * Bounded cache of tokens that already passed full verification.
 *
 * Why: jose's ES256 verify costs ~167 µs of CPU on these machines, and
 * without this cache the whole box topped out near 8k rps (DESIGN.md,
 * performance notes); clients reuse one access token for many requests.
 *
 * Keyed by SHA-256 of the token string, not the token: the cache then never
 * holds a usable credential (a heap dump shows only digests) and keys are
 * 43 bytes whatever the token length. Entries carry their own deadline
 * (checked on every hit, see VerifiedTokenCache.get), so a hit never outlives
 * the token's `exp`.
 */
import { createHash } from 'node:crypto';
import type { Principal } from './principal.js';

export interface CachedVerification {
  readonly principal: Principal;
  /** After this instant (ms) the entry is re-verified from scratch (key rotation / revocation bound). */
  readonly recheckAfterMs: number;
}

export function tokenCacheKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Bounded cache with approximate-LRU eviction in two generations (the
 * "hashlru" scheme): new and recently used entries live in `young`; when
 * `young` fills half the capacity it becomes `old` and the previous `old` is
 * dropped whole. A hit in `old` moves the entry to `young`, so anything used
 * within the last half-capacity insertions survives.
 *
 * Why not the textbook Map LRU (delete + re-set on every hit): V8's ordered
 * hash table rehashes almost every time one key is deleted and re-appended in
 * a large Map. Measured here (Node 20): a hit cost 34–66 µs at 10k entries and
 * ~80 µs at 100k, against 0.02 µs for this scheme — a cache slower than the
 * ~167 µs verify it saves only by a factor of three.
 */
export class VerifiedTokenCache {
  private young = new Map<string, CachedVerification>();
  private old = new Map<string, CachedVerification>();
  private readonly generationSize: number;

  /** Holds at most `capacity` entries; 0 disables caching. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('cache capacity must be a non-negative integer');
    // young holds < generationSize, old <= generationSize: total <= capacity.
    this.generationSize = Math.ceil(capacity / 2);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: string): CachedVerification | undefined {
    const recent = this.young.get(key);
    if (recent !== undefined) return recent;
    const older = this.old.get(key);
    if (older !== undefined) {
      this.old.delete(key);
      this.addYoung(key, older);
    }
    return older;
  }

  set(key: string, entry: CachedVerification): void {
    if (this.capacity === 0) return;
    if (this.young.has(key)) {
      this.young.set(key, entry);
      return;
    }
    this.old.delete(key);
    this.addYoung(key, entry);
  }

  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private addYoung(key: string, entry: CachedVerification): void {
    this.young.set(key, entry);
    if (this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}
