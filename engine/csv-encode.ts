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
import { type ErrorCode, isPavilionError } from '../common/errors.js';
import { CsvLineError, CsvRecords, decodeCsvPiece, scansUnquoted, scanUnquoted } from './clk/csv.js';
import type { ClkEncoder, ColumnsResult } from './clk/encoder.js';

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

export function encodeCsvChunk(encoder: ClkEncoder, bytes: Uint8Array, spec: CsvChunkSpec): CsvChunkResult {
  // Without quotes (FEBRL-like files have none) the values are read from the bytes where they are.
  if (scansUnquoted(bytes)) return encodeUnquoted(encoder, bytes, spec);
  let text: string;
  try {
    text = decodeCsvPiece(bytes, 1);
  } catch (err) {
    if (!(err instanceof CsvLineError)) throw err;
    return { output: new Uint8Array(0), records: 0, lines: 0, failure: lineFailure(err) };
  }
  return encodeRecords(encoder, new CsvRecords(text, spec.delimiter), spec);
}

/** encodeCsvChunk for a valid UTF-8 piece without quotes: no string is built for a value the caches hold. */
function encodeUnquoted(encoder: ClkEncoder, bytes: Uint8Array, spec: CsvChunkSpec): CsvChunkResult {
  const scan = scanUnquoted(bytes, spec.delimiter, spec.width);
  const failure: CsvChunkFailure | undefined = scan.error
    ? lineFailure(scan.error)
    : scan.fieldCount && fieldCountFailure(scan.fieldCount.fields, spec, scan.fieldCount.line);
  const clks = new Uint8Array(scan.records * encoder.filterBytes);
  const fields = {
    bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    bounds: scan.bounds,
    stride: spec.width + 1,
  };
  const encoded = encoder.encodeFields(fields, spec.columns, scan.records, clks, 0);
  return chunkResult(encoder, spec, clks, encoded, scan.lines, scan.linesRead, failure);
}

/**
 * The piece's records are read into columns first, then encoded feature by
 * feature (ClkEncoder.encodeColumns); the first failure in record order is
 * reported, a bad value before a bad line.
 */
function encodeRecords(encoder: ClkEncoder, reader: CsvRecords, spec: CsvChunkSpec): CsvChunkResult {
  const columns = spec.columns.map(() => [] as string[]);
  const lines: number[] = [];
  let failure: CsvChunkFailure | undefined;
  try {
    failure = readColumns(reader, spec, columns, lines);
  } catch (err) {
    if (!(err instanceof CsvLineError)) throw err;
    failure = lineFailure(err);
  }
  const clks = new Uint8Array(lines.length * encoder.filterBytes);
  const encoded = encoder.encodeColumns(columns, lines.length, clks, 0);
  return chunkResult(encoder, spec, clks, encoded, lines, reader.linesRead, failure);
}

/**
 * A piece's result once its records were encoded: a bad value (record `encoded`, on `lines[encoded]`) is the
 * failure to report, before any failure of reading, which came later in the piece.
 */
function chunkResult(
  encoder: ClkEncoder,
  spec: CsvChunkSpec,
  clks: Uint8Array,
  { encoded, error }: ColumnsResult,
  lines: ArrayLike<number>,
  linesRead: number,
  failure: CsvChunkFailure | undefined,
): CsvChunkResult {
  if (error !== undefined) {
    if (!isPavilionError(error)) throw error;
    failure = { code: error.code, message: error.message, line: lines[encoded]! };
  }
  return {
    output: base64Lines(clks, encoded, encoder.filterBytes, spec.format),
    records: encoded,
    lines: linesRead,
    failure,
  };
}

/**
 * Reads records into columns[feature][record] and their first lines; returns a record's wrong column count.
 * The loop is in a function of its own: V8 compiles a loop on stack replacement while it runs, and code
 * after the loop in the same function (never run by then, so without type feedback) threw that compiled
 * code away at the end of every piece, dozens of times a file (--trace-deopt).
 */
function readColumns(
  reader: CsvRecords,
  spec: CsvChunkSpec,
  columns: string[][],
  lines: number[],
): CsvChunkFailure | undefined {
  const fields = reader.fields;
  const map = spec.columns;
  while (reader.next()) {
    if (fields.length !== spec.width) return fieldCountFailure(fields.length, spec, reader.line);
    const r = lines.length;
    for (let f = 0; f < map.length; f++) {
      const c = map[f]!;
      columns[f]![r] = c < 0 ? '' : fields[c]!;
    }
    lines.push(reader.line);
  }
  return undefined;
}

function lineFailure(err: CsvLineError): CsvChunkFailure {
  return { code: err.code, message: err.detail, line: err.line };
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
