/**
 * Encoding a piece of a CSV file, bytes in, base64 CLK lines out: what a
 * worker (or the main thread, for small inputs) does for `pavilion encode`.
 * The piece holds whole records (cut with lastRecordEnd); decoding, parsing,
 * encoding and base64 all happen here, so the thread that reads the file only
 * moves bytes (parsing on the main thread and cloning rows to the workers
 * bounded the whole command; engine/README.md).
 *
 * Line numbers in a failure are counted from the piece's first line (1); the
 * caller, which knows how many lines came before, makes them absolute.
 */
import { isUtf8 } from 'node:buffer';
import { type ErrorCode, isPavilionError } from '../common/errors.js';
import { CsvLineError, CsvRecords } from './clk/csv.js';
import type { ClkEncoder } from './clk/encoder.js';

export interface CsvChunkSpec {
  /** For each schema feature, in schema order: its CSV column, or -1 for an ignored feature the file lacks. */
  readonly columns: readonly number[];
  /** Columns every record must have. */
  readonly width: number;
  /** Whether `width` comes from a header row (for the error message) or from the schema. */
  readonly header: boolean;
  /** Delimiter character code (csv.ts delimiterCode). */
  readonly delimiter: number;
  /** `lines`: base64 + "\n" per CLK. `json`: `,\n"base64"` per CLK (the caller drops the very first comma). */
  readonly format: 'lines' | 'json';
}

export interface CsvChunkFailure {
  code: ErrorCode;
  /** What is wrong, without the line (never a value). */
  message: string;
  /** Line in the piece, from 1. */
  line: number;
}

export interface CsvChunkResult {
  /** ASCII output for the records before the failure (all of them without one). */
  output: Uint8Array;
  records: number;
  /** Line breaks in the piece: the next piece starts this many lines later. */
  lines: number;
  failure?: CsvChunkFailure;
}

const LF = 0x0a;
const CR = 0x0d;

export function encodeCsvChunk(encoder: ClkEncoder, bytes: Uint8Array, spec: CsvChunkSpec): CsvChunkResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isUtf8(buf)) {
    return {
      output: new Uint8Array(0),
      records: 0,
      lines: 0,
      failure: { code: 'CSV_INVALID', message: 'not valid UTF-8', line: firstBadUtf8Line(buf) },
    };
  }
  const reader = new CsvRecords(buf.toString('utf8'), spec.delimiter);
  const progress: Progress = {
    clks: new Uint8Array(encoder.filterBytes * Math.max(16, Math.ceil(bytes.length / 32))),
    records: 0,
  };
  try {
    encodeRecords(encoder, reader, spec, progress);
  } catch (err) {
    if (!isPavilionError(err)) throw err;
    progress.failure =
      err instanceof CsvLineError
        ? { code: err.code, message: err.detail, line: err.line }
        : { code: err.code, message: err.message, line: reader.line };
  }
  const { clks, records, failure } = progress;
  return {
    output: base64Lines(clks, records, encoder.filterBytes, spec.format),
    records,
    lines: reader.linesRead,
    failure,
  };
}

interface Progress {
  clks: Uint8Array;
  records: number;
  failure?: CsvChunkFailure;
}

/**
 * The hot loop, on its own: V8 compiles it on stack replacement while it
 * runs, and code after the loop in the same function (never run by then, so
 * without type feedback) threw that compiled code away at the end of every
 * piece, dozens of times a file (--trace-deopt).
 */
function encodeRecords(encoder: ClkEncoder, reader: CsvRecords, spec: CsvChunkSpec, progress: Progress): void {
  const fields = reader.fields;
  const columns = spec.columns;
  const row: string[] = columns.map(() => '');
  const clkBytes = encoder.filterBytes;
  while (reader.next()) {
    if (fields.length !== spec.width) {
      progress.failure = fieldCountFailure(fields.length, spec, reader.line);
      return;
    }
    for (let f = 0; f < columns.length; f++) {
      const c = columns[f]!;
      row[f] = c < 0 ? '' : fields[c]!;
    }
    if ((progress.records + 1) * clkBytes > progress.clks.length) {
      const grown = new Uint8Array(progress.clks.length * 2);
      grown.set(progress.clks);
      progress.clks = grown;
    }
    encoder.encodeInto(row, progress.clks, progress.records * clkBytes);
    progress.records++;
  }
}

function fieldCountFailure(columns: number, spec: CsvChunkSpec, line: number): CsvChunkFailure {
  return {
    code: 'RECORD_FIELD_COUNT',
    message: `${columns} column${columns === 1 ? '' : 's'}, the ${
      spec.header ? `header has ${spec.width}` : `schema has ${spec.width} features`
    }`,
    line,
  };
}

function base64Lines(clks: Uint8Array, records: number, clkBytes: number, format: 'lines' | 'json'): Uint8Array {
  const b64 = 4 * Math.ceil(clkBytes / 3);
  const per = format === 'lines' ? b64 + 1 : b64 + 4;
  const out = Buffer.allocUnsafeSlow(records * per);
  const src = Buffer.from(clks.buffer, clks.byteOffset, records * clkBytes);
  let at = 0;
  for (let i = 0; i < records; i++) {
    const text = src.toString('base64', i * clkBytes, (i + 1) * clkBytes);
    if (format === 'lines') {
      at += out.write(text, at, 'latin1');
      out[at++] = LF;
    } else {
      out[at++] = 0x2c; // ,
      out[at++] = LF;
      out[at++] = 0x22; // "
      at += out.write(text, at, 'latin1');
      out[at++] = 0x22;
    }
  }
  return new Uint8Array(out.buffer, out.byteOffset, at);
}

/** The line (from 1; \r\n, \r and \n each end one) holding the first byte that is not UTF-8. */
export function firstBadUtf8Line(bytes: Uint8Array): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let line = 1;
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    const c = i < buf.length ? buf[i] : LF;
    if (c !== LF && c !== CR) continue;
    if (!isUtf8(buf.subarray(start, i))) return line;
    if (c === CR && buf[i + 1] === LF) i++;
    line++;
    start = i + 1;
  }
  return line;
}
