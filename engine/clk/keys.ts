/**
 * Per-feature keys, as clkhash 0.18.3 key_derivation.generate_key_lists:
 * HKDF (RFC 5869) over the secret's bytes with the schema's hash, salt and
 * info, producing features * 2 * keySize bytes; feature f takes key0 =
 * bytes [2f*keySize, (2f+1)*keySize) and key1 the next keySize bytes.
 * Ignored features consume their pair too.
 *
 * HKDF is written out over node:crypto HMAC because hkdfSync caps `info` at
 * 1024 bytes and clkhash does not; it runs once per encoder.
 */
import { createHmac } from 'node:crypto';
import type { KdfSpec } from './schema.js';

export function hkdf(
  hash: 'SHA256' | 'SHA512',
  ikm: Uint8Array,
  salt: Uint8Array | undefined,
  info: Uint8Array | undefined,
  length: number,
): Uint8Array {
  const alg = hash === 'SHA256' ? 'sha256' : 'sha512';
  const hashLen = hash === 'SHA256' ? 32 : 64;
  // RFC 5869 2.2: absent salt = HashLen zero bytes.
  const prk = createHmac(alg, salt && salt.length > 0 ? salt : new Uint8Array(hashLen))
    .update(ikm)
    .digest();
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    previous = createHmac(alg, prk)
      .update(previous)
      .update(info ?? new Uint8Array(0))
      .update(Uint8Array.of(i))
      .digest();
    out.set(previous.subarray(0, Math.min(previous.length, length - offset)), offset);
    offset += previous.length;
  }
  return out;
}

/** [key0, key1] for each feature in schema order. */
export function deriveFeatureKeys(
  kdf: KdfSpec,
  secret: Uint8Array,
  featureCount: number,
): Array<[Uint8Array, Uint8Array]> {
  const bytes = hkdf(kdf.hash, secret, kdf.salt, kdf.info, featureCount * 2 * kdf.keySize);
  const keys: Array<[Uint8Array, Uint8Array]> = [];
  for (let f = 0; f < featureCount; f++) {
    const base = 2 * f * kdf.keySize;
    keys.push([bytes.slice(base, base + kdf.keySize), bytes.slice(base + kdf.keySize, base + 2 * kdf.keySize)]);
  }
  return keys;
}
