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
  // Two generations, not a delete-and-re-set Map LRU: in V8 that pattern
  // rehashes the table on nearly every hit once the Map is large (measured
  // here: 34–66 µs per hit at 10k entries, more than evaluating the policy).
  // Recent entries live in `young`; when it holds half the capacity it
  // becomes `old` and the previous `old` is dropped; a hit in `old` moves the
  // entry back to `young`. Same scheme as identity/verifiedTokenCache.ts.
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly generationSize: number;
  hits = 0;
  misses = 0;

  /** Holds at most `capacity` entries; 0 disables the memo. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('memo capacity must be a non-negative integer');
    this.generationSize = Math.ceil(capacity / 2);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: string): V | undefined {
    let v = this.young.get(key);
    if (v === undefined) {
      v = this.old.get(key);
      if (v !== undefined) {
        this.old.delete(key);
        this.addYoung(key, v);
      }
    }
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  set(key: string, value: V): void {
    if (this.capacity === 0) return;
    if (this.young.has(key)) {
      this.young.set(key, value);
      return;
    }
    this.old.delete(key);
    this.addYoung(key, value);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private addYoung(key: string, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}
