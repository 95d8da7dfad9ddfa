/**
 * Memoized policy decisions. The policy is a pure function of its input (no
 * time, HTTP or random builtins in verification.rego), so a decision can be
 * reused for the lifetime of one loaded wasm. DESIGN.md: memoizing decisions
 * per (subject, claims, policy version) was a cheap win in profiles.
 *
 * The key is the exact JSON text handed to the wasm (see canonicalInput in
 * index.ts), so everything the policy can read is in the key and nothing
 * else is: a memo hit can never answer a different question. The policy
 * version is implicit: each loaded Policy has its own memo.
 */
export class DecisionMemo<V> {
  private readonly entries = new Map<string, V>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('memo capacity must be a non-negative integer');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}
