/**
 * Bounded cache with approximate-LRU eviction in two generations (the
 * "hashlru" scheme): new and recently used entries live in `young`; when
 * `young` fills half the capacity it becomes `old` and the previous `old` is
 * dropped whole. A hit in `old` moves the entry to `young`, so anything used
 * within the last half-capacity insertions survives.
 *
 * Why not the textbook Map LRU (delete + re-set on every hit): in V8 that
 * pattern can make the ordered hash table rehash on many hits once the Map is
 * large (seen here on Node 20 while building identity/ and policy/: tens of
 * µs per hit at 10k entries for some access patterns), while this scheme
 * costs two Map lookups at most.
 */
export class GenerationalCache<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly generationSize: number;

  /** Holds at most `capacity` entries; 0 disables caching. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError('cache capacity must be a non-negative integer');
    // young holds < generationSize, old <= generationSize: total <= capacity.
    this.generationSize = Math.ceil(capacity / 2);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: string): V | undefined {
    const recent = this.young.get(key);
    if (recent !== undefined) return recent;
    const older = this.old.get(key);
    if (older !== undefined) {
      this.old.delete(key);
      this.addYoung(key, older);
    }
    return older;
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

  delete(key: string): void {
    this.young.delete(key);
    this.old.delete(key);
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
