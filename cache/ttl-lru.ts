/**
 * Bounded in-process LRU with per-entry expiry: the layer in front of Redis.
 *
 * docs/decisions.md ("The cache-hit path") records the cache-hit verification path losing ~30% throughput
 * when every hit went to Redis, so hits are answered from here first. A Map
 * keeps insertion order, so re-inserting on access makes its first key the
 * least recently used one: O(1) get, set and eviction without a linked list.
 *
 * Bounded twice: by entry count and by the summed size of the stored JSON
 * (values are size-capped by the caller, but 10k entries of a large answer
 * would still be a lot of heap).
 */
export interface TtlLruOptions {
  maxEntries: number;
  maxBytes: number;
  /** Milliseconds clock; injectable for tests. */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
  bytes: number;
}

export class TtlLru<V> {
  private readonly map = new Map<string, Entry<V>>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private bytes = 0;

  constructor(opts: TtlLruOptions) {
    this.maxEntries = opts.maxEntries;
    this.maxBytes = opts.maxBytes;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.map.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.now()) {
      this.remove(key, e);
      return undefined;
    }
    // Re-insert: moves the key to the most-recently-used end.
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** True when a live entry exists; does not touch recency. */
  has(key: string): boolean {
    const e = this.map.get(key);
    return e !== undefined && e.expiresAt > this.now();
  }

  /** `bytes` is the caller's size estimate for the value (its JSON length). */
  set(key: string, value: V, expiresAt: number, bytes: number): void {
    if (bytes > this.maxBytes || expiresAt <= this.now()) {
      // Would evict everything, or is dead on arrival: keep the old entry out too.
      this.delete(key);
      return;
    }
    const old = this.map.get(key);
    if (old !== undefined) this.remove(key, old);
    this.map.set(key, { value, expiresAt, bytes });
    this.bytes += bytes;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.remove(oldest.value, this.map.get(oldest.value)!);
    }
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (e === undefined) return false;
    this.remove(key, e);
    return true;
  }

  /** Deletes every key the predicate selects; returns how many. O(size). */
  deleteWhere(select: (key: string) => boolean): number {
    let n = 0;
    for (const [key, e] of this.map) {
      if (select(key)) {
        this.remove(key, e);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  private remove(key: string, e: Entry<V>): void {
    this.map.delete(key);
    this.bytes -= e.bytes;
  }
}
