/**
 * The witness's memory: per log origin, the size and root of the last
 * checkpoint it cosigned. One JSON file, replaced atomically (written beside
 * it, flushed, renamed), so a crash leaves the old state or the new one,
 * never half; a witness that forgot its state could be made to cosign a fork.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PavilionError } from '../../common/errors.js';

export interface WitnessedHead {
  size: number;
  root: Uint8Array;
}

export interface WitnessStateStore {
  get(origin: string): Promise<WitnessedHead | undefined>;
  put(origin: string, head: WitnessedHead): Promise<void>;
}

export class FileWitnessState implements WitnessStateStore {
  private readonly heads = new Map<string, WitnessedHead>();

  constructor(private readonly file: string) {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      mkdirSync(dirname(file), { recursive: true });
    }
    if (text !== undefined) {
      const invalid = () => new PavilionError('WITNESS_STATE_INVALID', `${file}: not a witness state file`);
      let json: { logs?: Record<string, { size?: unknown; root?: unknown }> };
      try {
        json = JSON.parse(text);
      } catch {
        throw invalid();
      }
      for (const [origin, h] of Object.entries(json?.logs ?? {})) {
        if (!Number.isSafeInteger(h.size) || typeof h.root !== 'string') throw invalid();
        const root = new Uint8Array(Buffer.from(h.root, 'base64'));
        if (root.length !== 32) throw invalid();
        this.heads.set(origin, { size: h.size as number, root });
      }
    }
  }

  async get(origin: string): Promise<WitnessedHead | undefined> {
    return this.heads.get(origin);
  }

  async put(origin: string, head: WitnessedHead): Promise<void> {
    const next = new Map(this.heads).set(origin, head);
    const logs = Object.fromEntries(
      [...next].map(([o, h]) => [o, { size: h.size, root: Buffer.from(h.root).toString('base64') }]),
    );
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify({ logs }, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    this.heads.set(origin, head);
  }
}
