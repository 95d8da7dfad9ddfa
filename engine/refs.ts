/**
 * Record references (the DP's ids of its records) held compactly: their UTF-8 text front-coded in blocks of
 * 16 (each ref after a block's first stored as the length of the prefix it shares with the one before, one
 * byte, then the rest), and one u32 end offset per ref, instead of one JavaScript string each. A string
 * costs 16–24 bytes of header beside its text and a pointer in an array: at 10M records that was ~400 MB of
 * the broker's heap. Providers' ids are mostly alike ("DP-0001234", UUIDs of one generator less so): 10M refs
 * `dp-record-<n>` take ~3 bytes of text each here, 7 with the offset, against 17 + 4 unshared
 * (bench/big-dataset.ts). A ref is decoded when an answer needs it (one per match candidate, one per
 * linkage pair): at most 15 others of its block are read to rebuild it.
 */
import { PavilionError } from '../common/errors.js';

/** What the engine and the datasets read refs through: a plain string array is one too. */
export interface RefList {
  readonly length: number;
  at(index: number): string | undefined;
}

const utf8 = new TextEncoder();
/** Refs per block: a block's first is stored whole, so decoding one ref reads at most BLOCK − 1 others. */
const BLOCK = 16;
const MAX_SHARED = 255;

/** Refs appended in order, then frozen into PackedRefs. */
export class PackedRefsBuilder {
  private bytes: Uint8Array;
  private ends: Uint32Array;
  private used = 0;
  private count = 0;
  /** The previous ref's UTF-8 bytes (prevLength of them), and room for the next one's. */
  private prev = new Uint8Array(256);
  private prevLength = 0;
  private next = new Uint8Array(256);

  /** `expected`: how many refs will come (a hint: the builder grows past it). */
  constructor(private readonly expected = 1024) {
    const n = Math.max(16, expected);
    this.ends = new Uint32Array(n);
    this.bytes = new Uint8Array(Math.max(1024, n * 4));
  }

  get length(): number {
    return this.count;
  }

  push(ref: string): void {
    if (typeof ref !== 'string') throw new PavilionError('DATASET_INVALID', 'refs must be strings');
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.next.length < ref.length * 3) this.next = new Uint8Array(ref.length * 3);
    const length = utf8.encodeInto(ref, this.next).written;
    let shared = 0;
    if (this.count % BLOCK !== 0) {
      const limit = Math.min(length, this.prevLength, MAX_SHARED);
      while (shared < limit && this.next[shared] === this.prev[shared]) shared++;
    }
    const entry = (this.count % BLOCK === 0 ? 0 : 1) + length - shared;
    this.reserve(entry);
    if (this.count % BLOCK !== 0) this.bytes[this.used++] = shared;
    this.bytes.set(this.next.subarray(shared, length), this.used);
    this.used += length - shared;
    if (this.used > 0xffff_ffff) throw new PavilionError('DATASET_TOO_LARGE', 'refs exceed 4 GiB of text');
    if (this.count === this.ends.length) {
      const grown = new Uint32Array(Math.ceil(this.ends.length * 1.5));
      grown.set(this.ends);
      this.ends = grown;
    }
    this.ends[this.count++] = this.used;
    const swap = this.prev;
    this.prev = this.next;
    this.next = swap;
    this.prevLength = length;
  }

  pushAll(refs: Iterable<string>): void {
    for (const r of refs) this.push(r);
  }

  /** The refs so far, trimmed to size; the builder must not be used afterwards. */
  finish(): PackedRefs {
    // Trimming copies: worth it only when much is unused (the estimate below usually lands within 10%).
    const bytes =
      this.used >= this.bytes.length * 0.9 ? this.bytes.subarray(0, this.used) : this.bytes.slice(0, this.used);
    const ends = this.count === this.ends.length ? this.ends : this.ends.slice(0, this.count);
    const packed = new PackedRefs(bytes, ends);
    this.bytes = new Uint8Array(0);
    this.ends = new Uint32Array(0);
    return packed;
  }

  private reserve(entry: number): void {
    const room = this.used + entry;
    if (room <= this.bytes.length) return;
    // Grown once to the size the refs so far predict for all `expected` (plus 5%), not by doubling:
    // at 10M refs a doubling would hold two copies of a few hundred MB at once.
    const predicted =
      this.count >= 1024 && this.count < this.expected ? Math.ceil((this.used / this.count) * this.expected * 1.05) : 0;
    const grown = new Uint8Array(Math.max(room, predicted, Math.ceil(this.bytes.length * 1.5)));
    grown.set(this.bytes.subarray(0, this.used));
    this.bytes = grown;
  }
}

export class PackedRefs implements RefList {
  private readonly text: Buffer;
  private scratch = Buffer.alloc(256);

  constructor(
    bytes: Uint8Array,
    /** ends[i]: where ref i's entry ends (it starts where ref i − 1's ended). */
    private readonly ends: Uint32Array,
  ) {
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  static from(refs: readonly string[]): PackedRefs {
    const b = new PackedRefsBuilder(refs.length);
    b.pushAll(refs);
    return b.finish();
  }

  get length(): number {
    return this.ends.length;
  }

  at(index: number): string | undefined {
    if (!Number.isInteger(index)) return undefined;
    const i = index < 0 ? index + this.ends.length : index;
    if (i < 0 || i >= this.ends.length) return undefined;
    // Rebuild from the block's first ref: each next one keeps `shared` bytes of the one before.
    let length = 0;
    for (let j = i - (i % BLOCK); j <= i; j++) {
      let start = j === 0 ? 0 : this.ends[j - 1]!;
      const end = this.ends[j]!;
      const shared = j % BLOCK === 0 ? 0 : this.text[start++]!;
      const total = shared + end - start;
      if (this.scratch.length < total) {
        const grown = Buffer.alloc(total * 2);
        this.scratch.copy(grown, 0, 0, shared);
        this.scratch = grown;
      }
      this.text.copy(this.scratch, shared, start, end);
      length = total;
    }
    return this.scratch.toString('utf8', 0, length);
  }

  /** Bytes held (text and offsets), for benchmarks and metrics. */
  get byteLength(): number {
    return this.text.byteLength + this.ends.byteLength;
  }
}
