/**
 * Reference implementations for differential tests of wasm/crypto.ts:
 * node:crypto (OpenSSL) for SHA-1, MD5, SHA-256 and their HMACs, and a
 * plain TypeScript BLAKE2b-512 written straight from RFC 7693, because
 * node:crypto's blake2b512 takes neither a key nor a salt. Clarity over
 * speed: BigInt words, one block at a time.
 */
import { createHash, createHmac } from 'node:crypto';

export function sha1(data: Uint8Array): Uint8Array {
  return createHash('sha1').update(data).digest();
}
export function md5(data: Uint8Array): Uint8Array {
  return createHash('md5').update(data).digest();
}
export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}
export function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac('sha1', key).update(data).digest();
}
export function hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac('md5', key).update(data).digest();
}
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac('sha256', key).update(data).digest();
}

const MASK = (1n << 64n) - 1n;
const IV = [
  0x6a09e667f3bcc908n,
  0xbb67ae8584caa73bn,
  0x3c6ef372fe94f82bn,
  0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n,
  0x9b05688c2b3e6c1fn,
  0x1f83d9abfb41bd6bn,
  0x5be0cd19137e2179n,
];
// RFC 7693 section 2.7.
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const rotr = (x: bigint, n: bigint): bigint => ((x >> n) | (x << (64n - n))) & MASK;

function word(bytes: Uint8Array, offset: number): bigint {
  let w = 0n;
  for (let i = 7; i >= 0; i--) w = (w << 8n) | BigInt(bytes[offset + i] ?? 0);
  return w;
}

function compress(h: bigint[], block: Uint8Array, t: bigint, last: boolean): void {
  const m = Array.from({ length: 16 }, (_, i) => word(block, i * 8));
  const v = [...h, ...IV];
  v[12] = v[12]! ^ (t & MASK);
  v[13] = v[13]! ^ (t >> 64n);
  if (last) v[14] = v[14]! ^ MASK;
  const g = (a: number, b: number, c: number, d: number, x: bigint, y: bigint): void => {
    v[a] = (v[a]! + v[b]! + x) & MASK;
    v[d] = rotr(v[d]! ^ v[a]!, 32n);
    v[c] = (v[c]! + v[d]!) & MASK;
    v[b] = rotr(v[b]! ^ v[c]!, 24n);
    v[a] = (v[a]! + v[b]! + y) & MASK;
    v[d] = rotr(v[d]! ^ v[a]!, 16n);
    v[c] = (v[c]! + v[d]!) & MASK;
    v[b] = rotr(v[b]! ^ v[c]!, 63n);
  };
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10]!;
    g(0, 4, 8, 12, m[s[0]!]!, m[s[1]!]!);
    g(1, 5, 9, 13, m[s[2]!]!, m[s[3]!]!);
    g(2, 6, 10, 14, m[s[4]!]!, m[s[5]!]!);
    g(3, 7, 11, 15, m[s[6]!]!, m[s[7]!]!);
    g(0, 5, 10, 15, m[s[8]!]!, m[s[9]!]!);
    g(1, 6, 11, 12, m[s[10]!]!, m[s[11]!]!);
    g(2, 7, 8, 13, m[s[12]!]!, m[s[13]!]!);
    g(3, 4, 9, 14, m[s[14]!]!, m[s[15]!]!);
  }
  for (let i = 0; i < 8; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 8]!;
}

/** BLAKE2b-512 with key (<= 64 bytes) and salt (<= 16 bytes, zero padded), as hashlib.blake2b. */
export function blake2b512(
  data: Uint8Array,
  key: Uint8Array = new Uint8Array(0),
  salt: Uint8Array = new Uint8Array(0),
): Uint8Array {
  if (key.length > 64 || salt.length > 16) throw new RangeError('BLAKE2b key <= 64 bytes, salt <= 16 bytes');
  const param = new Uint8Array(64);
  param[0] = 64;
  param[1] = key.length;
  param[2] = 1;
  param[3] = 1;
  param.set(salt, 32);
  const h = IV.map((iv, i) => iv ^ word(param, i * 8));
  let input = data;
  if (key.length > 0) {
    input = new Uint8Array(128 + data.length);
    input.set(key);
    input.set(data, 128);
  }
  let t = 0n;
  let offset = 0;
  while (input.length - offset > 128) {
    t += 128n;
    compress(h, input.subarray(offset, offset + 128), t, false);
    offset += 128;
  }
  const last = new Uint8Array(128);
  last.set(input.subarray(offset));
  t += BigInt(input.length - offset);
  compress(h, last, t, true);
  const out = new Uint8Array(64);
  h.forEach((w, i) => {
    for (let b = 0; b < 8; b++) out[i * 8 + b] = Number((w >> BigInt(8 * b)) & 0xffn);
  });
  return out;
}
