/**
 * CLK (cryptographic long-term key) encoder, bit-identical to clkhash 0.18.3
 * for linkage schema v3 (bloomfilter.crypto_bloom_filter):
 *   for each non-ignored feature: prepare the value, tokenise, give token i
 *   k_i bits (strategy) and set them in a filter of L = l * 2^xor_folds bits
 *   (doubleHash or blakeHash); OR over features; XOR-fold xor_folds times;
 *   bit i is MSB-first (byte i >> 3, mask 0x80 >> (i & 7)).
 *
 * Speed (DESIGN.md): the vocabulary of tokens is small (bigrams of names,
 * dates, postcodes), so each feature keeps two bounded caches:
 *  - value -> the feature's bits (a 1024-bit bitmap is 32 word ORs), which
 *    is what clkhash's lru_cache on the n-gram tuple does;
 *  - token -> hash result (doubleHash pair, or blakeHash positions), so a
 *    new value mostly costs lookups; the misses of one value are hashed in
 *    one call into the wasm kernel.
 * Cached results live in per-feature Uint32Array slabs and Maps of numbers:
 * no typed array or object per token or per value (allocation and GC were
 * the largest cost of a cold pass). Measured in bench/encoding.ts.
 *
 * The caches hold values and tokens (personal data) in this worker's memory
 * only; dispose() drops them. Nothing here logs values: errors name the
 * feature and the rule.
 */
import { PavilionError } from '../../common/errors.js';
import { GramTable } from './gram-table.js';
import { createFeatureHasher, type FeatureHasher, type HashBackendName } from './hashing.js';
import { deriveFeatureKeys } from './keys.js';
import { prepareValue } from './prepare.js';
import { type HashedFeature, type LinkageSchema, parseSchema } from './schema.js';
import { bitsForToken, encodeToken, tokenize } from './tokens.js';

export interface ClkEncoderOptions {
  /** Token hashing backend: 'wasm' (default) or 'node' (node:crypto, for differential tests). */
  hashBackend?: HashBackendName;
  /** Upper bound on cached (feature, token) entries; the caches are cleared when it is reached. Default 2^17. */
  cacheEntries?: number;
  /**
   * Memory budget in bytes, over all features, for the per-value cache (raw
   * value -> the feature's bits). Default 16 MiB. 0 disables it.
   */
  valueCacheBytes?: number;
}

/** a * 2^26 + b packs a doubleHash pair exactly (a, b < L <= 2^26, sum < 2^52). */
const PAIR_SHIFT = 2 ** 26;

interface FeatureState {
  readonly feature: HashedFeature;
  readonly hasher: FeatureHasher;
  /**
   * Token -> hash result. doubleHash: the pair packed as a * 2^26 + b.
   * blakeHash: an offset into `tokenSlab`, where slab[offset] = count and
   * the next `count` words are the positions (u16 mod L), 32 per BLAKE2b call.
   * (Numbers only: a typed array per token made allocation the main cost of
   * a cache miss.)
   */
  readonly cache: Map<string, number>;
  /**
   * Positional n-grams: one cache per position keyed by the bare gram, so a
   * lookup needs no "i gram" string (built only to hash a miss).
   */
  readonly positional: Array<Map<string, number>>;
  /**
   * n of an n-gram comparison with n <= 2, else 0: such grams of a value
   * without surrogates are looked up by number in `grams` (one table per
   * position when positional, else grams[0]), building no string on a hit.
   */
  readonly gramN: number;
  readonly grams: GramTable[];
  tokenSlab: Uint32Array;
  tokenSlabUsed: number;
  readonly isPositional: boolean;
  /**
   * Raw value -> the feature's bits for it (what clkhash's lru_cache on the
   * n-gram tuple gives it). Valid because the bits depend only on the value:
   * invalid values throw before being cached.
   */
  readonly values: Map<string, number>;
  /**
   * Storage for the cached bits, one growing Uint32Array per feature (no
   * typed array per entry: allocation and GC were a third of a cold pass).
   * An entry e >= 0 is a whole-filter bitmap at slab[e .. e + words) (ORed
   * word by word: 32 ORs instead of 200 bit sets for 200 bits in 1024);
   * e < 0 is a position list at slab[~e] = count, followed by the positions.
   */
  slab: Uint32Array;
  slabUsed: number;
  /**
   * Whether `values` is used. A feature whose values rarely repeat (street
   * names, dates of birth) pays for storing each value's bits and evicting
   * them again and gains nothing: valueWindow() turns its cache off, and on
   * again for a trial now and then (files can be sorted).
   */
  valueCaching: boolean;
  windowSeen: number;
  windowHits: number;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Values per decision whether a feature's value cache pays; the cache stays on if ≥ 1 in 4 of them were hits. */
const VALUE_WINDOW = 4096;
/** Values a feature encodes with its value cache off before it is tried again. */
const VALUE_CACHE_PAUSE = 65_536;

/** Rough per-entry cost of a Map entry and its key, in slab words, for the budget. */
const VALUE_ENTRY_OVERHEAD_WORDS = 24;

const releaseSlots = new FinalizationRegistry<FeatureHasher[]>((hashers) => {
  for (const h of hashers) h.release();
});

export function clkToBase64(clk: Uint8Array): string {
  return Buffer.from(clk.buffer, clk.byteOffset, clk.byteLength).toString('base64');
}

export class ClkEncoder {
  readonly schema: LinkageSchema;
  /** CLK length in bits (clkConfig.l). */
  readonly filterBits: number;
  /** Bytes per CLK: ceil(filterBits / 8) (bitarray pads the last byte with zeros). */
  readonly filterBytes: number;
  /** Feature identifiers in schema order, ignored ones included: the column order of `row`. */
  readonly featureNames: readonly string[];
  readonly hashBackend: HashBackendName;

  private readonly states: FeatureState[];
  private readonly hashBits: number;
  private readonly work: Uint8Array;
  /** The same buffer as 32-bit words (length padded to whole words). */
  private readonly workWords: Uint32Array;
  /** work[0 .. filterBytes), made once (a subarray per record showed up in profiles). */
  private readonly workHead: Uint8Array;
  private readonly cacheLimit: number;
  private cached = 0;
  private disposed = false;
  // Scratch reused for every record (no per-record arrays in the hot loop).
  private readonly tokens: string[] = [];
  private missTokens: string[] = [];
  private missIndex = new Int32Array(256);
  /** Token i's gram key when the current value was looked up by number (lookupGrams), else unused. */
  private tokenKeys = new Float64Array(256);
  /** Whether the current value was looked up by gram key, and the value (its grams are built from it on a miss). */
  private gramLookup = false;
  private gramValue = '';
  /** Misses of the current value's lookup. */
  private misses = 0;
  private pairs = new Uint32Array(512);
  /** Per token of the current value: its cache entry, or -1 for a miss. */
  private resolved = new Float64Array(256);
  private blakeOut = new Uint8Array(64 * 256);
  private positions = new Uint32Array(4096);
  private readonly valueBudget: number;

  static create(schema: unknown, secret: string | Uint8Array, options: ClkEncoderOptions = {}): ClkEncoder {
    // A schema already returned by parseSchema is used as is.
    return new ClkEncoder(parseSchema(schema), secret, options);
  }

  private constructor(schema: LinkageSchema, secret: string | Uint8Array, options: ClkEncoderOptions) {
    const secretBytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (!(secretBytes instanceof Uint8Array) || secretBytes.length === 0) {
      throw new PavilionError('SECRET_EMPTY', 'the linkage secret must not be empty');
    }
    this.schema = schema;
    this.filterBits = schema.l;
    this.filterBytes = Math.ceil(schema.l / 8);
    this.featureNames = schema.features.map((f) => f.identifier);
    this.hashBackend = options.hashBackend ?? 'wasm';
    this.cacheLimit = options.cacheEntries ?? 2 ** 17;
    const hashedCount = schema.features.filter((f) => f.kind === 'hashed').length;
    this.valueBudget = hashedCount > 0 ? Math.floor((options.valueCacheBytes ?? 2 ** 24) / hashedCount) : 0;
    this.hashBits = schema.l * 2 ** schema.xorFolds;
    this.workWords = new Uint32Array(Math.ceil(this.hashBits / 32));
    this.work = new Uint8Array(this.workWords.buffer);
    this.workHead = this.work.subarray(0, this.filterBytes);
    const keys = deriveFeatureKeys(schema.kdf, secretBytes, schema.features.length);
    this.states = [];
    for (const f of schema.features) {
      if (f.kind !== 'hashed') continue;
      const [key0, key1] = keys[f.index]!;
      const hasher = createFeatureHasher(this.hashBackend, {
        key0,
        key1,
        hash: f.hash.type,
        encoding: f.encoding,
        modulus: this.hashBits,
      });
      const isPositional = f.comparison.type === 'ngram' && f.comparison.positional;
      const gramN = f.comparison.type === 'ngram' && f.comparison.n <= 2 ? f.comparison.n : 0;
      this.states.push({
        feature: f,
        hasher,
        cache: new Map(),
        positional: [],
        gramN,
        grams: [],
        valueCaching: this.valueBudget > 0,
        windowSeen: 0,
        windowHits: 0,
        isPositional,
        tokenSlab: new Uint32Array(0),
        tokenSlabUsed: 0,
        values: new Map(),
        slab: new Uint32Array(0),
        slabUsed: 0,
      });
    }
    releaseSlots.register(
      this,
      this.states.map((s) => s.hasher),
      this,
    );
  }

  /** Encodes one CSV row (schema.features order, ignored columns included). */
  encode(row: readonly string[]): Uint8Array {
    const out = new Uint8Array(this.filterBytes);
    this.encodeInto(row, out, 0);
    return out;
  }

  /** Encodes a record keyed by feature identifier; ignored features may be absent. */
  encodeRecord(record: Record<string, string>): Uint8Array {
    if (typeof record !== 'object' || record === null)
      throw new PavilionError('RECORD_INVALID', 'record must be an object');
    const row = this.schema.features.map((f) => {
      const v = Object.hasOwn(record, f.identifier) ? record[f.identifier] : undefined;
      if (v === undefined) {
        if (f.kind === 'ignored') return '';
        throw new PavilionError('RECORD_INVALID', `feature '${f.identifier}': missing from record`);
      }
      return v;
    });
    return this.encode(row);
  }

  /**
   * Encodes rows into one buffer, filterBytes per row, in order. Errors name
   * the row index, counted from `firstRow` (the position of rows[0] in the
   * caller's whole list when it arrives in slices).
   */
  encodeMany(rows: readonly (readonly string[])[], firstRow = 0): Uint8Array {
    const out = new Uint8Array(rows.length * this.filterBytes);
    for (let i = 0; i < rows.length; i++) {
      try {
        this.encodeInto(rows[i]!, out, i * this.filterBytes);
      } catch (e) {
        if (e instanceof PavilionError) throw new PavilionError(e.code, `row ${firstRow + i}: ${e.message}`, e.status);
        throw e;
      }
    }
    return out;
  }

  /** Encodes `row` into out[offset .. offset + filterBytes). */
  encodeInto(row: readonly string[], out: Uint8Array, offset: number): void {
    if (this.disposed) throw new PavilionError('ENCODER_DISPOSED', 'this CLK encoder was disposed', 500);
    if (!Array.isArray(row) || row.length !== this.featureNames.length) {
      throw new PavilionError(
        'RECORD_FIELD_COUNT',
        `record has ${Array.isArray(row) ? row.length : 'no'} fields, the schema has ${this.featureNames.length}`,
      );
    }
    const work = this.work;
    const words = this.workWords;
    words.fill(0);
    const states = this.states;
    for (let s = 0; s < states.length; s++) {
      const st = states[s]!;
      const f = st.feature;
      const raw = row[f.index];
      if (typeof raw !== 'string')
        throw new PavilionError('RECORD_INVALID', `feature '${f.identifier}': value must be a string`);
      if (++st.windowSeen >= (st.valueCaching ? VALUE_WINDOW : VALUE_CACHE_PAUSE)) this.valueWindow(st);
      if (st.valueCaching) {
        const entry = st.values.get(raw);
        if (entry !== undefined) {
          st.windowHits++;
          const slab = st.slab;
          if (entry >= 0) {
            for (let w = 0; w < words.length; w++) words[w]! |= slab[entry + w]!;
          } else {
            const start = ~entry;
            const end = start + 1 + slab[start]!;
            for (let i = start + 1; i < end; i++) {
              const pos = slab[i]!;
              work[pos >>> 3]! |= 0x80 >>> (pos & 7);
            }
          }
          continue;
        }
      }
      const value = prepareValue(f, raw);
      const t = st.gramN > 0 ? this.lookupGrams(st, value) : this.lookupTokens(st, value);
      if (t === 0) {
        if (st.valueCaching) this.rememberValue(st, raw, 0);
        continue;
      }
      const n =
        f.hash.type === 'doubleHash'
          ? this.doubleHashPositions(st, t, f.hash.preventSingularity)
          : this.blakePositions(st, t);
      const stored = st.valueCaching ? this.rememberValue(st, raw, n) : undefined;
      if (stored !== undefined && stored >= 0) {
        const slab = st.slab;
        for (let w = 0; w < words.length; w++) words[w]! |= slab[stored + w]!;
      } else {
        const positions = this.positions;
        for (let i = 0; i < n; i++) {
          const pos = positions[i]!;
          work[pos >>> 3]! |= 0x80 >>> (pos & 7);
        }
      }
    }
    this.foldInto(out, offset);
  }

  /** Caches the positions in this.positions for `raw`; returns the entry, or undefined if over budget. */
  private rememberValue(st: FeatureState, raw: string, n: number): number | undefined {
    const words = this.workWords.length;
    const dense = words < n;
    const size = dense ? words : n + 1;
    const budgetWords = this.valueBudget >>> 2;
    if (size + VALUE_ENTRY_OVERHEAD_WORDS + raw.length > budgetWords) return undefined;
    if (st.slabUsed + size + (st.values.size + 1) * VALUE_ENTRY_OVERHEAD_WORDS + raw.length > budgetWords) {
      // Size cap, per feature: a high-cardinality feature (dates) only ever
      // evicts its own values.
      st.values.clear();
      st.slabUsed = 0;
    }
    if (st.slabUsed + size > st.slab.length) {
      const grown = new Uint32Array(Math.min(budgetWords, Math.max(st.slab.length * 2, st.slabUsed + size, 1024)));
      grown.set(st.slab.subarray(0, st.slabUsed));
      st.slab = grown;
    }
    const at = st.slabUsed;
    const slab = st.slab;
    const positions = this.positions;
    if (dense) {
      slab.fill(0, at, at + words);
      if (LITTLE_ENDIAN) {
        // Bit pos lives in byte pos >> 3 under mask 0x80 >> (pos & 7); on a
        // little-endian host that byte is bits 8 * ((pos >> 3) & 3) .. of word pos >> 5.
        for (let i = 0; i < n; i++) {
          const pos = positions[i]!;
          slab[at + (pos >>> 5)]! |= 1 << ((((pos >>> 3) & 3) << 3) | (7 - (pos & 7)));
        }
      } else {
        const bytes = new Uint8Array(slab.buffer, at * 4, words * 4);
        for (let i = 0; i < n; i++) {
          const pos = positions[i]!;
          bytes[pos >>> 3]! |= 0x80 >>> (pos & 7);
        }
      }
      st.values.set(raw, at);
      st.slabUsed = at + size;
      return at;
    }
    slab[at] = n;
    slab.set(positions.subarray(0, n), at + 1);
    st.values.set(raw, ~at);
    st.slabUsed = at + size;
    return ~at;
  }

  /** End of a feature's value-cache window: keep the cache if it paid, else pause it (or end the pause). */
  private valueWindow(st: FeatureState): void {
    if (st.valueCaching && st.windowHits * 4 < st.windowSeen) {
      st.valueCaching = false;
      st.values.clear();
      st.slabUsed = 0;
    } else if (!st.valueCaching) {
      st.valueCaching = true;
    }
    st.windowSeen = 0;
    st.windowHits = 0;
  }

  /** Room for `n` more positions after `used` in the scratch array. */
  private reservePositions(used: number, n: number): Uint32Array {
    if (used + n > this.positions.length) {
      const grown = new Uint32Array(Math.max(this.positions.length * 2, used + n));
      grown.set(this.positions.subarray(0, used));
      this.positions = grown;
    }
    return this.positions;
  }

  /** Returns kernel key slots; the encoder cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    releaseSlots.unregister(this);
    for (const s of this.states) {
      s.hasher.release();
      s.cache.clear();
      s.positional.length = 0;
      s.grams.length = 0;
      s.values.clear();
      s.slab = new Uint32Array(0);
      s.tokenSlab = new Uint32Array(0);
    }
    this.tokens.length = 0;
    this.missTokens.length = 0;
  }

  private ensureScratch(t: number): void {
    if (this.missIndex.length < t) {
      this.missIndex = new Int32Array(t * 2);
      this.tokenKeys = new Float64Array(t * 2);
      this.pairs = new Uint32Array(t * 4);
      this.resolved = new Float64Array(t * 2);
    }
  }

  /**
   * Makes room for up to `t` new token entries. Eviction happens here, before
   * a value's lookups, never in the middle of resolving one (its entries
   * point into the token slabs). A size cap rather than an LRU: bigram
   * vocabularies fit easily, and a reset is cheaper than recency bookkeeping.
   */
  private makeRoom(t: number): void {
    if (this.cached + t <= this.cacheLimit) return;
    for (const s of this.states) {
      s.cache.clear();
      s.positional.length = 0;
      for (const g of s.grams) g.clear();
      s.tokenSlabUsed = 0;
    }
    this.cached = 0;
  }

  /** The token cache for token i of the current value. */
  private cacheFor(st: FeatureState, i: number): Map<string, number> {
    if (!st.isPositional) return st.cache;
    let m = st.positional[i];
    if (m === undefined) {
      m = new Map();
      st.positional[i] = m;
    }
    return m;
  }

  /** Caches the hash result of token i (by its bare gram) of the current value. */
  private remember(st: FeatureState, i: number, value: number): void {
    if (this.cacheLimit <= 0) return;
    if (this.gramLookup) this.gramTableFor(st, i).set(this.tokenKeys[i]!, value);
    else this.cacheFor(st, i).set(this.tokens[i]!, value);
    this.cached++;
  }

  private gramTableFor(st: FeatureState, i: number): GramTable {
    const at = st.isPositional ? i : 0;
    let table = st.grams[at];
    if (table === undefined) {
      table = new GramTable(st.isPositional ? 16 : 256);
      st.grams[at] = table;
    }
    return table;
  }

  /** Token i of the current value as clkhash hashes it: positional grams get back their "i " prefix. */
  private hashedToken(st: FeatureState, i: number): string {
    const gram = this.gramLookup ? this.gramAt(st.gramN, i) : this.tokens[i]!;
    return st.isPositional ? `${i + 1} ${gram}` : gram;
  }

  /** Gram i of gramValue as clkhash slices it (n = 2 pads one space at each end). */
  private gramAt(n: number, i: number): string {
    const v = this.gramValue;
    if (n === 1) return v[i]!;
    return (i === 0 ? ' ' : v[i - 1]!) + (i === v.length ? ' ' : v[i]!);
  }

  /** Tokenises `value` (string tokens) and looks them up; returns the token count. */
  private lookupTokens(st: FeatureState, value: string): number {
    this.gramLookup = false;
    const t = tokenize(st.feature, value, this.tokens, false);
    if (t > 0) this.misses = this.lookup(st, t);
    return t;
  }

  /**
   * The n-gram tokens (n <= 2) of `value` looked up by gram key: no string is
   * built unless a gram misses. A value with surrogates (astral characters,
   * sliced by code point) takes the string path. Returns the token count.
   */
  private lookupGrams(st: FeatureState, value: string): number {
    const len = value.length;
    for (let i = 0; i < len; i++) {
      if ((value.charCodeAt(i) & 0xf800) === 0xd800) return this.lookupTokens(st, value);
    }
    this.gramLookup = true;
    this.gramValue = value;
    if (len === 0) return 0;
    const two = st.gramN === 2;
    const t = two ? len + 1 : len;
    this.ensureScratch(t);
    this.makeRoom(t);
    const keys = this.tokenKeys;
    const resolved = this.resolved;
    let misses = 0;
    let table = st.isPositional ? undefined : this.gramTableFor(st, 0);
    let prev = 0x20;
    for (let i = 0; i < t; i++) {
      const c = i === len ? 0x20 : value.charCodeAt(i);
      const key = two ? ((prev << 16) | c) >>> 0 : c;
      prev = c;
      keys[i] = key;
      if (st.isPositional) table = this.gramTableFor(st, i);
      const hit = table!.get(key);
      resolved[i] = hit;
      if (hit < 0) {
        this.missIndex[misses] = i;
        this.missTokens[misses++] = this.hashedToken(st, i);
      }
    }
    this.misses = misses;
    return t;
  }

  /** Looks tokens up (resolved[i] = entry or -1); collects misses. Returns the miss count. */
  private lookup(st: FeatureState, t: number): number {
    this.ensureScratch(t);
    this.makeRoom(t);
    const tokens = this.tokens;
    const resolved = this.resolved;
    let misses = 0;
    for (let i = 0; i < t; i++) {
      const hit = this.cacheFor(st, i).get(tokens[i]!);
      if (hit === undefined) {
        resolved[i] = -1;
        this.missIndex[misses] = i;
        this.missTokens[misses++] = this.hashedToken(st, i);
      } else {
        resolved[i] = hit;
      }
    }
    return misses;
  }

  /** Writes the feature's bit positions into this.positions; returns how many. */
  private doubleHashPositions(st: FeatureState, t: number, preventSingularity: boolean): number {
    const L = this.hashBits;
    const misses = this.misses;
    if (misses > 0) {
      st.hasher.doubleHash(this.missTokens, misses, this.pairs);
      for (let m = 0; m < misses; m++) {
        const a = this.pairs[2 * m]!;
        let b = this.pairs[2 * m + 1]!;
        if (b === 0 && preventSingularity) b = this.nonSingular(st, this.missTokens[m]!);
        const packed = a * PAIR_SHIFT + b;
        this.resolved[this.missIndex[m]!] = packed;
        this.remember(st, this.missIndex[m]!, packed);
      }
    }
    const strategy = st.feature.strategy;
    let n = 0;
    for (let i = 0; i < t; i++) {
      const packed = this.resolved[i]!;
      const a = Math.floor(packed / PAIR_SHIFT);
      const b = packed - a * PAIR_SHIFT;
      const k = bitsForToken(strategy, i, t);
      const out = this.reservePositions(n, k);
      // (a + j*b) mod L for j = 0..k-1, stepping instead of multiplying (b < L).
      let pos = a;
      for (let j = 0; j < k; j++) {
        out[n++] = pos;
        pos += b;
        if (pos >= L) pos -= L;
      }
    }
    return n;
  }

  /** clkhash prevent_singularity: retry HMAC-MD5 over token + UTF-8(chr(j)) while the result is 0 mod L. */
  private nonSingular(st: FeatureState, token: string): number {
    const bytes = encodeToken(token, st.feature.encoding);
    for (let j = 0; j < 0xd800; j++) {
      const suffix = new TextEncoder().encode(String.fromCodePoint(j));
      const msg = new Uint8Array(bytes.length + suffix.length);
      msg.set(bytes);
      msg.set(suffix, bytes.length);
      const b = st.hasher.md5Mod(msg);
      if (b !== 0) return b;
    }
    // Python would fail encoding chr(0xd800) here; unreachable for any realistic L.
    throw new PavilionError('RECORD_INVALID', `feature '${st.feature.identifier}': token hash stayed singular`);
  }

  /** Writes the feature's bit positions into this.positions; returns how many. */
  private blakePositions(st: FeatureState, t: number): number {
    const strategy = st.feature.strategy;
    let maxK = 0;
    for (let i = 0; i < t; i++) maxK = Math.max(maxK, bitsForToken(strategy, i, t));
    if (maxK === 0) return 0;
    const macs = Math.ceil(maxK / 32);
    const need = macs * 32;
    const misses = this.misses;
    const resolved = this.resolved;
    // Cached positions may cover fewer bits than this value needs (bitsPerFeature
    // with fewer tokens): hash those again with more BLAKE2b calls.
    let count = misses;
    for (let i = 0; i < t; i++) {
      const e = resolved[i]!;
      if (e >= 0 && st.tokenSlab[e]! < need) {
        this.missIndex[count] = i;
        this.missTokens[count++] = this.hashedToken(st, i);
      }
    }
    if (count > 0) {
      if (this.blakeOut.length < count * macs * 64) this.blakeOut = new Uint8Array(count * macs * 64);
      st.hasher.blake(this.missTokens, count, macs, this.blakeOut);
      const mask = this.hashBits - 1; // blakeHash requires a power of two
      const d = this.blakeOut;
      for (let m = 0; m < count; m++) {
        const at = this.reserveTokenSlab(st, need + 1);
        const slab = st.tokenSlab;
        slab[at] = need;
        const base = m * macs * 64;
        // struct.unpack('32H') on x86: little-endian unsigned shorts.
        for (let q = 0; q < need; q++) slab[at + 1 + q] = (d[base + 2 * q]! | (d[base + 2 * q + 1]! << 8)) & mask;
        resolved[this.missIndex[m]!] = at;
        this.remember(st, this.missIndex[m]!, at);
      }
    }
    const slab = st.tokenSlab;
    let n = 0;
    for (let i = 0; i < t; i++) {
      const from = resolved[i]! + 1;
      const k = bitsForToken(strategy, i, t);
      const out = this.reservePositions(n, k);
      for (let j = 0; j < k; j++) out[n++] = slab[from + j]!;
    }
    return n;
  }

  /** Room for `size` words at the end of the feature's token slab; returns the offset. */
  private reserveTokenSlab(st: FeatureState, size: number): number {
    const at = st.tokenSlabUsed;
    if (at + size > st.tokenSlab.length) {
      const grown = new Uint32Array(Math.max(st.tokenSlab.length * 2, at + size, 4096));
      grown.set(st.tokenSlab.subarray(0, at));
      st.tokenSlab = grown;
    }
    st.tokenSlabUsed = at + size;
    return at;
  }

  private foldInto(out: Uint8Array, offset: number): void {
    const work = this.work;
    let bits = this.hashBits;
    for (let f = 0; f < this.schema.xorFolds; f++) {
      const half = bits / 2;
      if (half % 8 === 0) {
        const hb = half / 8;
        for (let i = 0; i < hb; i++) work[i]! ^= work[hb + i]!;
      } else {
        for (let i = 0; i < half; i++) {
          const j = half + i;
          if (work[j >>> 3]! & (0x80 >>> (j & 7))) work[i >>> 3]! ^= 0x80 >>> (i & 7);
        }
      }
      bits = half;
    }
    out.set(this.workHead, offset);
    const tail = this.filterBits % 8;
    // bitarray.tobytes() pads the last byte with zero bits.
    if (tail !== 0) out[offset + this.filterBytes - 1]! &= (0xff << (8 - tail)) & 0xff;
  }
}
