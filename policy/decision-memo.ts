import { GenerationalCache } from '../common/generational-cache.js';

/**
 * Memoized policy decisions. The policy is a pure function of its input (no
 * time, HTTP or random builtins in verification.rego), so a decision can be
 * reused for the lifetime of one loaded wasm. docs/decisions.md ("The cache-hit path"): memoizing decisions
 * per (subject, claims, policy version) was a cheap win in profiles.
 *
 * The key is the exact JSON text handed to the wasm (see canonicalInput in
 * index.ts), so everything the policy can read is in the key and nothing
 * else is: a memo hit can never answer a different question. The policy
 * version is implicit: each loaded Policy has its own memo.
 */
export class DecisionMemo<V> extends GenerationalCache<V> {
  hits = 0;
  misses = 0;

  override get(key: string): V | undefined {
    const v = super.get(key);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }
}
