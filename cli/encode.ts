/**
 * `pavilion encode`: CSV in, one base64 CLK per record out, in input order.
 *
 * The header row is matched to the schema's features by name
 * (engine/clk/csv-header.ts); `--no-header` takes columns in schema order.
 * The file is read as Python's csv module reads it (engine/clk/csv.ts), so
 * values, and CLKs, are the ones clkhash makes from the same file.
 *
 * The input is cut into pieces of whole records (lastRecordEnd), each
 * decoded, parsed, encoded and turned into base64 lines in one go
 * (engine/csv-encode.ts): by a worker, which gets the raw bytes, or by the
 * main thread itself. With n threads the main thread works beside n - 1
 * workers, taking small pieces while the workers have 2 each; by default
 * n is one per core from MIN_CORES_FOR_WORKERS cores up, else 1. Results are
 * written in input order, at most MAX_QUEUED of them held, so memory stays
 * bounded whatever the file size. Inputs up to IN_PROCESS_MAX_BYTES are
 * encoded without starting workers, whose start-up would cost more.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { ErrorCode } from '../common/error-codes.js';
import { PavilionError } from '../common/errors.js';
import { secretFingerprintAsync } from '../common/secret-fingerprint.js';
import {
  appendBytes,
  CsvLineError,
  CsvRecords,
  decodeCsvPiece,
  delimiterCode,
  MAX_RECORD_BYTES,
  RecordCuts,
  recordTooLong,
  utf8BomLength,
} from '../engine/clk/csv.js';
import { type ColumnMap, columnsFromHeader, columnsInSchemaOrder } from '../engine/clk/csv-header.js';
import { ClkEncoder, type LinkageSchema, parseSchema } from '../engine/clk/index.js';
import { type CsvChunkResult, type CsvChunkSpec, encodeCsvChunk } from '../engine/csv-encode.js';
import type { Engine } from '../engine/index.js';
import { openOutput } from './output.js';
import { readSecretFile } from './secret.js';

export interface EncodeOptions {
  schema: string;
  secretFile: string;
  in?: string;
  out?: string;
  format: 'lines' | 'json';
  /** Encoding threads, the main one included (n - 1 workers); undefined: see MIN_CORES_FOR_WORKERS. */
  threads?: number;
  /** false: the file has no header row; columns are in schema order. */
  header: boolean;
  /** One ASCII character or a tab. */
  delimiter: string;
  /** Where the closing note (the secret's fingerprint) goes; default stderr. */
  note?: (line: string) => void;
}

/**
 * 256 KiB ≈ 3,000 FEBRL records ≈ 20 ms of work for a worker: far above the
 * ~30 µs a Piscina task costs, and small enough that the last pieces of a
 * file keep both workers busy to the end.
 */
const CHUNK_BYTES = 256 * 1024;
/** The main thread's pieces when it encodes beside workers: ~3 ms, so it soon hands the workers their next piece. */
const MAIN_CHUNK_BYTES = 32 * 1024;
/** Results held for writing at most (the head may wait on a worker while the main thread goes on). */
const MAX_QUEUED = 64;
/**
 * Below this, one thread beats starting workers: a worker costs about
 * 100 ms of CPU to start (isolate, modules, wasm, JIT warm-up), the time one
 * thread needs for ~15,000 FEBRL records (~1.3 MB); measured in bench/encoding.ts.
 */
const IN_PROCESS_MAX_BYTES = 2 * 1024 * 1024;
/**
 * Workers by default only from this many cores up. On 2 cores, one worker
 * beside the main thread took 1.92 s of CPU and 1.96 s of wall time for 200k
 * FEBRL records where the main thread alone took 1.29 s and 1.31 s (bench:kernels,
 * load average 4): a second isolate boots, compiles and fills its caches, and
 * the two threads slow each other down, so on a shared 2-core machine the
 * second thread cost more than it gave. `--threads` still asks for workers.
 * Measured again on an idle 2-core machine (2026-12-06): 0.76–0.78 s against
 * 0.65–0.67 s; even a file cut in two halves, one per thread with no pieces
 * handed around (a scratch experiment), took 0.65 s, as each thread then
 * encoded a record in 1.35–1.55 times its time alone (two separate processes:
 * 1.2–1.3 times), and the worker reached full speed ~0.25 s after starting.
 */
const MIN_CORES_FOR_WORKERS = 3;

export async function encodeCommand(opts: EncodeOptions): Promise<number> {
  const schemaJson = readJson(opts.schema);
  const schema = parseSchema(schemaJson);
  const secret = await readSecretFile(opts.secretFile);
  const fingerprint = secretFingerprintAsync(secret);
  fingerprint.catch(() => {}); // awaited at the end; an earlier failure of the command wins
  const delimiter = delimiterCode(opts.delimiter);

  // Written beside --out and renamed over it only once the whole input is encoded (cli/output.ts).
  const output = await openOutput(opts.out, {
    '--in': opts.in,
    '--schema': opts.schema,
    '--secret-file': opts.secretFile,
  });
  const input: Readable = opts.in ? createReadStream(opts.in, { highWaterMark: CHUNK_BYTES }) : process.stdin;
  const progress = opts.in && process.stderr.isTTY ? await progressBar(opts.in) : undefined;

  let encoder: ClkEncoder | undefined;
  let engine: Engine | undefined;
  /** Results in input order; `settled` once its promise has. */
  const queue: { result: Promise<CsvChunkResult>; settled: boolean }[] = [];
  let workerTasks = 0;
  let spec: CsvChunkSpec | undefined;
  let lineBase = 0;
  let written = 0;
  let bytesRead = 0;
  let complete = false;

  const write = (bytes: Uint8Array) => output.write(bytes);
  const drainOne = async () => {
    const result = await queue.shift()!.result;
    // JSON: every CLK comes as `,\n"…"`; the first one of the file drops its comma.
    await write(opts.format === 'json' && written === 0 ? result.output.subarray(1) : result.output);
    written += result.records;
    if (result.failure) {
      const f = result.failure;
      throw new PavilionError(f.code, `line ${lineBase + f.line}: ${f.message}`);
    }
    lineBase += result.lines;
    progress?.update(bytesRead, { rows: written });
  };
  /** Writes every finished result at the head of the queue; waits for the head only when the queue is long. */
  const flush = async () => {
    while (queue.length > 0 && (queue[0]!.settled || queue.length > MAX_QUEUED)) await drainOne();
  };
  const submit = async (piece: Uint8Array, toWorker: boolean) => {
    if (toWorker) {
      workerTasks++;
      const entry = { result: engine!.encodeCsv(schemaJson, secret, piece, spec!), settled: false };
      entry.result
        .then(
          () => {},
          () => {},
        )
        .finally(() => {
          entry.settled = true;
          workerTasks--;
        });
      queue.push(entry);
    } else {
      let result: Promise<CsvChunkResult>;
      try {
        result = Promise.resolve(encodeCsvChunk(encoder!, piece, spec!));
      } catch (err) {
        result = Promise.reject(err);
        result.catch(() => {}); // rethrown in order by drainOne
      }
      queue.push({ result, settled: true });
      // Let finished worker tasks be collected and new ones handed out between our own pieces.
      if (engine) await new Promise((resolve) => setImmediate(resolve));
    }
    await flush();
  };
  /**
   * Chooses how to encode once the input's size is known to be small or not:
   * on the main thread alone, or on the main thread and threads - 1 workers.
   * The main thread takes small pieces whenever the workers have enough, so
   * it is never long away from handing them the next.
   */
  const start = async (total: number | undefined) => {
    const small = total !== undefined && total <= IN_PROCESS_MAX_BYTES;
    const cores = availableParallelism();
    const threads = opts.threads ?? (small || cores < MIN_CORES_FOR_WORKERS ? 1 : cores);
    encoder = ClkEncoder.create(schema, secret);
    if (threads > 1) {
      const { createEngine } = await import('../engine/index.js');
      engine = await createEngine({ threads: threads - 1 });
    }
  };

  let buf = new Uint8Array(CHUNK_BYTES * 2);
  let used = 0;
  let first = true;
  const cuts = new RecordCuts(delimiter);
  /** Cuts buf[0 .. end) off as one piece and keeps the rest. */
  const cut = (end: number): Uint8Array => {
    const piece = buf.slice(0, end);
    buf.copyWithin(0, end, used);
    used -= end;
    return piece;
  };
  /** Sends the buffered whole records away in pieces; keeps a record that has not ended yet. */
  const cutAll = async (eof: boolean) => {
    for (;;) {
      const toWorker = engine !== undefined && workerTasks < engine.threads * 2;
      const size = toWorker || engine === undefined ? CHUNK_BYTES : MAIN_CHUNK_BYTES;
      if (used === 0 || (used < size && !eof)) return;
      // A record longer than a piece is taken whole.
      let end = eof && used <= size ? used : cuts.lastEnd(buf, used, size, eof);
      if (end === -1 && eof) end = used;
      if (end === -1) {
        if (used > MAX_RECORD_BYTES) throw recordTooLong(lineBase + 1);
        return;
      }
      await submit(cut(end), toWorker);
    }
  };

  try {
    if (opts.format === 'json') await write(Buffer.from('{"clks": ['));
    let eof = false;
    const pieces = input[Symbol.asyncIterator]();
    while (!eof) {
      const next = await pieces.next().catch((err: NodeJS.ErrnoException) => {
        throw new PavilionError('FILE_NOT_FOUND', `${opts.in ?? 'stdin'}: cannot read (${err.code ?? 'error'})`);
      });
      if (next.done) {
        eof = true;
      } else {
        const data = next.value as Buffer;
        bytesRead += data.length;
        buf = appendBytes(buf, used, data);
        used += data.length;
      }
      if (first) {
        // Read ahead first: whether the input fits IN_PROCESS_MAX_BYTES decides main thread or workers.
        if (!eof && used < IN_PROCESS_MAX_BYTES) continue;
        const begin = utf8BomLength(buf, used);
        let end = cuts.firstEnd(buf.subarray(begin), used - begin, eof);
        if (end === -1 && !eof) {
          if (used > MAX_RECORD_BYTES) throw recordTooLong(1);
          continue;
        }
        if (end === -1) end = used - begin;
        first = false;
        const head = readFirstRecord(decodeCsvPiece(buf.subarray(begin, begin + end), 1), delimiter, opts.header);
        spec = specFor(inputColumns(schema, head, opts.header), opts.header);
        // The header's lines are counted here; without a header the first record goes to the encoder.
        const skip = begin + (opts.header ? end : 0);
        if (opts.header && head) lineBase = head.linesRead;
        buf.copyWithin(0, skip, used);
        used -= skip;
        await start(eof ? used : undefined);
      }
      await cutAll(eof);
    }
    while (queue.length > 0) await drainOne();
    if (opts.format === 'json') await write(Buffer.from('\n]}\n'));
    complete = true;
  } catch (err) {
    throw output.failure ?? err;
  } finally {
    // Settle what is still queued (after an error) before closing the pool.
    await Promise.allSettled(queue.map((q) => q.result));
    progress?.stop();
    await engine?.close();
    encoder?.dispose();
    input.destroy();
    await output.close(complete);
  }
  if (output.failure) throw output.failure;
  // What the other side compares (GET /v1/datasets/{id} shows the one its version was encoded with).
  (opts.note ?? ((line: string) => process.stderr.write(`${line}\n`)))(
    `linkage secret fingerprint ${await fingerprint}`,
  );
  return written;

  function specFor(map: ColumnMap, header: boolean): CsvChunkSpec {
    return { columns: map.columns, width: map.width, header, delimiter, format: opts.format };
  }
}

/**
 * Where each feature is in an input whose first record is `head` (undefined: the input is empty). With a header
 * row (`header`), its columns matched to the schema's features by name (engine/clk/csv-header.ts); without one
 * (--no-header), the schema's features in order, ignored ones included. `pavilion encode` and `pavilion verify`
 * both read their CSV through this, so they take the same options and say alike what is wrong with a file.
 */
export function inputColumns(schema: LinkageSchema, head: FirstRecord | undefined, header: boolean): ColumnMap {
  if (head === undefined) {
    if (header) throw new PavilionError('CSV_INVALID', 'the input is empty: no header row');
    return columnsInSchemaOrder(schema);
  }
  if (header) {
    try {
      return columnsFromHeader(schema, head.fields);
    } catch (err) {
      if (err instanceof PavilionError) throw new PavilionError(err.code, err.message + head.hint);
      throw err;
    }
  }
  const map = columnsInSchemaOrder(schema);
  // JSON lines split at their commas could even have the right column count: refuse them outright.
  if (head.json) throw new PavilionError('CSV_INVALID', `line ${head.line}: ${JSON_INPUT}`);
  if (head.fields.length !== map.width) {
    throw new PavilionError(
      'RECORD_FIELD_COUNT',
      `line ${head.line}: ${head.fields.length} column${head.fields.length === 1 ? '' : 's'}, the schema has ` +
        `${map.width} features (${schema.features.map((f) => f.identifier).join(', ')})${head.hint}`,
    );
  }
  return map;
}

export interface FirstRecord {
  fields: string[];
  line: number;
  /** Line breaks up to the end of the record. */
  linesRead: number;
  /** The record's line starts like JSON (`{` or `[`), not like CSV. */
  json: boolean;
  /** '' or a hint (other delimiter, JSON input) to append to an error about this record. */
  hint: string;
}

/**
 * Parses the first record of the input (header or data) from `text`, the input from its start (a BOM dropped),
 * for the header check and hints; undefined when the input holds no record.
 */
export function readFirstRecord(text: string, delimiter: number, header: boolean): FirstRecord | undefined {
  const reader = new CsvRecords(text, delimiter);
  try {
    if (!reader.next()) return undefined;
  } catch (err) {
    if (err instanceof CsvLineError && header) throw new CsvLineError(err.line, `${err.detail} (in the header row)`);
    throw err;
  }
  const firstLine = text.slice(0, reader.offset).trimStart();
  const json = firstLine.startsWith('{') || firstLine.startsWith('[');
  return {
    fields: [...reader.fields],
    line: reader.line,
    linesRead: reader.linesRead,
    json,
    hint: json ? ` (${JSON_INPUT})` : delimiterHint(firstLine, reader.fields.length, delimiter),
  };
}

const OTHER_DELIMITERS: Array<[string, string]> = [
  [';', "';'"],
  ['\t', 'tab'],
  ['|', "'|'"],
];

const JSON_INPUT = 'the input looks like JSON; pavilion encode reads CSV';

/** A hint for a first line read as one column that holds another common delimiter. */
function delimiterHint(firstLine: string, columns: number, delimiter: number): string {
  if (columns !== 1) return '';
  for (const [char, option] of OTHER_DELIMITERS) {
    if (char.charCodeAt(0) !== delimiter && firstLine.includes(char)) {
      return (
        ` (the first line is one column but contains ${char === '\t' ? 'tabs' : `'${char}'`}: use --delimiter ` +
        `${option})`
      );
    }
  }
  return '';
}

async function progressBar(path: string) {
  const { Presets, SingleBar } = await import('cli-progress');
  const bar = new SingleBar(
    { format: 'encoding [{bar}] {percentage}% | {rows} rows | {eta}s left' },
    Presets.shades_classic,
  );
  bar.start(statSync(path, { throwIfNoEntry: false })?.size ?? 0, 0, { rows: 0 });
  return bar;
}

/** A JSON file's content; a file that is not JSON fails with `invalidCode`. */
export function readJson(path: string, invalidCode: ErrorCode = 'SCHEMA_INVALID'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new PavilionError('FILE_NOT_FOUND', `${path}: cannot read`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new PavilionError(invalidCode, `${path}: not valid JSON`);
  }
}
