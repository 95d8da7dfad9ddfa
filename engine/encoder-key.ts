import { createHash } from 'node:crypto';

/**
 * Cache key for a worker's CLK encoder: SHA-256 over the schema's JSON and
 * the secret. Workers cache encoders by it so a project's encoder (and its
 * token → bit-position cache) is built once per worker; the secret itself is
 * never used as a key, logged or returned.
 */
export function encoderKey(schema: unknown, secret: string | Uint8Array): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(schema) ?? 'undefined');
  h.update('\0');
  h.update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  return h.digest('hex');
}
