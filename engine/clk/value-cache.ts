/**
 * A feature's value cache: raw value -> the feature's bits for it, what
 * clkhash's lru_cache on the n-gram tuple gives it. Keys are record values
 * (personal data): the cache lives in the encoder's memory only and is
 * dropped with it.
 *
 * Keys are bytes: a value as UTF-8, as a CSV file holds it, so a value read
 * from a file is found without a string ever being built for it
 * (engine/clk/csv.ts scanUnquoted). A string's key is its WTF-8 (UTF-8, and a
 * lone surrogate as its own three bytes, which no valid UTF-8 has), read
 * from the string as it is hashed and compared: two different strings never
 * share a key, and a string and the bytes of the same text find one entry.
 *
 * Layout, chosen for the memory it touches per lookup (a FEBRL record looks
 * up nine values in caches of up to ~5 MB each, far beyond a core's L2):
 *  - `index`: open addressing, two Int32 words a slot, [hash, entry]; the
 *    hash is FNV-1a over the key's bytes, never 0 (0: empty slot);
 *  - `slab`: the entries, one after another: [byte length, the key's bytes
 *    four to a word, then `bitsWords` words of bits].
 * A hit reads one index slot and one entry, whose key and bits are adjacent.
 * The previous layout (a hash array, an array of key strings compared with
 * ===, a value array, the bits in a slab of their own) touched five places;
 * its probe was ~40% of encoding a FEBRL record (docs/decisions.md, "Encoding").
 */
/**
 * Keys to look up, as the encoder hands them over. Key k is `strings[k]` when `strings` is given;
 * else bytes[bounds[k * stride + column], bounds[k * stride + column + 1] - 1) (one separator byte
 * between neighbours, the layout of a CSV record's fields). Strings are read as they are, not copied to
 * bytes first: that copy cost encoding from strings 13% (docs/decisions.md, "Encoding").
 */
export interface KeyColumn {
  readonly bytes: Uint8Array;
  readonly bounds: Int32Array;
  readonly stride: number;
  readonly column: number;
  readonly strings: readonly string[] | null;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

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

  /** FNV-1a over the key's bytes, never 0. */
  static hash(keys: KeyColumn, k: number): number {
    if (keys.strings !== null) return hashString(keys.strings[k]!);
    const b = k * keys.stride + keys.column;
    return hashBytes(keys.bytes, keys.bounds[b]!, keys.bounds[b + 1]! - 1);
  }

  /** Bytes of key k. */
  static keyLength(keys: KeyColumn, k: number): number {
    if (keys.strings === null) {
      const b = k * keys.stride + keys.column;
      return keys.bounds[b + 1]! - 1 - keys.bounds[b]!;
    }
    const value = keys.strings[k]!;
    for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return wtf8Length(value);
    return value.length;
  }

  /** Words an entry for a key of `length` bytes takes in the slab. */
  entryWords(length: number): number {
    return 1 + ((length + 3) >>> 2) + this.bitsWords;
  }

  /** Offset in `slab` of the bits cached for key k (its hash: ValueCache.hash), or -1. */
  find(keys: KeyColumn, k: number, hash: number): number {
    if (keys.strings !== null) return this.findString(keys.strings[k]!, hash);
    const b = k * keys.stride + keys.column;
    return this.findBytes(keys.bytes, keys.bounds[b]!, keys.bounds[b + 1]! - 1, hash);
  }

  /**
   * find() for keys [from, from + n): hashes[i] = its hash, found[i] = find's answer. Done in passes, so
   * that the memory reads of many lookups are in flight at once: the first reads each key's index slot,
   * the second the entries those slots name, with no branch on what was read (a branch on a value still
   * on its way from memory, mispredicted, stalls the core until it comes), then find() runs on what is
   * now in the core's caches. Strings and bytes have loops of their own: one loop for both, branching per
   * key, made encoding a FEBRL file 8% slower.
   */
  findMany(keys: KeyColumn, from: number, n: number, hashes: Int32Array, found: Int32Array): void {
    const index = this.index;
    const mask = this.mask;
    const { strings, bytes, bounds, stride } = keys;
    if (strings !== null) {
      for (let i = 0; i < n; i++) hashes[i] = hashString(strings[from + i]!);
    } else {
      for (let i = 0, b = from * stride + keys.column; i < n; i++, b += stride)
        hashes[i] = hashBytes(bytes, bounds[b]!, bounds[b + 1]! - 1);
    }
    // An entry, or 0 for an empty slot: entry 0 when there is one.
    for (let i = 0; i < n; i++) found[i] = index[2 * (hashes[i]! & mask) + 1]!;
    if (this.slabUsed > 0) {
      const slab = this.slab;
      const half = this.bitsWords >>> 1;
      let sink = 0;
      for (let i = 0; i < n; i++) {
        const at = found[i]!;
        // Its first word, one in the middle and the last of its bits: every cache line of a 1,024-bit entry.
        sink ^= slab[at + half]! ^ slab[at + this.bitsWords + ((slab[at]! + 3) >>> 2)]!;
      }
      this.sink = sink;
    }
    if (strings !== null) {
      for (let i = 0; i < n; i++) found[i] = this.findString(strings[from + i]!, hashes[i]!);
    } else {
      for (let i = 0, b = from * stride + keys.column; i < n; i++, b += stride)
        found[i] = this.findBytes(bytes, bounds[b]!, bounds[b + 1]! - 1, hashes[i]!);
    }
  }

  /** find() for bytes; findString is the same probe with the string's compare (one each, see findMany). */
  private findBytes(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const index = this.index;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = index[2 * i]!;
      if (h === 0) return -1;
      if (h === hash) {
        const at = index[2 * i + 1]!;
        if (this.holdsBytes(at, bytes, start, end)) return at + 1 + ((end - start + 3) >>> 2);
      }
    }
  }

  private findString(value: string, hash: number): number {
    const index = this.index;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = index[2 * i]!;
      if (h === 0) return -1;
      if (h === hash) {
        const at = index[2 * i + 1]!;
        if (this.holdsString(at, value)) return at + 1 + ((this.slab[at]! + 3) >>> 2);
      }
    }
  }

  /**
   * Adds key k, which must not be present, with its bits zeroed; returns their offset in `slab`. The
   * slab grows by doubling up to `maxWords`; -1 when the entry would not fit in that.
   */
  add(keys: KeyColumn, k: number, hash: number, maxWords: number, length = ValueCache.keyLength(keys, k)): number {
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
    const bits = at + 1 + ((length + 3) >>> 2);
    // The key's last word is zeroed first: its bytes after the key are never compared, but stay defined.
    slab[bits - 1] = 0;
    const slabBytes = this.slabBytes;
    if (keys.strings !== null) writeWtf8(keys.strings[k]!, slabBytes, (at + 1) * 4);
    else {
      const b = k * keys.stride + keys.column;
      const { bytes, bounds } = keys;
      for (let i = bounds[b]!, end = bounds[b + 1]! - 1, to = (at + 1) * 4; i < end; i++, to++)
        slabBytes[to] = bytes[i]!;
    }
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

  /** Whether the entry at `at` holds the key bytes[start .. end). */
  private holdsBytes(at: number, bytes: Uint8Array, start: number, end: number): boolean {
    if (this.slab[at] !== end - start) return false;
    const slabBytes = this.slabBytes;
    for (let i = start, k = (at + 1) * 4; i < end; i++, k++) if (slabBytes[k] !== bytes[i]) return false;
    return true;
  }

  /** Whether the entry at `at` holds `value`, as WTF-8. */
  private holdsString(at: number, value: string): boolean {
    const slabBytes = this.slabBytes;
    const from = (at + 1) * 4;
    const length = this.slab[at]!;
    // ASCII, a byte a unit, in a loop of its own (see hashString); at a unit of more bytes, holdsWtf8.
    if (length !== value.length) return holdsWtf8(slabBytes, from, from + length, value);
    for (let i = 0; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return holdsWtf8(slabBytes, from, from + length, value);
      if (slabBytes[from + i] !== c) return false;
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

function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h | 1;
}

/** hashBytes of the string's WTF-8, without writing it. */
function hashString(value: string): number {
  // ASCII, nearly every value, in a loop of its own: the general one cost encoding record by record 15%.
  let h = FNV_OFFSET;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) return hashWtf8(value, i, h);
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return h | 1;
}

/** Bytes of `value` in WTF-8. */
function wtf8Length(value: string): number {
  let length = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) length++;
    else {
      const cp = codePointAt(value, i, c);
      if (cp > 0xffff) i++;
      length += wtf8Size(cp);
    }
  }
  return length;
}

/** Whether slabBytes[to .. end) is the WTF-8 of `value`. */
function holdsWtf8(slabBytes: Uint8Array, to: number, end: number, value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) {
      if (to >= end || slabBytes[to++] !== c) return false;
    } else {
      const cp = codePointAt(value, i, c);
      if (cp > 0xffff) i++;
      for (let n = wtf8Size(cp), j = 0; j < n; j++)
        if (to >= end || slabBytes[to++] !== wtf8Byte(cp, n, j)) return false;
    }
  }
  return to === end;
}

/** hashString from unit `from` on, `h` the hash of the units before it. */
function hashWtf8(value: string, from: number, h: number): number {
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) h = Math.imul(h ^ c, FNV_PRIME);
    else {
      const cp = codePointAt(value, i, c);
      if (cp > 0xffff) i++;
      for (let n = wtf8Size(cp), j = 0; j < n; j++) h = Math.imul(h ^ wtf8Byte(cp, n, j), FNV_PRIME);
    }
  }
  return h | 1;
}

/** The code point at value[i] (whose unit is c >= 0x80): a surrogate pair's, else the unit itself. */
function codePointAt(value: string, i: number, c: number): number {
  if (c >= 0xd800 && c < 0xdc00 && i + 1 < value.length) {
    const low = value.charCodeAt(i + 1);
    if (low >= 0xdc00 && low < 0xe000) return 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
  }
  return c;
}

/** Bytes of code point (or lone surrogate) cp in WTF-8. */
function wtf8Size(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** Byte j of the n bytes of cp in WTF-8 (UTF-8, where a lone surrogate is written as any other unit). */
function wtf8Byte(cp: number, n: number, j: number): number {
  if (n === 1) return cp;
  const shift = 6 * (n - 1 - j);
  if (j === 0) return ((0xf00 >>> n) & 0xff) | (cp >>> shift);
  return 0x80 | ((cp >>> shift) & 0x3f);
}

/**
 * Writes `value` at out[at ..] as WTF-8 (UTF-8, with each lone surrogate as the three bytes of its code
 * unit, which no valid UTF-8 holds) and returns the end. Hand-written: Buffer.write and TextEncoder replace
 * a lone surrogate by U+FFFD, which would give '\ud800' and '\ufffd' one key.
 */
export function writeWtf8(value: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) out[at++] = c;
    else {
      const cp = codePointAt(value, i, c);
      if (cp > 0xffff) i++;
      for (let n = wtf8Size(cp), j = 0; j < n; j++) out[at++] = wtf8Byte(cp, n, j);
    }
  }
  return at;
}
