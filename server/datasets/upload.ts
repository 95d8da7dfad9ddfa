/**
 * Parsers for dataset version uploads, fed chunk by chunk as the body
 * arrives (the broker never holds the raw upload, only the decoded rows).
 *
 * JSONL (`application/x-ndjson` or `application/jsonl`): one object per line,
 *   {"ref": "p123", "clk": "<standard base64>", "claims": {"over_18": true}}
 *   Lines are bounded (MAX_LINE_BYTES); blank lines are skipped.
 *
 * Binary (`application/vnd.pavilion.dataset`), all integers little-endian:
 *   magic "PVDS" | u32 format version (1) | u32 filterBits | u32 count
 *   count × ( u16 ref byte length | ref (UTF-8) | CLK (filterBits/8 bytes) )
 *   optional: u32 claims byte length | UTF-8 JSON array of `count` claims objects (or null)
 *   Nothing may follow.
 *
 * Text must be text: a JSONL line or PVDS text that is not UTF-8, and a ref, claim name or claim value
 * holding a lone surrogate (the JSON escape `\udc00` alone) or a NUL, is refused. Decoding would turn
 * bad bytes into U+FFFD (two distinct refs into one), and Postgres refuses the other two in text and jsonb
 * (a dry run accepted what the real upload then failed on).
 *
 * Errors name the line or record number and the field, never its value; PVDS format errors name the
 * byte offset.
 */
import { isUtf8 } from 'node:buffer';
import { PavilionError } from '../../common/errors.js';
import { isCanonicalBase64 } from '../../engine/validation.js';
import { type ClaimType, type ClaimTypes, claimTypeProblem, scalarKind } from './claim-types.js';
import type { Claims, VersionRows } from './store.js';

export const MAX_LINE_BYTES = 64 * 1024;
export const MAX_REF_BYTES = 256;
export const BINARY_MAGIC = 'PVDS';
export const BINARY_FORMAT_VERSION = 1;

/**
 * What Postgres cannot store as text or jsonb: a surrogate that is not half of a pair (with the `u` flag a
 * pair is one astral code point, not Cs), and NUL.
 */
const NOT_STORABLE = /[\p{Cs}\u0000]/u;
const NOT_TEXT = 'is not text the broker can store (it holds a lone surrogate or a NUL character)';

/** What an upload holds, for the provider to check before activating (never a value). */
export interface VersionSummary {
  rows: number;
  /** Per declared claim: its type, rows holding a value, rows holding null (the rest lack it). */
  claims: Record<string, { type: ClaimType; values: number; nulls: number }>;
  /** Rows whose CLK equals an earlier row's: those people answer `ambiguous`, never `match`. */
  duplicate_clks: number;
  /** Rows whose CLK has no bit set (every field empty?): they never match. */
  empty_clks: number;
}

/**
 * Accumulates decoded rows: all of them (for the engine) and per chunk (for
 * the database). Checks each CLK's length, ref uniqueness, claim names and
 * claim types (server/datasets/claim-types.ts).
 */
export class RowCollector {
  private readonly bytes: number;
  private readonly allClks: Uint8Array[] = [];
  readonly refs: string[] = [];
  readonly claims: Claims[] = [];
  private readonly seen = new Set<string>();
  private chunkStart = 0;
  private chunkClks: Uint8Array[] = [];
  private readonly claimTypes: ReadonlyMap<string, ClaimType>;
  /** The JSON type each `scalar` claim took first in this upload, and where. */
  private readonly scalarKinds = new Map<string, { kind: string; where: string }>();
  private emptyClks = 0;
  /** Per declared claim: rows holding a value, rows holding null (counted as rows are checked). */
  private readonly claimCounts = new Map<string, { values: number; nulls: number }>();

  constructor(
    readonly filterBits: number,
    /** Declared claims: names (each `scalar`) or name → type. */
    claims: ReadonlySet<string> | ClaimTypes,
    private readonly chunkRows: number,
  ) {
    this.bytes = filterBits / 8;
    this.claimTypes =
      claims instanceof Set
        ? new Map([...claims].map((n) => [n, 'scalar' as ClaimType]))
        : new Map(Object.entries(claims as ClaimTypes));
    for (const name of this.claimTypes.keys()) this.claimCounts.set(name, { values: 0, nulls: 0 });
  }

  get count(): number {
    return this.refs.length;
  }

  add(where: string, ref: unknown, clk: Uint8Array, claims: unknown): void {
    if (typeof ref !== 'string' || ref.length === 0 || Buffer.byteLength(ref) > MAX_REF_BYTES) {
      throw new PavilionError(
        'UPLOAD_ROW_INVALID',
        `${where}: ref must be a non-empty string of at most ${MAX_REF_BYTES} bytes`,
      );
    }
    if (NOT_STORABLE.test(ref)) throw new PavilionError('UPLOAD_ROW_INVALID', `${where}: ref ${NOT_TEXT}`);
    if (clk.length !== this.bytes) {
      throw new PavilionError(
        'CLK_LENGTH_MISMATCH',
        `${where}: CLK of ${clk.length * 8} bits, the dataset schema says ${this.filterBits}`,
      );
    }
    if (this.seen.has(ref)) throw new PavilionError('UPLOAD_DUPLICATE_REF', `${where}: ref repeats an earlier row`);
    this.seen.add(ref);
    const c = this.checkClaims(where, claims);
    if (clk.every((b) => b === 0)) this.emptyClks++;
    this.refs.push(ref);
    this.claims.push(c);
    this.allClks.push(clk);
    this.chunkClks.push(clk);
  }

  /** Sets the claims of an earlier row (the binary form carries them after all rows). */
  setClaims(where: string, index: number, claims: unknown): void {
    this.claims[index] = this.checkClaims(where, claims);
  }

  private checkClaims(where: string, claims: unknown): Claims {
    if (claims === undefined || claims === null) return null;
    if (typeof claims !== 'object' || Array.isArray(claims))
      throw new PavilionError('UPLOAD_ROW_INVALID', `${where}: claims must be an object`);
    for (const [k, v] of Object.entries(claims)) {
      if (NOT_STORABLE.test(k)) throw new PavilionError('UPLOAD_ROW_INVALID', `${where}: a claim name ${NOT_TEXT}`);
      const type = this.claimTypes.get(k);
      const name = JSON.stringify(k.slice(0, 64));
      if (type === undefined)
        throw new PavilionError('UPLOAD_CLAIM_UNKNOWN', `${where}: claim ${name} is not declared by the dataset`);
      // Whatever the claim's type: such a string is not text, and jsonb refuses it.
      if (typeof v === 'string' && NOT_STORABLE.test(v))
        throw new PavilionError('UPLOAD_ROW_INVALID', `${where}: claim ${name} ${NOT_TEXT}`);
      const problem = claimTypeProblem(type, v);
      if (problem !== null) {
        // A value that is not even a JSON scalar was refused as a malformed row before types existed.
        const code = type === 'scalar' ? 'UPLOAD_ROW_INVALID' : 'UPLOAD_CLAIM_TYPE';
        throw new PavilionError(code, `${where}: claim ${name} ${problem}`);
      }
      const counts = this.claimCounts.get(k)!;
      if (v === null) counts.nulls++;
      else counts.values++;
      if (type === 'scalar' && v !== null) {
        const kind = scalarKind(v);
        const first = this.scalarKinds.get(k);
        if (!first) this.scalarKinds.set(k, { kind, where });
        else if (first.kind !== kind)
          throw new PavilionError(
            'UPLOAD_CLAIM_TYPE',
            `${where}: claim ${name} is a ${kind}, but a ${first.kind} at ${first.where}; ` +
              'a claim holds one type in a version (declare its type in the dataset definition)',
          );
      }
    }
    return claims as Record<string, unknown>;
  }

  /** Counts for the provider's checks (VersionSummary); call once every row is in. */
  summary(): VersionSummary {
    const claims: VersionSummary['claims'] = {};
    for (const [name, type] of this.claimTypes) claims[name] = { type, ...this.claimCounts.get(name)! };
    return {
      rows: this.count,
      claims,
      duplicate_clks: countDuplicateClks(this.allClks),
      empty_clks: this.emptyClks,
    };
  }

  /** A full chunk ready to persist, or null. With `final`, whatever is left. */
  takeChunk(final = false): VersionRows | null {
    const n = this.refs.length - this.chunkStart;
    if (n === 0 || (!final && n < this.chunkRows)) return null;
    const rows: VersionRows = {
      refs: this.refs.slice(this.chunkStart),
      claims: this.claims.slice(this.chunkStart),
      clks: Buffer.concat(this.chunkClks),
    };
    this.chunkStart = this.refs.length;
    this.chunkClks = [];
    return rows;
  }

  /** Every CLK, concatenated, in row order. */
  allClksConcatenated(): Uint8Array {
    return Buffer.concat(this.allClks);
  }
}

export interface UploadParser {
  push(chunk: Buffer): void;
  end(): void;
}

export class JsonlParser implements UploadParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private line = 0;

  constructor(private readonly rows: RowCollector) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.pendingBytes + piece.length > MAX_LINE_BYTES) this.tooLong();
      const lineBuf = this.pending.length ? Buffer.concat([...this.pending, piece]) : piece;
      this.pending = [];
      this.pendingBytes = 0;
      this.parseLine(lineBuf);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      if (this.pendingBytes > MAX_LINE_BYTES) this.tooLong();
      this.pending.push(rest);
    }
  }

  end(): void {
    if (this.pendingBytes > 0) {
      this.parseLine(Buffer.concat(this.pending));
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  private tooLong(): never {
    throw new PavilionError('UPLOAD_LINE_TOO_LONG', `line ${this.line + 1}: longer than ${MAX_LINE_BYTES} bytes`);
  }

  private parseLine(buf: Buffer): void {
    this.line++;
    const where = `line ${this.line}`;
    // JSON is UTF-8 (RFC 8259): decoding anything else would put U+FFFD in place of its bytes.
    if (!isUtf8(buf)) throw new PavilionError('UPLOAD_LINE_INVALID', `${where}: not UTF-8 text`);
    const text = buf.toString('utf8').trim();
    if (text === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      throw new PavilionError('UPLOAD_LINE_INVALID', `${where}: not a JSON object`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw new PavilionError('UPLOAD_LINE_INVALID', `${where}: not a JSON object`);
    const { ref, clk, claims } = obj as { ref?: unknown; clk?: unknown; claims?: unknown };
    if (typeof clk !== 'string' || !isCanonicalBase64(clk)) {
      throw new PavilionError('CLK_BASE64_INVALID', `${where}: clk must be canonical standard padded base64`);
    }
    this.rows.add(where, ref, Buffer.from(clk, 'base64'), claims);
  }
}

/** Parses the PVDS binary form incrementally (see the file comment). */
export class BinaryParser implements UploadParser {
  private buf: Buffer = Buffer.alloc(0);
  /** Byte offset in the upload of `buf[0]`, for messages. */
  private base = 0;
  private stage: 'header' | 'rows' | 'claims-length' | 'claims' | 'done' = 'header';
  private count = 0;
  private index = 0;
  private claimsLength = 0;
  /** Byte offset in the upload where the claims JSON begins. */
  private claimsStart = 0;
  private claimsParts: Buffer[] = [];
  private claimsReceived = 0;
  /** Whether the claims section has shown its first byte other than JSON whitespace (a `[`). */
  private claimsOpened = false;
  private readonly bytes: number;

  constructor(private readonly rows: RowCollector) {
    this.bytes = rows.filterBits / 8;
  }

  push(chunk: Buffer): void {
    if (this.stage === 'claims') {
      this.takeClaims(chunk);
      return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const avail = this.buf.length - at;
      if (this.stage === 'header') {
        if (avail < 16) break;
        if (this.buf.toString('latin1', at, at + 4) !== BINARY_MAGIC)
          throw new PavilionError('UPLOAD_BINARY_INVALID', 'missing PVDS magic at byte 0');
        const version = this.buf.readUInt32LE(at + 4);
        if (version !== BINARY_FORMAT_VERSION)
          throw new PavilionError('UPLOAD_BINARY_INVALID', `format version ${version} at byte 4 is not supported`);
        const bits = this.buf.readUInt32LE(at + 8);
        if (bits !== this.rows.filterBits)
          throw new PavilionError(
            'CLK_LENGTH_MISMATCH',
            `header says ${bits}-bit CLKs, the dataset schema says ${this.rows.filterBits}`,
          );
        this.count = this.buf.readUInt32LE(at + 12);
        at += 16;
        this.stage = this.count > 0 ? 'rows' : 'claims-length';
      } else if (this.stage === 'rows') {
        if (avail < 2) break;
        const refLen = this.buf.readUInt16LE(at);
        if (refLen === 0 || refLen > MAX_REF_BYTES)
          throw new PavilionError(
            'UPLOAD_ROW_INVALID',
            `record ${this.index}: ref length ${refLen} out of range 1..${MAX_REF_BYTES}`,
          );
        if (avail < 2 + refLen + this.bytes) break;
        // Decoded strictly: U+FFFD in place of bad bytes would alter the ref, or make two refs one.
        if (!isUtf8(this.buf.subarray(at + 2, at + 2 + refLen)))
          throw new PavilionError(
            'UPLOAD_BINARY_INVALID',
            `record ${this.index} at byte ${this.base + at}: ref is not UTF-8`,
          );
        const ref = this.buf.toString('utf8', at + 2, at + 2 + refLen);
        // Copy: the CLK outlives this input buffer.
        const clk = Buffer.from(this.buf.subarray(at + 2 + refLen, at + 2 + refLen + this.bytes));
        this.rows.add(`record ${this.index}`, ref, clk, undefined);
        at += 2 + refLen + this.bytes;
        if (++this.index === this.count) this.stage = 'claims-length';
      } else if (this.stage === 'claims-length') {
        if (avail < 4) break;
        this.claimsLength = this.buf.readUInt32LE(at);
        at += 4;
        this.claimsStart = this.base + at;
        this.stage = 'claims';
        const rest = this.buf.subarray(at);
        this.buf = Buffer.alloc(0);
        this.takeClaims(rest);
        return;
      } else {
        break;
      }
    }
    this.buf = at >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(at));
    this.base += at;
  }

  /** The claims section is collected as a list of parts: one concat at the end, not one per chunk. */
  private takeClaims(chunk: Buffer): void {
    const need = this.stage === 'done' ? 0 : this.claimsLength - this.claimsReceived;
    if (!this.claimsOpened) this.checkClaimsOpen(chunk.subarray(0, need));
    if (chunk.length > need)
      throw new PavilionError(
        'UPLOAD_BINARY_INVALID',
        `unexpected bytes at byte ${this.claimsStart + this.claimsLength}, after the end of the dataset`,
      );
    if (this.stage === 'done') return;
    if (chunk.length > 0) this.claimsParts.push(Buffer.from(chunk));
    this.claimsReceived += chunk.length;
    if (this.claimsReceived === this.claimsLength) {
      this.applyClaims(Buffer.concat(this.claimsParts));
      this.claimsParts = [];
      this.stage = 'done';
    }
  }

  /**
   * What follows the records the header declares is a claims section (u32 length, JSON array) or
   * nothing. Bytes that do not open a JSON array are not one: more records than the header's count, most
   * likely. Said at their offset here, rather than read as a claims length and reported at the end as a
   * truncated upload (or as bytes after the end, wherever that length pointed).
   */
  private checkClaimsOpen(chunk: Buffer): void {
    for (const byte of chunk) {
      if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue; // JSON whitespace
      if (byte !== 0x5b) throw this.notClaims(this.claimsStart - 4);
      this.claimsOpened = true;
      return;
    }
  }

  private notClaims(at: number): PavilionError {
    return new PavilionError(
      'UPLOAD_BINARY_INVALID',
      `unexpected bytes at byte ${at}, after the ${this.count} record(s) the header declares: not a claims ` +
        'section (a u32 length, then a JSON array)',
    );
  }

  end(): void {
    if (this.stage === 'claims-length' && this.buf.length === 0) return; // no claims section
    if (this.stage === 'done') return;
    if (this.stage === 'header')
      throw new PavilionError(
        'UPLOAD_TRUNCATED',
        `binary dataset ends inside its 16-byte header (after ${this.buf.length} bytes)`,
      );
    if (this.stage === 'rows')
      throw new PavilionError('UPLOAD_TRUNCATED', `binary dataset ends early (${this.index} of ${this.count} records)`);
    // 1 to 3 bytes after the records: too few for a claims length.
    if (this.stage === 'claims-length') throw this.notClaims(this.base);
    throw new PavilionError(
      'UPLOAD_TRUNCATED',
      `binary dataset ends inside the claims section at byte ${this.claimsStart} (${this.claimsReceived} of ` +
        `${this.claimsLength} bytes)`,
    );
  }

  private applyClaims(json: Buffer): void {
    const section = `claims section at byte ${this.claimsStart}`;
    if (!isUtf8(json)) throw new PavilionError('UPLOAD_BINARY_INVALID', `${section} is not UTF-8`);
    let arr: unknown;
    try {
      arr = JSON.parse(json.toString('utf8'));
    } catch {
      throw new PavilionError('UPLOAD_BINARY_INVALID', `${section} is not JSON`);
    }
    if (!Array.isArray(arr) || arr.length !== this.count)
      throw new PavilionError('UPLOAD_BINARY_INVALID', `${section} must be an array of ${this.count} entries`);
    arr.forEach((c, i) => {
      this.rows.setClaims(`record ${i}`, i, c);
    });
  }
}

/** Builds a PVDS body (used by the benchmarks, tests and clients). */
export function encodeBinaryDataset(
  filterBits: number,
  rows: { ref: string; clk: Uint8Array }[],
  claims?: Claims[],
): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(16);
  head.write(BINARY_MAGIC, 0, 'latin1');
  head.writeUInt32LE(BINARY_FORMAT_VERSION, 4);
  head.writeUInt32LE(filterBits, 8);
  head.writeUInt32LE(rows.length, 12);
  parts.push(head);
  for (const r of rows) {
    const ref = Buffer.from(r.ref, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16LE(ref.length, 0);
    parts.push(len, ref, Buffer.from(r.clk));
  }
  if (claims) {
    const json = Buffer.from(JSON.stringify(claims), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length, 0);
    parts.push(len, json);
  }
  return Buffer.concat(parts);
}

/**
 * Rows whose CLK equals an earlier one's. Each row gets a key of its CLK's first 28 bits and its row
 * number (53 bits: exact in a double), sorted natively; only rows whose prefixes agree are then
 * compared in full, sorted among themselves, so even many CLKs sharing a prefix (sparse ones) cost
 * O(k log k). About 0.1 s for a million rows, no per-row strings or allocations.
 */
export function countDuplicateClks(clks: readonly Uint8Array[]): number {
  const n = clks.length;
  if (n < 2) return 0;
  const ROW_BITS = 25;
  const rowsOf = (order: number[]): number => {
    order.sort((a, b) => Buffer.compare(clks[a]!, clks[b]!));
    let d = 0;
    for (let i = 1; i < order.length; i++) if (Buffer.compare(clks[order[i - 1]!]!, clks[order[i]!]!) === 0) d++;
    return d;
  };
  // Beyond 2^25 rows (more than a version's engine memory holds at 1,024 bits): compare everything.
  if (n >= 2 ** ROW_BITS) return rowsOf(Array.from({ length: n }, (_, i) => i));
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = clks[i]!;
    const prefix = (((c[0] ?? 0) << 20) | ((c[1] ?? 0) << 12) | ((c[2] ?? 0) << 4) | ((c[3] ?? 0) >>> 4)) >>> 0;
    keys[i] = prefix * 2 ** ROW_BITS + i;
  }
  keys.sort();
  const rowMask = 2 ** ROW_BITS;
  let duplicates = 0;
  let runStart = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && Math.floor(keys[i]! / rowMask) === Math.floor(keys[runStart]! / rowMask)) continue;
    if (i - runStart > 1) duplicates += rowsOf(Array.from(keys.subarray(runStart, i), (k) => k % rowMask));
    runStart = i;
  }
  return duplicates;
}
