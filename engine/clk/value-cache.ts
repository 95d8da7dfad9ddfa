/**
 * A feature's value cache: raw value -> the feature's bits for it, what
 * clkhash's lru_cache on the n-gram tuple gives it. Keys are record values
 * (personal data): the cache lives in the encoder's memory only and is
 * dropped with it.
 *
 * Layout, chosen for the memory it touches per lookup (a FEBRL record looks
 * up nine values in caches of up to ~5 MB each, far beyond a core's L2):
 *  - `index`: open addressing, two Int32 words a slot, [hash, entry]; the
 *    hash is FNV-1a over the value's UTF-16 units, never 0 (0: empty slot);
 *  - `slab`: the entries, one after another: [length, the value's UTF-16
 *    units two to a word, then `bitsWords` words of bits].
 * A hit reads one index slot and one entry, whose key and bits are adjacent.
 * The previous layout (a hash array, an array of key strings compared with
 * ===, a value array, the bits in a slab of their own) touched five places;
 * its probe was ~40% of encoding a FEBRL record (docs/decisions.md, "Encoding").
 */
export class ValueCache {
  /** Entries: see above. Bits are set through `slabBytes` (the same memory). */
  slab = new Uint32Array(0);
  slabBytes = new Uint8Array(0);
  /** Words of `slab` in use. */
  slabUsed = 0;
  size = 0;
  private index = new Int32Array(32);
  private mask = 15;
  /** Where findMany's reads go, so that they are not optimised away. */
  sink = 0;

  /** @param bitsWords words of bits per entry (the feature's working filter). */
  constructor(private readonly bitsWords: number) {}

  static hash(value: string): number {
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
    return h | 1;
  }

  /** Words an entry for a value of `length` UTF-16 units takes in the slab. */
  entryWords(length: number): number {
    return 1 + ((length + 1) >>> 1) + this.bitsWords;
  }

  /** Offset in `slab` of the bits cached for `value` (its hash: ValueCache.hash), or -1. */
  find(value: string, hash: number): number {
    const index = this.index;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = index[2 * i]!;
      if (h === 0) return -1;
      if (h === hash) {
        const at = index[2 * i + 1]!;
        if (this.holds(at, value)) return at + 1 + ((value.length + 1) >>> 1);
      }
    }
  }

  /**
   * find() for values[from ..], at most n of them, stopping before one that
   * is not a string: hashes[i] = its hash, found[i] = find's answer; returns
   * how many. Done in passes, so that the memory reads of many lookups are in
   * flight at once: the first reads each value's index slot, the second the
   * entries those slots name, with no branch on what was read (a branch on a
   * value still on its way from memory, mispredicted, stalls the core until it
   * comes), then find() runs on what is now in the core's caches.
   */
  findMany(values: readonly string[], from: number, n: number, hashes: Int32Array, found: Int32Array): number {
    const index = this.index;
    const mask = this.mask;
    let count = 0;
    for (; count < n; count++) {
      const value = values[from + count];
      if (typeof value !== 'string') break;
      const hash = ValueCache.hash(value);
      hashes[count] = hash;
      found[count] = index[2 * (hash & mask) + 1]!; // an entry, or 0 for an empty slot: entry 0 when there is one
    }
    if (this.slabUsed > 0) {
      const slab = this.slab;
      const half = this.bitsWords >>> 1;
      let sink = 0;
      for (let i = 0; i < count; i++) {
        const at = found[i]!;
        // Its first word, one in the middle and the last of its bits: every cache line of a 1,024-bit entry.
        sink ^= slab[at + half]! ^ slab[at + this.bitsWords + ((slab[at]! + 1) >>> 1)]!;
      }
      this.sink = sink;
    }
    for (let i = 0; i < count; i++) found[i] = this.find(values[from + i]!, hashes[i]!);
    return count;
  }

  /**
   * Adds `value`, which must not be present, with its bits zeroed; returns
   * their offset in `slab`. The slab grows by doubling up to `maxWords`;
   * -1 when the entry would not fit in that.
   */
  add(value: string, hash: number, maxWords: number): number {
    const length = value.length;
    const words = this.entryWords(length);
    const at = this.slabUsed;
    if (at + words > this.slab.length) {
      if (at + words > maxWords) return -1;
      const grown = new Uint32Array(Math.min(maxWords, Math.max(this.slab.length * 2, at + words, 1024)));
      grown.set(this.slab.subarray(0, at));
      this.slab = grown;
      this.slabBytes = new Uint8Array(grown.buffer);
    }
    const slab = this.slab;
    slab[at] = length;
    for (let i = 0; i < length; i += 2) {
      slab[at + 1 + (i >>> 1)] = value.charCodeAt(i) | (i + 1 < length ? value.charCodeAt(i + 1) << 16 : 0);
    }
    const bits = at + 1 + ((length + 1) >>> 1);
    slab.fill(0, bits, bits + this.bitsWords);
    this.slabUsed = at + words;
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    this.insert(hash, at);
    this.size++;
    return bits;
  }

  /** Index words in use per entry, at most (the index doubles when half full): for memory budgets. */
  static readonly INDEX_WORDS_PER_ENTRY = 8;

  clear(): void {
    this.slab = new Uint32Array(0);
    this.slabBytes = new Uint8Array(0);
    this.slabUsed = 0;
    this.index = new Int32Array(32);
    this.mask = 15;
    this.size = 0;
  }

  /** Whether the entry at `at` holds `value`. */
  private holds(at: number, value: string): boolean {
    const slab = this.slab;
    const length = value.length;
    if (slab[at] !== length) return false;
    for (let i = 0; i < length; i += 2) {
      const pair = value.charCodeAt(i) | (i + 1 < length ? value.charCodeAt(i + 1) << 16 : 0);
      if (slab[at + 1 + (i >>> 1)] !== pair >>> 0) return false;
    }
    return true;
  }

  private insert(hash: number, at: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = hash & mask;
    while (index[2 * i] !== 0) i = (i + 1) & mask;
    index[2 * i] = hash;
    index[2 * i + 1] = at;
  }

  private grow(): void {
    const old = this.index;
    this.index = new Int32Array(old.length * 2);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.insert(old[i]!, old[i + 1]!);
  }
}
