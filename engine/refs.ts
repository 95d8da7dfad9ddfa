/**
 * Record references (the DP's ids of its records) held compactly: one byte buffer of their UTF-8 text and
 * one u32 end offset per record, instead of one JavaScript string each. A string costs 16–24 bytes of
 * header beside its text and a pointer in an array; at 10M records that was ~400 MB of the broker's heap,
 * against ~130 MB packed (docs/decisions.md, "Big datasets"). A ref is decoded when an answer needs it: one
 * per match candidate, one per linkage pair.
 */
import { PavilionError } from '../common/errors.js';

/** What the engine and the datasets read refs through: a plain string array is one too. */
export interface RefList {
  readonly length: number;
  at(index: number): string | undefined;
}

const utf8 = new TextEncoder();

/** Refs appended in order, then frozen into PackedRefs. */
export class PackedRefsBuilder {
  private bytes: Uint8Array;
  private ends: Uint32Array;
  private used = 0;
  private count = 0;

  /** `expected`: how many refs will come (a hint: the builder grows past it). */
  constructor(expected = 1024) {
    const n = Math.max(16, expected);
    this.ends = new Uint32Array(n);
    this.bytes = new Uint8Array(n * 12);
  }

  get length(): number {
    return this.count;
  }

  push(ref: string): void {
    if (typeof ref !== 'string') throw new PavilionError('DATASET_INVALID', 'refs must be strings');
    // UTF-8 takes at most 3 bytes per UTF-16 unit: make room for the worst case, then write exactly.
    const room = this.used + ref.length * 3;
    if (room > this.bytes.length) {
      const grown = new Uint8Array(Math.max(room, Math.ceil(this.bytes.length * 1.5)));
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    if (this.count === this.ends.length) {
      const grown = new Uint32Array(Math.ceil(this.ends.length * 1.5));
      grown.set(this.ends);
      this.ends = grown;
    }
    this.used += utf8.encodeInto(ref, this.bytes.subarray(this.used)).written;
    if (this.used > 0xffff_ffff) throw new PavilionError('DATASET_TOO_LARGE', 'refs exceed 4 GiB of text');
    this.ends[this.count++] = this.used;
  }

  pushAll(refs: Iterable<string>): void {
    for (const r of refs) this.push(r);
  }

  /** The refs so far, trimmed to size; the builder must not be used afterwards. */
  finish(): PackedRefs {
    const packed = new PackedRefs(this.bytes.slice(0, this.used), this.ends.slice(0, this.count));
    this.bytes = new Uint8Array(0);
    this.ends = new Uint32Array(0);
    return packed;
  }
}

export class PackedRefs implements RefList {
  private readonly text: Buffer;

  constructor(
    bytes: Uint8Array,
    /** ends[i]: where ref i's bytes end (ref i starts where ref i − 1 ended). */
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
    return this.text.toString('utf8', i === 0 ? 0 : this.ends[i - 1]!, this.ends[i]!);
  }

  /** Bytes held (text and offsets), for benchmarks and metrics. */
  get byteLength(): number {
    return this.text.byteLength + this.ends.byteLength;
  }
}
