/**
 * `pavilion encode`: CSV with a header row in, one base64 CLK per input row
 * out, in input order. Streams: at most `inFlight` batches of rows are held at
 * once, whatever the file size, so a 10M-row file needs bounded memory.
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Presets, SingleBar } from 'cli-progress';
import { parse } from 'csv-parse';
import { PavilionError } from '../common/errors.js';
import { parseSchema } from '../engine/clk/index.js';
import { createEngine } from '../engine/index.js';
import { readSecretFile } from './secret.js';

export interface EncodeOptions {
  schema: string;
  secretFile: string;
  in?: string;
  out?: string;
  format: 'lines' | 'json';
  threads?: number;
}

/**
 * 2,048 rows ≈ 6 ms of encoding at the ~350k records/s one worker reaches
 * (bench:kernels): far above the ~30 µs a Piscina task costs, small enough
 * to keep memory flat (1M rows: 279 MB max RSS, 100k: 183 MB, measured).
 */
const BATCH_ROWS = 2048;

export async function encodeCommand(opts: EncodeOptions): Promise<number> {
  const schemaJson = readJson(opts.schema);
  const schema = parseSchema(schemaJson);
  const secret = await readSecretFile(opts.secretFile);
  const columns = schema.features.length;

  // The pool starts before any file is opened: a stream that fails (missing
  // input, unwritable output, malformed CSV) while nothing listens yet would
  // be an unhandled 'error' event and crash the process with a stack trace.
  const engine = await createEngine({ threads: opts.threads });
  // Each entry: a batch's CLKs (concatenated) and how many rows it held.
  const inFlight: { clks: Promise<Uint8Array>; rows: number }[] = [];
  const output: Writable = opts.out ? createWriteStream(opts.out) : process.stdout;
  let outputError: PavilionError | undefined;
  let bar: SingleBar | undefined;
  let written = 0;
  try {
    const input = opts.in ? createReadStream(opts.in) : process.stdin;
    const parser = input.pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true }));
    input.on('error', (err: NodeJS.ErrnoException) => {
      parser.destroy(
        new PavilionError('FILE_NOT_FOUND', `${opts.in ?? 'stdin'}: cannot read (${err.code ?? 'error'})`),
      );
    });
    if (opts.out) {
      output.on('error', (err: NodeJS.ErrnoException) => {
        outputError ??= new PavilionError('OUTPUT_UNWRITABLE', `${opts.out}: cannot write (${err.code ?? 'error'})`);
        parser.destroy(outputError);
      });
    }

    if (opts.in && process.stderr.isTTY) {
      bar = new SingleBar(
        { format: 'encoding [{bar}] {percentage}% | {rows} rows | {eta}s left' },
        Presets.shades_classic,
      );
      bar.start(statSync(opts.in, { throwIfNoEntry: false })?.size ?? 0, 0, { rows: 0 });
    }

    const maxInFlight = engine.threads * 2;
    let header = true;
    let line = 1;
    let batch: string[][] = [];
    let batchFirstLine = 0;

    const write = async (text: string) => {
      if (!output.write(text)) await once(output, 'drain');
    };
    const drainOne = async () => {
      const next = inFlight.shift()!;
      const clks = await next.clks;
      const clkBytes = clks.length / next.rows;
      let text = '';
      for (let off = 0; off < clks.length; off += clkBytes) {
        const b64 = Buffer.from(clks.buffer, clks.byteOffset + off, clkBytes).toString('base64');
        text += opts.format === 'json' ? `${written === 0 ? '' : ','}\n"${b64}"` : `${b64}\n`;
        written++;
      }
      await write(text);
      bar?.update(Number((parser.info as { bytes?: number }).bytes ?? 0), { rows: written });
    };
    const submit = async () => {
      if (batch.length === 0) return;
      // Errors then name the CSV line ("row N" = line N, header = line 1).
      const clks = engine.encode(schemaJson, secret, batch, { firstRow: batchFirstLine });
      // Marked handled now; the error is rethrown in order when drainOne awaits it.
      clks.catch(() => {});
      inFlight.push({ clks, rows: batch.length });
      batch = [];
      if (inFlight.length >= maxInFlight) await drainOne();
    };

    if (opts.format === 'json') await write('{"clks": [');
    for await (const row of parser as AsyncIterable<string[]>) {
      if (header) {
        header = false;
        if (row.length !== columns)
          throw new PavilionError(
            'RECORD_FIELD_COUNT',
            `header has ${row.length} columns, the schema has ${columns} features`,
          );
        continue;
      }
      line++;
      if (row.length !== columns)
        throw new PavilionError(
          'RECORD_FIELD_COUNT',
          `line ${line}: ${row.length} columns, the schema has ${columns} features`,
        );
      if (batch.length === 0) batchFirstLine = line;
      batch.push(row);
      if (batch.length === BATCH_ROWS) await submit();
    }
    await submit();
    while (inFlight.length > 0) await drainOne();
    if (opts.format === 'json') await write('\n]}\n');
  } catch (err) {
    throw outputError ?? csvError(err);
  } finally {
    // Settle what is still queued (after an error) before closing the pool.
    await Promise.allSettled(inFlight.map((b) => b.clks));
    bar?.stop();
    await engine.close();
    if (opts.out) {
      output.end();
      // finished() also settles for a stream an error already destroyed
      // (once(output, 'close') would then wait forever).
      await finished(output).catch(() => undefined);
    }
  }
  if (outputError) throw outputError;
  return written;
}

/**
 * csv-parse errors carry a stable code and may quote input characters in
 * their message: keep the code and the line only (no record values).
 */
function csvError(err: unknown): unknown {
  const e = err as { code?: unknown; lines?: unknown };
  if (err instanceof Error && typeof e.code === 'string' && e.code.startsWith('CSV_')) {
    return new PavilionError('CSV_INVALID', `CSV line ${typeof e.lines === 'number' ? e.lines : '?'}: ${e.code}`);
  }
  return err;
}

/** A JSON file's content; a file that is not JSON fails with `invalidCode`. */
export function readJson(path: string, invalidCode = 'SCHEMA_INVALID'): unknown {
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
