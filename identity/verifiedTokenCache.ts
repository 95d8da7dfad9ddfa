/**
 * Bounded LRU of tokens that already passed full verification.
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

export class VerifiedTokenCache {
  // A Map iterates in insertion order; re-inserting on a hit moves the entry
  // to the end, so the first key is always the least recently used.
  private readonly entries = new Map<string, CachedVerification>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('cache capacity must be a non-negative integer');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedVerification | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  set(key: string, entry: CachedVerification): void {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
