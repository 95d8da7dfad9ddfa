import { readFile } from 'node:fs/promises';
import { PavilionError } from '../common/errors.js';

/**
 * Reads a linkage secret from a file. One trailing newline (what `echo` and
 * editors add) is dropped so the secret equals what clkhash's `--secret`
 * argument would receive; the secret's bytes are never printed.
 */
export async function readSecretFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PavilionError(
      'SECRET_FILE_UNREADABLE',
      `cannot read the secret file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.length === 0) throw new PavilionError('SECRET_EMPTY', 'the secret file is empty');
  return secret;
}
