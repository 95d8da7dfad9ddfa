/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the note text
 *
 *   <origin>\n<tree size, decimal, no leading zeros>\n<base64 root>\n[extension lines\n]
 *
 * signed as a C2SP signed note. Parsing is strict: at least three non-empty
 * lines, canonical decimal and base64, a 32-byte root, non-empty extensions.
 */
import { PavilionError } from '../common/errors.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { HASH_SIZE } from './merkle/hash.js';
import { type NoteSigner, type NoteVerifier, openNote, signNote } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** Optional extension lines (opaque; NOT RECOMMENDED by the spec). */
  extensions?: string[];
}

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  /** The signed note exactly as given. */
  note: string;
  verifiedBy: string[];
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function malformed(message: string): PavilionError {
  return new PavilionError('CHECKPOINT_MALFORMED', message);
}

export function formatCheckpoint(cp: Checkpoint): string {
  if (typeof cp.origin !== 'string' || cp.origin.length === 0 || cp.origin.includes('\n'))
    throw malformed('origin must be a non-empty single line');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw malformed('size must be a non-negative safe integer');
  if (!(cp.root instanceof Uint8Array) || cp.root.length !== HASH_SIZE) throw malformed('root must be 32 bytes');
  const ext = cp.extensions ?? [];
  for (const line of ext) {
    if (typeof line !== 'string' || line.length === 0 || line.includes('\n'))
      throw malformed('extension lines must be non-empty single lines');
  }
  return `${[cp.origin, String(cp.size), encodeBase64(cp.root), ...ext].join('\n')}\n`;
}

export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('checkpoint text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('checkpoint needs origin, size and root lines');
  if (lines.some((l) => l.length === 0)) throw malformed('checkpoint lines must be non-empty');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!DECIMAL.test(sizeText)) throw malformed('tree size must be decimal without leading zeros');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw malformed('tree size is too large');
  const root = decodeBase64Strict(rootText, 'CHECKPOINT_MALFORMED', 'root hash');
  if (root.length !== HASH_SIZE) throw malformed('root hash must be 32 bytes');
  return extensions.length > 0 ? { origin, size, root, extensions } : { origin, size, root };
}

export function signCheckpoint(cp: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(cp), signers);
}

/**
 * Verifies the note's signatures against trusted keys, then parses the body.
 * With `origin`, the checkpoint must be for that log (CHECKPOINT_ORIGIN).
 */
export function openCheckpoint(
  note: string,
  verifiers: readonly (string | NoteVerifier)[],
  opts: { origin?: string } = {},
): VerifiedCheckpoint {
  const opened = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(opened.text);
  if (opts.origin !== undefined && checkpoint.origin !== opts.origin) {
    throw new PavilionError('CHECKPOINT_ORIGIN', 'checkpoint is for a different log origin');
  }
  return { checkpoint, note, verifiedBy: opened.verifiedBy };
}
