/**
 * Byte-array helpers shared by the engine and its workers.
 */

/**
 * The parts joined into one new Uint8Array of exactly their total length (a
 * plain Uint8Array over its own ArrayBuffer, so a worker can transfer it;
 * Buffer.concat would return a Buffer that may sit in Node's shared pool).
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
