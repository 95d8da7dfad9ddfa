/**
 * CLK (cryptographic long-term key) encoder, bit-identical to clkhash 0.18.3
 * for linkage schema v3 (bloomfilter.crypto_bloom_filter):
 *   for each non-ignored feature: prepare the value, tokenise, give token i
 *   k_i bits (strategy) and set them in a filter of L = l * 2^xor_folds bits
 *   (doubleHash or blakeHash); OR over features; XOR-fold xor_folds times;
 *   bit i is MSB-first (byte i >> 3, mask 0x80 >> (i & 7)).
 *
 * Speed (docs/decisions.md, "Encoding"): the vocabulary of tokens is small (bigrams of names,
 * dates, postcodes), so each feature keeps two bounded caches:
 *  - value -> the feature's bits (a 1024-bit bitmap is 32 word ORs), which
 *    is what clkhash's lru_cache on the n-gram tuple does;
 *  - token -> hash result (doubleHash pair, or blakeHash positions), so a
 *    new value mostly costs lookups; the misses of one value are hashed in
 *    one call into the wasm kernel. Uni- and bigrams are looked up by number
 *    (gram-table.ts), building no string.
 * Cached results live in per-feature Uint32Array slabs and tables of numbers:
 * no typed array or object per token or per value (allocation and GC were
 * the largest cost of a cold pass). A value's bits are set straight into the
 * filter, or into its cache entry when the feature's values repeat enough for
 * the cache to pay (valueWindow). Measured in bench/encoding.ts.
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
import { encodeToken, tokenize } from './tokens.js';
import { type KeyColumn, ValueCache } from './value-cache.js';

export interface ClkEncoderOptions {
  /** Token hashing backend: 'wasm' (default) or 'node' (node:crypto, for differential tests). */
  hashBackend?: HashBackendName;
  /** Upper bound on cached (feature, token) entries; the caches are cleared when it is reached. Default 2^17. */
  cacheEntries?: number;
  /**
   * Memory budget in bytes, shared by the features whose values repeat, for
   * the per-value cache (raw value -> the feature's bits). Default 16 MiB
   * (more was slower on FEBRL data: cache misses). 0 disables it.
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
   * invalid values throw before being cached. An entry's bits are the
   * feature's whole working filter, in the byte order of `work`, so a hit is
   * `words` word ORs instead of one bit set per position.
   */
  readonly values: ValueCache;
  /** This feature's share of the value-cache budget in use, in words (its index estimated). */
  valueWords: number;
  /**
   * Whether `values` is used. A feature whose values rarely repeat (street
   * names, dates of birth) pays for storing each value's bits and evicting
   * them again and gains nothing: valueWindow() turns its cache off, and on
   * again for a trial now and then (files can be sorted).
   */
  valueCaching: boolean;
  /** bitsPerToken, or 0 when the strategy is bitsPerFeature (then `bitsPerFeature`). */
  readonly bitsPerToken: number;
  readonly bitsPerFeature: number;
  windowSeen: number;
  windowHits: number;
}

/** Values per decision whether a feature's value cache pays; the cache stays on if ≥ 1 in 4 of them were hits. */
const VALUE_WINDOW = 16_384;
/** Values looked up ahead in one findMany (a few KiB of scratch). */
const PROBE_RUN = 512;
/** Values a feature encodes with its value cache off before it is tried again. */
const VALUE_CACHE_PAUSE = 65_536;

/**
 * Records per block of encodeColumns: 4,096 working filters of 1,024 bits are 512 KiB, which stay in
 * a core's L2 beside the feature's caches, and bound the scratch an encoder keeps.
 */
const COLUMNS_BLOCK = 4096;

const releaseSlots = new FinalizationRegistry<FeatureHasher[]>((hashers) => {
  for (const h of hashers) h.release();
});

/**
 * Records' fields as UTF-8 bytes, as a CSV piece without quotes holds them (engine/clk/csv.ts
 * scanUnquoted): field c of record r is bytes[bounds[r * stride + c], bounds[r * stride + c + 1] - 1).
 */
export interface RecordFields {
  readonly bytes: Buffer;
  readonly bounds: Int32Array;
  readonly stride: number;
}

/**
 * One feature's values, as encodeFeature reads them: keys `first` onwards are the block's records. A value
 * the caches miss is taken from `strings`, or decoded from its bytes.
 */
interface BlockColumn extends KeyColumn {
  readonly bytes: Buffer;
  readonly first: number;
}

const NO_BYTES = Buffer.alloc(0);
const NO_BOUNDS = new Int32Array(0);

/** What encodeColumns did: records encoded, and the error of the next one if it failed. */
export interface ColumnsResult {
  encoded: number;
  error?: unknown;
}

function fieldCountError(row: unknown, features: number): PavilionError {
  const fields = Array.isArray(row) ? row.length : 'no';
  return new PavilionError('RECORD_FIELD_COUNT', `record has ${fields} fields, the schema has ${features}`);
}

function notAString(st: FeatureState): PavilionError {
  return new PavilionError('RECORD_INVALID', `feature '${st.feature.identifier}': value must be a string`);
}

/** Value k of a column read from bytes, as text. */
function fieldText(column: BlockColumn, k: number): string {
  const b = k * column.stride + column.column;
  return column.bytes.toString('utf8', column.bounds[b], column.bounds[b + 1]! - 1);
}

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
  /** Words of a working filter (hashBits padded to whole words). */
  private readonly workWords: number;
  /** encodeColumns' working filters, one per record of the current call (grown as needed). */
  private area = new Uint32Array(0);
  private areaBytes = new Uint8Array(0);
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
  /** encodeInto's row as a column (its strings set for the call only). */
  private readonly rowColumn: { -readonly [K in keyof BlockColumn]: BlockColumn[K] } = {
    bytes: NO_BYTES,
    bounds: NO_BOUNDS,
    stride: 0,
    column: 0,
    strings: null,
    first: 0,
  };
  /** findMany's results for a run: per value, its value-cache entry or -1, and its hash; the cache's size then. */
  private readonly probed = new Int32Array(PROBE_RUN);
  private readonly probedHashes = new Int32Array(PROBE_RUN);
  private probedSize = 0;
  /** The error of the record where encodeFeature stopped. */
  private featureError: unknown;
  /** valueCacheBytes, for all features; valueWords of it (in 4-byte words, estimated) are in use. */
  private readonly valueBudget: number;
  private valueWords = 0;

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
    // Entries are found by Int32 offsets (value-cache.ts): at most 2^31 words.
    this.valueBudget = hashedCount > 0 ? Math.min(options.valueCacheBytes ?? 2 ** 24, 2 ** 32) : 0;
    this.hashBits = schema.l * 2 ** schema.xorFolds;
    this.workWords = Math.ceil(this.hashBits / 32);
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
        values: new ValueCache(this.workWords),
        valueWords: 0,
        bitsPerToken: 'bitsPerToken' in f.strategy ? f.strategy.bitsPerToken : 0,
        bitsPerFeature: 'bitsPerFeature' in f.strategy ? f.strategy.bitsPerFeature : 0,
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
    const width = this.featureNames.length;
    // Rows up to the first of the wrong width are encoded first: a bad value before it is the error to name.
    let count = rows.findIndex((row) => !Array.isArray(row) || row.length !== width);
    if (count < 0) count = rows.length;
    const columns = this.featureNames.map((_, f) => Array.from({ length: count }, (_, r) => rows[r]![f]!));
    const out = new Uint8Array(rows.length * this.filterBytes);
    this.throwAt(this.encodeColumns(columns, count, out, 0), firstRow);
    if (count < rows.length) this.throwAt({ encoded: count, error: fieldCountError(rows[count], width) }, firstRow);
    return out;
  }

  private throwAt(result: ColumnsResult, firstRow: number): void {
    const e = result.error;
    if (e === undefined) return;
    if (e instanceof PavilionError) throw new PavilionError(e.code, `row ${firstRow + result.encoded}: ${e.message}`);
    throw e;
  }

  /** Encodes `row` into out[offset .. offset + filterBytes). */
  encodeInto(row: readonly string[], out: Uint8Array, offset: number): void {
    if (this.disposed) throw new PavilionError('ENCODER_DISPOSED', 'this CLK encoder was disposed');
    if (!Array.isArray(row) || row.length !== this.featureNames.length)
      throw fieldCountError(row, this.featureNames.length);
    // One record: its features straight into one working filter. Through encodeColumns (a column of one
    // value per feature) bench:kernels' one-thread rows, which encode record by record, were 28% slower.
    const words = this.workArea(1);
    // Key k of the row's column is the value of feature k. Held only during the call: values are personal data.
    const column = this.rowColumn;
    column.strings = row;
    try {
      const states = this.states;
      for (let s = 0; s < states.length; s++) {
        const st = states[s]!;
        if (typeof row[st.feature.index] !== 'string') throw notAString(st);
        this.encodeValue(st, column, st.feature.index, words, 0);
      }
    } finally {
      column.strings = null;
    }
    this.foldInto(this.areaBytes, 0, out, offset);
  }

  /**
   * Encodes `count` records given column by column (columns[i][r]: record r's
   * value of schema feature i; ignored features' columns are not read) into
   * out[offset ..], filterBytes each. One feature goes over all the records,
   * then the next, so a feature's caches stay in the core's caches while it
   * is used: record by record, the nine features of the FEBRL schema took
   * 9–11% longer on 200k records (docs/decisions.md, "Encoding").
   *
   * Returns how many records were encoded: `count`, or the index of the first
   * record that failed, with the error encodeInto would have thrown for it
   * (its first failing feature in schema order); the records before it are in
   * `out`.
   */
  encodeColumns(
    columns: readonly (readonly string[])[],
    count: number,
    out: Uint8Array,
    offset: number,
  ): ColumnsResult {
    return this.encodeBlocks(count, out, offset, (st, first, n) => {
      const values = columns[st.feature.index]!;
      const column: BlockColumn = { bytes: NO_BYTES, bounds: NO_BOUNDS, stride: 0, column: 0, strings: values, first };
      // Up to the first value that is not a string, which is this feature's error.
      let strings = 0;
      while (strings < n && typeof values[first + strings] === 'string') strings++;
      const done = this.encodeFeature(st, column, strings);
      if (done === strings && strings < n) this.featureError = notAString(st);
      return done;
    });
  }

  /**
   * encodeColumns for records read from a CSV piece without quotes: `featureColumns[i]` is schema feature
   * i's field (ignored features' are not read). No string is built for a value a cache holds.
   */
  encodeFields(
    fields: RecordFields,
    featureColumns: readonly number[],
    count: number,
    out: Uint8Array,
    offset: number,
  ): ColumnsResult {
    return this.encodeBlocks(count, out, offset, (st, first, n) =>
      this.encodeFeature(
        st,
        {
          bytes: fields.bytes,
          bounds: fields.bounds,
          stride: fields.stride,
          column: featureColumns[st.feature.index]!,
          strings: null,
          first,
        },
        n,
      ),
    );
  }

  /** `area` with `n` zeroed working filters at its start (grown as needed). */
  private workArea(n: number): Uint32Array {
    const words = n * this.workWords;
    if (this.area.length < words) {
      this.area = new Uint32Array(words);
      this.areaBytes = new Uint8Array(this.area.buffer);
    }
    this.area.fill(0, 0, words);
    return this.area;
  }

  /**
   * Encodes `count` records in blocks of COLUMNS_BLOCK into out[offset ..], feature after feature:
   * `encodeFeature(st, first, n)` sets feature st's bits for records [first, first + n) of the call in
   * the block's working filters and returns n, or the index in the block of the record that failed, its
   * error in featureError.
   */
  private encodeBlocks(
    count: number,
    out: Uint8Array,
    offset: number,
    encodeFeature: (st: FeatureState, first: number, n: number) => number,
  ): ColumnsResult {
    if (this.disposed) throw new PavilionError('ENCODER_DISPOSED', 'this CLK encoder was disposed');
    const perRecord = this.workWords;
    for (let first = 0; first < count; first += COLUMNS_BLOCK) {
      const n = Math.min(COLUMNS_BLOCK, count - first);
      this.workArea(n);
      let encoded = n;
      let error: unknown;
      for (const st of this.states) {
        // A later feature only needs the records before the first failure so far.
        const done = encodeFeature(st, first, encoded);
        if (done < encoded) {
          encoded = done;
          error = this.featureError;
        }
      }
      const at = offset + first * this.filterBytes;
      if (this.schema.xorFolds === 0 && this.filterBytes === perRecord * 4) {
        out.set(this.areaBytes.subarray(0, encoded * this.filterBytes), at);
      } else {
        for (let r = 0; r < encoded; r++) {
          this.foldInto(this.areaBytes, r * perRecord * 4, out, at + r * this.filterBytes);
        }
      }
      if (error !== undefined) return { encoded: first + encoded, error };
    }
    return { encoded: count };
  }

  /**
   * Sets one feature's bits for `count` records of `column` in the block's working filters (workWords each,
   * from area[0]). Returns `count`, or the index of the record that failed, its error in featureError. The
   * loop is in a function of its own for the reason readColumns' is (engine/csv-encode.ts): code after it,
   * without type feedback when V8 compiled the running loop, threw that code away at the end of pieces
   * (--trace-deopt: seven times in a 200k-record file).
   *
   * A run of up to PROBE_RUN values is looked up in the value cache before any is encoded, so the core
   * overlaps the cache misses of many lookups (the caches of a FEBRL feature are megabytes, beyond L2):
   * one record at a time, they came one after another (docs/decisions.md, "Encoding").
   */
  private encodeFeature(st: FeatureState, column: BlockColumn, count: number): number {
    const words = this.area;
    const perRecord = this.workWords;
    let r = 0;
    try {
      while (r < count) {
        // Up to the end of the value-cache window, where valueWindow may switch the cache off.
        const run = st.valueCaching ? Math.min(count - r, VALUE_WINDOW - 1 - st.windowSeen, PROBE_RUN) : 0;
        if (run > 0) {
          st.values.findMany(column, column.first + r, run, this.probedHashes, this.probed);
          this.probedSize = st.values.size;
        }
        for (let i = 0; i < run; i++, r++) this.encodeProbed(st, column, r, i, words, r * perRecord);
        if (run === 0) {
          this.encodeValue(st, column, r, words, r * perRecord);
          r++;
        }
      }
    } catch (e) {
      this.featureError = e;
    }
    return r;
  }

  /** encodeValue for record r of the block, value i of the last findMany (in the value-cache window of the probe). */
  private encodeProbed(
    st: FeatureState,
    column: BlockColumn,
    r: number,
    i: number,
    words: Uint32Array,
    wordBase: number,
  ): void {
    st.windowSeen++;
    let entry = this.probed[i]!;
    const hash = this.probedHashes[i]!;
    // A value added after the probe (an earlier record of the run) is found now.
    if (entry < 0 && st.values.size !== this.probedSize) entry = st.values.find(column, column.first + r, hash);
    if (entry < 0) {
      this.encodeNew(st, column, r, hash, words, wordBase);
      return;
    }
    st.windowHits++;
    this.orEntry(st, entry, words, wordBase);
  }

  /** Sets the bits of record r's value of the feature in the working filter at words[wordBase ..]. */
  private encodeValue(st: FeatureState, column: BlockColumn, r: number, words: Uint32Array, wordBase: number): void {
    if (++st.windowSeen >= (st.valueCaching ? VALUE_WINDOW : VALUE_CACHE_PAUSE)) this.valueWindow(st);
    let hash = 0;
    if (st.valueCaching) {
      hash = ValueCache.hash(column, column.first + r);
      const entry = st.values.find(column, column.first + r, hash);
      if (entry >= 0) {
        st.windowHits++;
        this.orEntry(st, entry, words, wordBase);
        return;
      }
    }
    this.encodeNew(st, column, r, hash, words, wordBase);
  }

  /** encodeValue for a value not in the feature's value cache (`hash`: its ValueCache.hash when caching is on). */
  private encodeNew(
    st: FeatureState,
    column: BlockColumn,
    r: number,
    hash: number,
    words: Uint32Array,
    wordBase: number,
  ): void {
    const f = st.feature;
    const k = column.first + r;
    const raw = column.strings !== null ? column.strings[k]! : fieldText(column, k);
    const value = prepareValue(f, raw);
    const t = st.gramN > 0 ? this.lookupGrams(st, value) : this.lookupTokens(st, value);
    if (t === 0) return;
    const doubleHash = f.hash.type === 'doubleHash';
    if (doubleHash) this.resolveDoubleHash(st, f.hash.preventSingularity);
    else if (!this.resolveBlake(st, t)) return;
    // A value worth remembering gets its bits set in its cache entry, then ORed in; any other straight in the filter.
    const entry = st.valueCaching ? this.valueEntry(st, column, k, hash) : -1;
    const target = entry >= 0 ? st.values.slabBytes : this.areaBytes;
    const base = entry >= 0 ? entry * 4 : wordBase * 4;
    if (doubleHash) this.setDoubleHashBits(st, t, target, base);
    else this.setBlakeBits(st, t, target, base);
    if (entry >= 0) this.orEntry(st, entry, words, wordBase);
  }

  /** ORs the feature's cached bits at `entry` (value-cache.ts) into the working filter at words[wordBase ..]. */
  private orEntry(st: FeatureState, entry: number, words: Uint32Array, wordBase: number): void {
    const slab = st.values.slab;
    const size = this.workWords;
    for (let w = 0; w < size; w++) words[wordBase + w]! |= slab[entry + w]!;
  }

  /**
   * A zeroed cache entry for key k (the offset of its bits in the feature's
   * slab), or -1 when the budget is spent. A full cache keeps what it holds
   * rather than starting over: values come Zipf-like, so the early, frequent
   * ones stay (clearing and refilling cost more than it gained); a feature
   * whose hit rate falls is switched off by valueWindow, which frees its share.
   */
  private valueEntry(st: FeatureState, keys: KeyColumn, k: number, hash: number): number {
    const length = ValueCache.keyLength(keys, k);
    const cost = st.values.entryWords(length) + ValueCache.INDEX_WORDS_PER_ENTRY;
    const budgetWords = this.valueBudget >>> 2;
    if (this.valueWords + cost > budgetWords) return -1;
    const at = st.values.add(keys, k, hash, budgetWords, length);
    if (at < 0) return -1;
    st.valueWords += cost;
    this.valueWords += cost;
    return at;
  }

  /** End of a feature's value-cache window: keep the cache if it paid, else pause it (or end the pause). */
  private valueWindow(st: FeatureState): void {
    if (st.valueCaching && st.windowHits * 8 < st.windowSeen) {
      st.valueCaching = false;
      st.values.clear();
      this.valueWords -= st.valueWords;
      st.valueWords = 0;
    } else if (!st.valueCaching && this.valueBudget > 0) {
      st.valueCaching = true;
    }
    st.windowSeen = 0;
    st.windowHits = 0;
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

  /** Hashes the current value's missed tokens (doubleHash): resolved[i] = a * 2^26 + b for every token. */
  private resolveDoubleHash(st: FeatureState, preventSingularity: boolean): void {
    const misses = this.misses;
    if (misses === 0) return;
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

  /**
   * Sets the value's doubleHash bits, (a + j*b) mod L for j < k per token, in
   * the filter at target[base ..] (bit p: byte p >> 3, mask 0x80 >> (p & 7)).
   */
  private setDoubleHashBits(st: FeatureState, t: number, target: Uint8Array, base: number): void {
    const L = this.hashBits;
    const resolved = this.resolved;
    const perToken = st.bitsPerToken;
    const k0 = perToken > 0 ? perToken : Math.trunc(st.bitsPerFeature / t);
    const extra = perToken > 0 ? 0 : st.bitsPerFeature % t;
    for (let i = 0; i < t; i++) {
      const packed = resolved[i]!;
      const a = Math.floor(packed / PAIR_SHIFT);
      const b = packed - a * PAIR_SHIFT;
      const k = i < extra ? k0 + 1 : k0;
      // Stepping instead of multiplying (b < L).
      let pos = a;
      for (let j = 0; j < k; j++) {
        target[base + (pos >>> 3)]! |= 0x80 >>> (pos & 7);
        pos += b;
        if (pos >= L) pos -= L;
      }
    }
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

  /**
   * Hashes the current value's missed tokens (blakeHash): resolved[i] = the
   * token's entry in the token slab, holding at least as many positions as
   * this value gives a token. False when the value sets no bits.
   */
  private resolveBlake(st: FeatureState, t: number): boolean {
    const perToken = st.bitsPerToken;
    const maxK = perToken > 0 ? perToken : Math.ceil(st.bitsPerFeature / t);
    if (maxK === 0) return false;
    const macs = Math.ceil(maxK / 32);
    const need = macs * 32;
    const resolved = this.resolved;
    // Cached positions may cover fewer bits than this value needs (bitsPerFeature
    // with fewer tokens): hash those again with more BLAKE2b calls.
    let count = this.misses;
    for (let i = 0; i < t; i++) {
      const e = resolved[i]!;
      if (e >= 0 && st.tokenSlab[e]! < need) {
        this.missIndex[count] = i;
        this.missTokens[count++] = this.hashedToken(st, i);
      }
    }
    if (count === 0) return true;
    if (this.blakeOut.length < count * macs * 64) this.blakeOut = new Uint8Array(count * macs * 64);
    st.hasher.blake(this.missTokens, count, macs, this.blakeOut);
    const mask = this.hashBits - 1; // blakeHash requires a power of two
    const d = this.blakeOut;
    for (let m = 0; m < count; m++) {
      const at = this.reserveTokenSlab(st, need + 1);
      const slab = st.tokenSlab;
      slab[at] = need;
      const from = m * macs * 64;
      // struct.unpack('32H') on x86: little-endian unsigned shorts.
      for (let q = 0; q < need; q++) slab[at + 1 + q] = (d[from + 2 * q]! | (d[from + 2 * q + 1]! << 8)) & mask;
      resolved[this.missIndex[m]!] = at;
      this.remember(st, this.missIndex[m]!, at);
    }
    return true;
  }

  /** Sets the value's blakeHash bits (the first k cached positions of each token) in the filter at target[base ..]. */
  private setBlakeBits(st: FeatureState, t: number, target: Uint8Array, base: number): void {
    const slab = st.tokenSlab;
    const resolved = this.resolved;
    const perToken = st.bitsPerToken;
    const k0 = perToken > 0 ? perToken : Math.trunc(st.bitsPerFeature / t);
    const extra = perToken > 0 ? 0 : st.bitsPerFeature % t;
    for (let i = 0; i < t; i++) {
      const from = resolved[i]! + 1;
      const end = from + (i < extra ? k0 + 1 : k0);
      for (let j = from; j < end; j++) {
        const pos = slab[j]!;
        target[base + (pos >>> 3)]! |= 0x80 >>> (pos & 7);
      }
    }
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

  /** XOR-folds the working filter at work[at ..] (in place) and copies its first filterBytes to out[offset ..]. */
  private foldInto(work: Uint8Array, at: number, out: Uint8Array, offset: number): void {
    let bits = this.hashBits;
    for (let f = 0; f < this.schema.xorFolds; f++) {
      const half = bits / 2;
      if (half % 8 === 0) {
        const hb = half / 8;
        for (let i = 0; i < hb; i++) work[at + i]! ^= work[at + hb + i]!;
      } else {
        for (let i = 0; i < half; i++) {
          const j = half + i;
          if (work[at + (j >>> 3)]! & (0x80 >>> (j & 7))) work[at + (i >>> 3)]! ^= 0x80 >>> (i & 7);
        }
      }
      bits = half;
    }
    for (let i = 0; i < this.filterBytes; i++) out[offset + i] = work[at + i]!;
    const tail = this.filterBits % 8;
    // bitarray.tobytes() pads the last byte with zero bits.
    if (tail !== 0) out[offset + this.filterBytes - 1]! &= (0xff << (8 - tail)) & 0xff;
  }
}
