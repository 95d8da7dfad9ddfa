/**
 * Bounded cache of tokens that already passed full verification.
 *
 * Why: jose's ES256 verify costs ~167 µs of CPU on these machines, and
 * without this cache the whole box topped out near 8k rps (docs/decisions.md, "The cache-hit path";
 * performance notes); clients reuse one access token for many requests.
 *
 * Keyed by SHA-256 of the token string, not the token: the cache then never
 * holds a usable credential (a heap dump shows only digests) and keys are
 * 43 bytes whatever the token length. Entries carry their own deadline
 * (checked on every hit, see VerifiedTokenCache.get), so a hit never outlives
 * the token's `exp`.
 */
import { hash } from 'node:crypto';
import { GenerationalCache } from '../common/generational-cache.js';
import type { Principal } from './principal.js';

export interface CachedVerification {
  readonly principal: Principal;
  /** After this instant (ms) the entry is re-verified from scratch (key rotation / revocation bound). */
  readonly recheckAfterMs: number;
}

export function tokenCacheKey(token: string): string {
  // One-shot crypto.hash: every request with a bearer token computes this, and the Hash object of
  // createHash().update().digest() cost more than the digest (1.2 µs against 2.2 µs; docs/decisions.md).
  return hash('sha256', token, 'base64url');
}

/** Verified tokens by tokenCacheKey; see common/generational-cache.ts for the eviction scheme. */
export class VerifiedTokenCache extends GenerationalCache<CachedVerification> {}
