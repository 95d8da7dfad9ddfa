import { readFile } from 'node:fs/promises';
import { PavilionError } from '../common/errors.js';

/**
 * Reads a linkage secret from a file. One trailing newline (what `echo` and
 * editors add) is dropped so the secret equals what clkhash's `--secret`
 * argument would receive; the secret's bytes are never printed. Every command
 * that takes --secret-file (encode, publish, verify, dataset pull) reads it here.
 */
export async function readSecretFile(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new PavilionError(
      'SECRET_FILE_UNREADABLE',
      // The path, as FILE_NOT_FOUND names its file: the user typed it, and it is not the secret.
      `cannot read the secret file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let text: string;
  try {
    // Fatal: a lenient decode turns every invalid byte into U+FFFD, so different binary secrets (say
    // `head -c 32 /dev/urandom`) would silently become one secret with most of their entropy gone.
    // ignoreBOM keeps a leading BOM in the secret, as the text decode before this did.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new PavilionError(
      'SECRET_INVALID',
      'the secret file is not UTF-8 text; write random bytes as text, e.g. ' +
        '`head -c 32 /dev/urandom | base64 > secret.txt` or `openssl rand -hex 32 > secret.txt`',
    );
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.length === 0) throw new PavilionError('SECRET_EMPTY', 'the secret file is empty');
  return secret;
}
