import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { PavilionError } from '../common/errors.js';

/**
 * Reads a file written by `pavilion encode` (one standard-base64 CLK per line)
 * into one contiguous buffer, the layout the engine loads into shared memory.
 * All CLKs must have the length of the first one.
 */
export async function readClkLines(path: string): Promise<{ clks: Uint8Array; count: number; filterBits: number }> {
  const chunks: Buffer[] = [];
  let filterBytes = 0;
  let lineNo = 0;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  try {
    for await (const raw of lines) {
      lineNo++;
      const line = raw.trim();
      if (line === '') continue;
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(line) || line.length % 4 !== 0) {
        throw new PavilionError('CLK_BASE64_INVALID', `${path}:${lineNo}: not standard base64`);
      }
      const clk = Buffer.from(line, 'base64');
      if (filterBytes === 0) {
        if (clk.length === 0 || clk.length % 8 !== 0) {
          throw new PavilionError(
            'FILTER_BITS_INVALID',
            `${path}:${lineNo}: CLK of ${clk.length * 8} bits is not a multiple of 64`,
          );
        }
        filterBytes = clk.length;
      } else if (clk.length !== filterBytes) {
        throw new PavilionError(
          'CLK_LENGTH_MISMATCH',
          `${path}:${lineNo}: CLK of ${clk.length * 8} bits, expected ${filterBytes * 8}`,
        );
      }
      chunks.push(clk);
    }
  } catch (err) {
    if (err instanceof PavilionError) throw err;
    // Any file-system failure (ENOENT, EISDIR, EACCES) is the caller's input, not a crash.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PavilionError('FILE_NOT_FOUND', `${path}: no such file`);
    if (typeof code === 'string') throw new PavilionError('FILE_NOT_FOUND', `${path}: cannot read (${code})`);
    throw err;
  }
  if (chunks.length === 0) throw new PavilionError('DATASET_EMPTY', `${path}: no CLKs`);
  return { clks: Buffer.concat(chunks), count: chunks.length, filterBits: filterBytes * 8 };
}
