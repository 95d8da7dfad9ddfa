/**
 * CSV read the way clkhash's users read it, so a file gives the same values
 * (and so the same CLKs) here as there: Python's `csv.reader` with the excel
 * dialect (strict=False) over a text file opened as `open(path)` opens it,
 * with universal newlines. clkhash's `generate_clk_from_csv` and the
 * anonlink-client `hash` command both read this way.
 *
 * What that means, field by field:
 *  - a field starting with `"` is quoted: delimiters and line breaks inside it
 *    are data, `""` is one quote; characters after the closing quote are
 *    appended as they are (`"a"b` is `ab`);
 *  - a quote anywhere else is an ordinary character (`Dwayne "The Rock"`);
 *  - `\r\n`, `\r` and `\n` end a record (inside a quoted field each becomes `\n`);
 *  - no whitespace is trimmed; a field may hold at most 131,072 characters
 *    (Python's default `field_size_limit`).
 * Differences, all refusals: a quoted field still open at the end of the input
 * is an error here (Python silently takes the rest of the file as one field),
 * and blank lines are skipped (Python yields an empty record for them, which
 * clkhash then rejects for its length).
 *
 * Errors name the line and what is wrong, never a field's content.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { PavilionError } from '../../common/errors.js';

/** A CSV_INVALID error about one line; `detail` is the message without the line, for callers that renumber it. */
export class CsvLineError extends PavilionError {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super('CSV_INVALID', `line ${line}: ${detail}`);
  }
}

/** Python's csv.field_size_limit() default, in characters (code points, as Python counts them). */
export const FIELD_SIZE_LIMIT = 131_072;

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

/**
 * Checks a delimiter the way Python's csv module would accept it, limited to
 * one ASCII character (so record boundaries can be found in raw bytes).
 * Returns its character code.
 */
export function delimiterCode(delimiter: string): number {
  const c = delimiter.length === 1 ? delimiter.charCodeAt(0) : -1;
  if (c < 0 || c > 0x7e || c === QUOTE || c === LF || c === CR || (c < 0x20 && c !== 0x09)) {
    throw new PavilionError(
      'DELIMITER_INVALID',
      'the delimiter must be one printable ASCII character or a tab, not a quote or a line break',
    );
  }
  return c;
}

/**
 * Reads records from `text` one at a time into `fields` (reused: copy what
 * must outlive the next call). `line` is the line the current record starts
 * on, counted from `firstLine`; `linesRead` counts the line breaks consumed.
 */
export class CsvRecords {
  readonly fields: string[] = [];
  line = 0;
  private pos = 0;
  private nextLine: number;

  constructor(
    private readonly text: string,
    private readonly delimiter: number,
    private readonly firstLine = 1,
  ) {
    this.nextLine = firstLine;
  }

  /** Line breaks consumed so far (all of them once next() returned false). */
  get linesRead(): number {
    return this.nextLine - this.firstLine;
  }

  /** Offset just after the current record (and its line break). */
  get offset(): number {
    return this.pos;
  }

  /** Reads the next record; false at the end of the text. Blank lines are skipped. */
  next(): boolean {
    const text = this.text;
    const n = text.length;
    const d = this.delimiter;
    let pos = this.pos;
    for (;;) {
      if (pos >= n) {
        this.pos = pos;
        return false;
      }
      const c = text.charCodeAt(pos);
      if (c === LF) pos++;
      else if (c === CR) pos += pos + 1 < n && text.charCodeAt(pos + 1) === LF ? 2 : 1;
      else break;
      this.nextLine++;
    }
    this.line = this.nextLine;
    const fields = this.fields;
    let count = 0;
    for (;;) {
      let value: string;
      if (pos < n && text.charCodeAt(pos) === QUOTE) {
        pos++;
        value = '';
        let start = pos;
        for (;;) {
          if (pos >= n) {
            this.pos = pos;
            throw new CsvLineError(this.line, 'a quoted field is not closed');
          }
          const c = text.charCodeAt(pos);
          if (c === QUOTE) {
            value += text.slice(start, pos);
            pos++;
            if (pos < n && text.charCodeAt(pos) === QUOTE) {
              value += '"';
              start = ++pos;
              continue;
            }
            // After the closing quote (strict=False), the rest of the field is taken as it is.
            start = pos;
            while (pos < n) {
              const e = text.charCodeAt(pos);
              if (e === d || e === LF || e === CR) break;
              pos++;
            }
            value += text.slice(start, pos);
            break;
          }
          if (c === CR) {
            // Universal newlines: \r\n and \r reach the csv module as \n.
            value += `${text.slice(start, pos)}\n`;
            pos += pos + 1 < n && text.charCodeAt(pos + 1) === LF ? 2 : 1;
            start = pos;
            this.nextLine++;
            continue;
          }
          if (c === LF) this.nextLine++;
          pos++;
        }
      } else {
        const start = pos;
        while (pos < n) {
          const c = text.charCodeAt(pos);
          if (c === d || c === LF || c === CR) break;
          pos++;
        }
        value = text.slice(start, pos);
      }
      if (value.length > FIELD_SIZE_LIMIT && codePoints(value) > FIELD_SIZE_LIMIT) {
        this.pos = pos;
        throw new CsvLineError(this.line, `field ${count + 1} is longer than ${FIELD_SIZE_LIMIT} characters`);
      }
      fields[count++] = value;
      if (pos >= n) break;
      const c = text.charCodeAt(pos++);
      if (c === d) continue;
      if (c === CR && pos < n && text.charCodeAt(pos) === LF) pos++;
      this.nextLine++;
      break;
    }
    fields.length = count;
    this.pos = pos;
    return true;
  }
}

/**
 * Whether scanUnquoted can read the piece: valid UTF-8 without a quote character (as FEBRL-like files are).
 * Any other piece goes to CsvRecords, which knows quotes and names the line of a bad byte.
 */
export function scansUnquoted(piece: Uint8Array): boolean {
  return piece.indexOf(QUOTE) === -1 && isUtf8(piece);
}

/** Characters (code points, what Python counts) of a string: an emoji is one, not its two UTF-16 units. */
function codePoints(value: string): number {
  let n = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < value.length) {
      const low = value.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Characters of the valid UTF-8 text bytes[start .. end): the bytes that do not continue a character. */
function utf8Characters(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if ((bytes[i]! & 0xc0) !== 0x80) n++;
  return n;
}

/** The records of a piece without quotes, as scanUnquoted finds them. */
export interface UnquotedRecords {
  /** Field c of record r is bytes[bounds[r * (width + 1) + c], bounds[r * (width + 1) + c + 1] - 1). */
  bounds: Int32Array;
  /** Line of each record, counted from the piece's first line (1). */
  lines: Int32Array;
  records: number;
  /** Line breaks in the piece (all of them when nothing failed). */
  linesRead: number;
  /** The first record with other than `width` fields: how many it has, and its line. */
  fieldCount?: { fields: number; line: number };
  /** A field over FIELD_SIZE_LIMIT characters. */
  error?: CsvLineError;
}

/**
 * The records of a piece scansUnquoted accepts, read as CsvRecords reads them (`\r\n`, `\r`
 * and `\n` end a record, blank lines are skipped, nothing is trimmed), but as the bounds of their fields
 * in the bytes rather than as strings: the encoder finds most values in its caches by their bytes
 * (engine/clk/value-cache.ts), and building a string per field was a third of encoding a FEBRL piece
 * (docs/decisions.md, "Encoding"). Stops at the first record of another width.
 */
export function scanUnquoted(bytes: Uint8Array, delimiter: number, width: number): UnquotedRecords {
  const n = bytes.length;
  const stride = width + 1;
  // A first guess at the records, grown by doubling: one per 64 bytes, at most 8,192, and never more than
  // fit (a record is at least its width - 1 delimiters), so a wide CSV does not start with megabytes.
  const guess = Math.min(Math.max(16, n >>> 6), 8192, Math.floor(n / Math.max(1, width - 1)) + 1);
  let bounds = new Int32Array(stride * guess);
  let lines = new Int32Array(bounds.length / stride);
  let records = 0;
  let line = 1;
  let pos = 0;
  while (pos < n) {
    const first = bytes[pos]!;
    if (first === LF || first === CR) {
      pos += first === CR && pos + 1 < n && bytes[pos + 1] === LF ? 2 : 1;
      line++;
      continue;
    }
    if ((records + 1) * stride > bounds.length) {
      const grown = new Int32Array(bounds.length * 2);
      grown.set(bounds);
      bounds = grown;
      const grownLines = new Int32Array(lines.length * 2);
      grownLines.set(lines);
      lines = grownLines;
    }
    const b = records * stride;
    bounds[b] = pos;
    let fields = 1;
    let start = pos;
    let c = 0;
    for (;;) {
      c = pos < n ? bytes[pos]! : LF;
      if (c === delimiter || c === LF || c === CR) {
        // Python's limit counts characters: a field of more bytes may still be within it.
        if (pos - start > FIELD_SIZE_LIMIT && utf8Characters(bytes, start, pos) > FIELD_SIZE_LIMIT) {
          const error = new CsvLineError(line, `field ${fields} is longer than ${FIELD_SIZE_LIMIT} characters`);
          return { bounds, lines, records, linesRead: line - 1, error };
        }
        if (c !== delimiter) break;
        if (fields < width) bounds[b + fields] = pos + 1;
        fields++;
        start = pos + 1;
      }
      pos++;
    }
    if (fields !== width) return { bounds, lines, records, linesRead: line - 1, fieldCount: { fields, line } };
    // The record's end as if a delimiter followed it.
    bounds[b + width] = pos + 1;
    lines[records++] = line;
    if (pos < n) {
      pos += c === CR && pos + 1 < n && bytes[pos + 1] === LF ? 2 : 1;
      line++;
    }
  }
  return { bounds, lines, records, linesRead: line - 1 };
}

/**
 * The end (exclusive) of the last complete record in bytes[0 .. length),
 * which must start at a record boundary; -1 when there is none yet. Lets a
 * reader cut a byte stream into pieces of whole records (each decoded and
 * parsed on its own, possibly on another thread) without decoding it.
 * A `\r` as the very last byte is not taken as an end: a `\n` may follow.
 */
export function lastRecordEnd(bytes: Uint8Array, length: number, delimiter: number): number {
  if (bytes.subarray(0, length).indexOf(QUOTE) === -1) {
    // No quotes: every line break ends a record.
    const lf = length > 0 ? bytes.lastIndexOf(LF, length - 1) : -1;
    if (lf !== -1) return lf + 1;
    const cr = length > 1 ? bytes.lastIndexOf(CR, length - 2) : -1;
    return cr === -1 ? -1 : cr + 1;
  }
  return scanRecordEnds(bytes, length, delimiter, false);
}

/** A record longer than this is refused (a quoted field left open would otherwise buffer the whole file). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** The error for a record longer than MAX_RECORD_BYTES starting at or after `line`. */
export function recordTooLong(line: number): CsvLineError {
  return new CsvLineError(line, `a record longer than ${MAX_RECORD_BYTES >> 20} MiB (a quoted field not closed?)`);
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/** Bytes of the UTF-8 byte-order mark bytes[0 .. length) starts with: 3 or 0. */
export function utf8BomLength(bytes: Uint8Array, length = bytes.length): number {
  return length >= UTF8_BOM.length && UTF8_BOM.every((b, i) => bytes[i] === b) ? UTF8_BOM.length : 0;
}

/** buf with data written at buf[used ..]: buf itself, or a copy of buf[0 .. used) grown to hold it. */
export function appendBytes(buf: Uint8Array<ArrayBuffer>, used: number, data: Uint8Array): Uint8Array<ArrayBuffer> {
  let out = buf;
  if (used + data.length > buf.length) {
    out = new Uint8Array(Math.max(buf.length * 2, used + data.length));
    out.set(buf.subarray(0, used));
  }
  out.set(data, used);
  return out;
}

/**
 * Where a reader taking CSV in pieces (csvPieces, `pavilion encode`) may cut its buffer after whole records.
 * A scan must start where a record starts (only there is the quote state known), so a record longer than a
 * piece was scanned from its start again at every read: a 70 MB file with one quote left open took 13 s to
 * be refused. Here a record still open is looked for again only once the buffer has doubled since the last
 * look, and always at the end of the input and before the buffer passes MAX_RECORD_BYTES, so nothing is
 * refused that the limit allows and no cut is lost.
 */
export class RecordCuts {
  /** Bytes scanned to the end last time without a record ending; 0 when the buffer was cut since. */
  private openScanned = 0;

  constructor(private readonly delimiter: number) {}

  /**
   * The end of the last whole record in buf[0 .. min(used, size)), else in buf[0 .. used); -1 when none has
   * ended (yet) there. `eof`: no more bytes will come, so look whatever was looked at before.
   */
  lastEnd(buf: Uint8Array, used: number, size: number, eof = false): number {
    if (this.waits(used, eof)) return -1;
    let end = lastRecordEnd(buf, Math.min(used, size), this.delimiter);
    if (end === -1 && used > size) end = lastRecordEnd(buf, used, this.delimiter);
    return this.looked(used, end);
  }

  /** firstRecordEnd(buf, used) under the same rule. */
  firstEnd(buf: Uint8Array, used: number, eof = false): number {
    return this.waits(used, eof) ? -1 : this.looked(used, firstRecordEnd(buf, used, this.delimiter));
  }

  private waits(used: number, eof: boolean): boolean {
    return !eof && used <= MAX_RECORD_BYTES && used < 2 * this.openScanned;
  }

  private looked(used: number, end: number): number {
    this.openScanned = end === -1 ? used : 0;
    return end;
  }
}

/**
 * Cuts a byte stream into pieces of whole records of about `pieceBytes` each
 * (a longer record is a piece of its own), so a reader decodes and parses a
 * file piece by piece and never holds it as one string: V8's strings end at
 * 2^29 characters, about 512 MiB of CSV. A UTF-8 byte-order mark at the start
 * is dropped. A record longer than MAX_RECORD_BYTES throws `tooLong()` (the
 * caller knows the line).
 */
export async function* csvPieces(
  input: AsyncIterable<Uint8Array>,
  delimiter: number,
  pieceBytes: number,
  tooLong: () => Error,
): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(pieceBytes * 2);
  let used = 0;
  let start = true;
  const cuts = new RecordCuts(delimiter);
  for await (const data of input) {
    buf = appendBytes(buf, used, data);
    used += data.length;
    if (start && used >= UTF8_BOM.length) {
      start = false;
      const bom = utf8BomLength(buf, used);
      buf.copyWithin(0, bom, used);
      used -= bom;
    }
    while (used >= pieceBytes) {
      const end = cuts.lastEnd(buf, used, pieceBytes);
      if (end === -1) {
        if (used > MAX_RECORD_BYTES) throw tooLong();
        break;
      }
      yield buf.slice(0, end);
      buf.copyWithin(0, end, used);
      used -= end;
    }
  }
  if (used > 0) yield buf.slice(0, used);
}

/**
 * The end (exclusive) of the first record in bytes[0 .. length) that is not
 * a blank line, or -1 when it does not end there: the header row, read on its own.
 */
export function firstRecordEnd(bytes: Uint8Array, length: number, delimiter: number): number {
  return scanRecordEnds(bytes, length, delimiter, true);
}

/** The reader's states, over bytes: where records end (the last one, or the first non-blank one). */
function scanRecordEnds(bytes: Uint8Array, length: number, delimiter: number, first: boolean): number {
  // 0 start of field, 1 unquoted field, 2 quoted field, 3 quote inside a quoted field.
  let state = 0;
  let end = -1;
  let blank = true;
  for (let i = 0; i < length; i++) {
    const c = bytes[i]!;
    if (state === 2) {
      if (c === QUOTE) state = 3;
      continue;
    }
    if (c === LF || c === CR) {
      if (c === CR) {
        if (i + 1 >= length) break;
        if (bytes[i + 1] === LF) i++;
      }
      end = i + 1;
      state = 0;
      if (first && !blank) return end;
      blank = true;
      continue;
    }
    blank = false;
    if (c === delimiter) {
      state = 0;
    } else if (state === 0 && c === QUOTE) {
      state = 2;
    } else if (state === 3 && c === QUOTE) {
      state = 2;
    } else {
      state = 1;
    }
  }
  return first ? -1 : end;
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

/** A piece of CSV (whole records from line `firstLine`) as text; bytes not UTF-8 are refused, naming their line. */
export function decodeCsvPiece(piece: Uint8Array, firstLine: number): string {
  if (!isUtf8(piece)) throw new CsvLineError(firstLine - 1 + firstBadUtf8Line(piece), 'not valid UTF-8');
  return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString('utf8');
}

/** V8's longest string is 2^29 - 24 characters: a file read whole must fit one. */
const WHOLE_FILE_MAX_BYTES = 2 ** 29 - 24;

/**
 * A CSV file read whole, for the commands that need all of it at once (`pavilion verify`,
 * `pavilion block`): as UTF-8, a byte-order mark dropped, other bytes refused with their line.
 * Commands that stream (`encode`, `publish`) read pieces instead (csvPieces).
 */
export function readCsvFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new PavilionError('FILE_NOT_FOUND', `${path}: cannot read`);
  }
  const start = utf8BomLength(bytes);
  if (bytes.length - start > WHOLE_FILE_MAX_BYTES)
    throw new PavilionError('FILE_NOT_FOUND', `${path}: larger than 512 MiB, which this command reads whole: split it`);
  return decodeCsvPiece(bytes.subarray(start), 1);
}
