import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { PavilionError } from '../common/errors.js';
import { isCanonicalBase64 } from '../engine/validation.js';

/** The longest string V8 makes (2^29 - 24 characters): a larger JSON file cannot be read whole. */
const JSON_MAX_BYTES = 2 ** 29 - 24;

const NOT_CLKS =
  'neither one standard-base64 CLK per line nor clkhash JSON {"clks": ["<base64>", …]}, the two forms ' +
  'pavilion encode writes';

/**
 * Reads a file written by `pavilion encode`: one standard-base64 CLK per line (the default), or
 * clkhash's JSON `{"clks": ["<base64>", …]}` (--format json), told apart by the first character
 * that is not white space. The CLKs go into one contiguous buffer, the layout the engine loads into
 * shared memory. All CLKs must have the length of the first one.
 */
export async function readClkFile(path: string): Promise<{ clks: Uint8Array; count: number; filterBits: number }> {
  const clks = new ClkCollector(path);
  try {
    if (await startsWithBrace(path)) {
      const bytes = await readFile(path);
      if (bytes.length > JSON_MAX_BYTES)
        throw new PavilionError(
          'FILE_NOT_FOUND',
          `${path}: JSON larger than 512 MiB, which cannot be read whole: write the CLKs one per line ` +
            '(pavilion encode without --format json)',
        );
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new PavilionError('CLK_BASE64_INVALID', `${path}: not valid JSON; ${NOT_CLKS}`);
      }
      const list = (json as { clks?: unknown } | null)?.clks;
      if (!Array.isArray(list)) throw new PavilionError('CLK_BASE64_INVALID', `${path}: ${NOT_CLKS}`);
      list.forEach((clk, i) => {
        clks.add(typeof clk === 'string' ? clk : '', `clks[${i}]`);
      });
    } else {
      let lineNo = 0;
      const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
      for await (const raw of lines) {
        lineNo++;
        const line = raw.trim();
        if (line !== '') clks.add(line, String(lineNo));
      }
    }
  } catch (err) {
    if (err instanceof PavilionError) throw err;
    // Any file-system failure (ENOENT, EISDIR, EACCES) is the caller's input, not a crash.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PavilionError('FILE_NOT_FOUND', `${path}: no such file`);
    if (typeof code === 'string') throw new PavilionError('FILE_NOT_FOUND', `${path}: cannot read (${code})`);
    throw err;
  }
  return clks.done();
}

/** Whether the file's first character other than white space is `{` (clkhash JSON). */
async function startsWithBrace(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    for (let at = 0; ; ) {
      const { bytesRead } = await file.read(head, 0, head.length, at);
      if (bytesRead === 0) return false;
      const text = head.subarray(0, bytesRead).toString('latin1').trimStart();
      if (text !== '') return text.startsWith('{');
      at += bytesRead;
    }
  } finally {
    await file.close();
  }
}

/** Checks each CLK (base64, length) and gathers them; `where` is a line number or `clks[i]`. */
class ClkCollector {
  private readonly chunks: Buffer[] = [];
  private filterBytes = 0;

  constructor(private readonly path: string) {}

  add(text: string, where: string): void {
    const at = `${this.path}:${where}`;
    // Canonical, as the broker requires (engine/validation.ts): two texts must not decode to one CLK.
    if (text.length === 0 || !isCanonicalBase64(text)) {
      throw new PavilionError('CLK_BASE64_INVALID', `${at}: not canonical standard base64`);
    }
    const clk = Buffer.from(text, 'base64');
    if (this.filterBytes === 0) {
      if (clk.length === 0 || clk.length % 8 !== 0) {
        throw new PavilionError(
          'FILTER_BITS_INVALID',
          `${at}: CLK of ${clk.length * 8} bits is not a multiple of 64, which the engine compares: link needs a ` +
            'schema whose clkConfig.l is a multiple of 64 (docs/linkage.md)',
        );
      }
      this.filterBytes = clk.length;
    } else if (clk.length !== this.filterBytes) {
      throw new PavilionError(
        'CLK_LENGTH_MISMATCH',
        `${at}: CLK of ${clk.length * 8} bits, expected ${this.filterBytes * 8}`,
      );
    }
    this.chunks.push(clk);
  }

  done(): { clks: Uint8Array; count: number; filterBits: number } {
    if (this.chunks.length === 0) throw new PavilionError('DATASET_EMPTY', `${this.path}: no CLKs`);
    return { clks: Buffer.concat(this.chunks), count: this.chunks.length, filterBits: this.filterBytes * 8 };
  }
}
