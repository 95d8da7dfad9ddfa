// Hash kernels for CLK encoding: SHA-1, MD5, SHA-256 (FIPS 180-4, RFC 1321),
// HMAC over each (RFC 2104) with per-key precomputed pad states, and keyed,
// salted BLAKE2b-512 (RFC 7693).
//
// Calling convention (see wasm/crypto.ts): the module owns fixed static
// regions (`memory.data`) that the JS side writes inputs into and reads
// outputs from, so a call never allocates. Batch entry points take N
// messages laid out back to back in the input region with N+1 u32 offsets,
// which keeps the JS<->wasm crossing to one call per batch (docs/decisions.md, "Encoding": the
// per-call overhead, not the hashing, dominated hash-wasm/createHmac).
//
// Static data lives at fixed addresses, so this module must run on its own
// (non-shared) memory: one instance per worker (docs/decisions.md, "Kernels with static data").

// ---------------------------------------------------------------- regions

/** Input bytes (messages, keys) written by JS. */
const IN_SIZE: i32 = 128 * 1024;
const IN = memory.data(IN_SIZE, 16);
/** Message boundaries for batch calls: offsets[0..count], u32 each. */
const MAX_BATCH: i32 = 4096;
const OFFSETS = memory.data((MAX_BATCH + 1) * 4, 16);
/** Outputs: digests (stride = digest size) or u32 pairs for doubleHash. */
const OUT_SIZE: i32 = 256 * 1024;
const OUT = memory.data(OUT_SIZE, 16);
/** 16-byte BLAKE2b salt written by JS (zero padded). */
const SALT = memory.data(16, 16);

// Hash context: [0,64) chaining state, [64,192) block buffer,
// [192,200) total bytes (u64), [200,204) buffered bytes, [204,208) algorithm.
const CTX_STATE: usize = 0;
const CTX_BUF: usize = 64;
const CTX_TOTAL: usize = 192;
const CTX_BUFFERED: usize = 200;
const CTX_ALG: usize = 204;
const CTX_SIZE: i32 = 208;
/** The streaming context JS drives through init/update/final. */
const CTX = memory.data(CTX_SIZE, 16);
/** Internal contexts used by batch calls and HMAC's outer hash. */
const WORK = memory.data(CTX_SIZE, 16);
const BLAKE_PRE = memory.data(CTX_SIZE, 16);
const TMP = memory.data(128, 16);

// HMAC key slots: [0,64) inner state after key^ipad, [64,128) outer state
// after key^opad, [128,132) algorithm. Pads are hashed once per key.
const MAX_SLOTS: i32 = 256;
const HMAC_SLOT_SIZE: i32 = 136;
const HMAC_SLOTS = memory.data(MAX_SLOTS * HMAC_SLOT_SIZE, 16);
// BLAKE2b key slots: [0,64) key, [64,68) key length.
const BLAKE_SLOT_SIZE: i32 = 72;
const BLAKE_SLOTS = memory.data(MAX_SLOTS * BLAKE_SLOT_SIZE, 16);

const W = memory.data(80 * 4, 16);

export const ALG_SHA1: i32 = 1;
export const ALG_MD5: i32 = 2;
export const ALG_SHA256: i32 = 3;
export const ALG_BLAKE2B: i32 = 4;

export function inputPtr(): usize { return IN; }
export function inputSize(): i32 { return IN_SIZE; }
export function offsetsPtr(): usize { return OFFSETS; }
export function maxBatch(): i32 { return MAX_BATCH; }
export function outputPtr(): usize { return OUT; }
export function outputSize(): i32 { return OUT_SIZE; }
export function saltPtr(): usize { return SALT; }
export function maxSlots(): i32 { return MAX_SLOTS; }

// ---------------------------------------------------------------- constants

const SHA256_K = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const BLAKE2B_IV = memory.data<u64>([
  0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
  0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
]);
// RFC 7693 section 2.7 message schedule; rounds 10 and 11 reuse rows 0 and 1.
const BLAKE2B_SIGMA = memory.data<u8>([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
]);

// ---------------------------------------------------------------- compression functions

function sha1Compress(st: usize, blk: usize): void {
  for (let i: usize = 0; i < 16; i++) store<u32>(W + (i << 2), bswap<u32>(load<u32>(blk + (i << 2))));
  for (let i: usize = 16; i < 80; i++) {
    const x = load<u32>(W + ((i - 3) << 2)) ^ load<u32>(W + ((i - 8) << 2)) ^ load<u32>(W + ((i - 14) << 2)) ^ load<u32>(W + ((i - 16) << 2));
    store<u32>(W + (i << 2), rotl<u32>(x, 1));
  }
  let a = load<u32>(st), b = load<u32>(st, 4), c = load<u32>(st, 8), d = load<u32>(st, 12), e = load<u32>(st, 16);
  // One loop per 20-step stage, so no step tests which stage it is in.
  for (let i: usize = 0; i < 20; i++) {
    const t = rotl<u32>(a, 5) + ((b & c) | (~b & d)) + e + 0x5a827999 + load<u32>(W + (i << 2));
    e = d; d = c; c = rotl<u32>(b, 30); b = a; a = t;
  }
  for (let i: usize = 20; i < 40; i++) {
    const t = rotl<u32>(a, 5) + (b ^ c ^ d) + e + 0x6ed9eba1 + load<u32>(W + (i << 2));
    e = d; d = c; c = rotl<u32>(b, 30); b = a; a = t;
  }
  for (let i: usize = 40; i < 60; i++) {
    const t = rotl<u32>(a, 5) + ((b & c) | (b & d) | (c & d)) + e + 0x8f1bbcdc + load<u32>(W + (i << 2));
    e = d; d = c; c = rotl<u32>(b, 30); b = a; a = t;
  }
  for (let i: usize = 60; i < 80; i++) {
    const t = rotl<u32>(a, 5) + (b ^ c ^ d) + e + 0xca62c1d6 + load<u32>(W + (i << 2));
    e = d; d = c; c = rotl<u32>(b, 30); b = a; a = t;
  }
  store<u32>(st, load<u32>(st) + a);
  store<u32>(st, load<u32>(st, 4) + b, 4);
  store<u32>(st, load<u32>(st, 8) + c, 8);
  store<u32>(st, load<u32>(st, 12) + d, 12);
  store<u32>(st, load<u32>(st, 16) + e, 16);
}

function sha256Compress(st: usize, blk: usize): void {
  for (let i: usize = 0; i < 16; i++) store<u32>(W + (i << 2), bswap<u32>(load<u32>(blk + (i << 2))));
  for (let i: usize = 16; i < 64; i++) {
    const w15 = load<u32>(W + ((i - 15) << 2));
    const w2 = load<u32>(W + ((i - 2) << 2));
    const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
    const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
    store<u32>(W + (i << 2), load<u32>(W + ((i - 16) << 2)) + s0 + load<u32>(W + ((i - 7) << 2)) + s1);
  }
  let a = load<u32>(st), b = load<u32>(st, 4), c = load<u32>(st, 8), d = load<u32>(st, 12);
  let e = load<u32>(st, 16), f = load<u32>(st, 20), g = load<u32>(st, 24), h = load<u32>(st, 28);
  for (let i: usize = 0; i < 64; i++) {
    const S1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
    const ch = (e & f) ^ (~e & g);
    const t1 = h + S1 + ch + load<u32>(SHA256_K + (i << 2)) + load<u32>(W + (i << 2));
    const S0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = S0 + maj;
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  store<u32>(st, load<u32>(st) + a);
  store<u32>(st, load<u32>(st, 4) + b, 4);
  store<u32>(st, load<u32>(st, 8) + c, 8);
  store<u32>(st, load<u32>(st, 12) + d, 12);
  store<u32>(st, load<u32>(st, 16) + e, 16);
  store<u32>(st, load<u32>(st, 20) + f, 20);
  store<u32>(st, load<u32>(st, 24) + g, 24);
  store<u32>(st, load<u32>(st, 28) + h, 28);
}

// RFC 1321 round functions, one step each: a = b + ((a + f(b,c,d) + x + t) <<< s).
@inline function md5F(a: u32, b: u32, c: u32, d: u32, x: u32, s: u32, t: u32): u32 { return b + rotl<u32>(a + ((b & c) | (~b & d)) + x + t, s); }
@inline function md5G(a: u32, b: u32, c: u32, d: u32, x: u32, s: u32, t: u32): u32 { return b + rotl<u32>(a + ((b & d) | (c & ~d)) + x + t, s); }
@inline function md5H(a: u32, b: u32, c: u32, d: u32, x: u32, s: u32, t: u32): u32 { return b + rotl<u32>(a + (b ^ c ^ d) + x + t, s); }
@inline function md5I(a: u32, b: u32, c: u32, d: u32, x: u32, s: u32, t: u32): u32 { return b + rotl<u32>(a + (c ^ (b | ~d)) + x + t, s); }

function md5Compress(st: usize, blk: usize): void {
  // Fully unrolled with the RFC 1321 constants inline: the table-driven loop
  // cost ~0.3 us per block here, dominating a cold doubleHash token.
  const x0 = load<u32>(blk, 0);
  const x1 = load<u32>(blk, 4);
  const x2 = load<u32>(blk, 8);
  const x3 = load<u32>(blk, 12);
  const x4 = load<u32>(blk, 16);
  const x5 = load<u32>(blk, 20);
  const x6 = load<u32>(blk, 24);
  const x7 = load<u32>(blk, 28);
  const x8 = load<u32>(blk, 32);
  const x9 = load<u32>(blk, 36);
  const x10 = load<u32>(blk, 40);
  const x11 = load<u32>(blk, 44);
  const x12 = load<u32>(blk, 48);
  const x13 = load<u32>(blk, 52);
  const x14 = load<u32>(blk, 56);
  const x15 = load<u32>(blk, 60);
  let a = load<u32>(st), b = load<u32>(st, 4), c = load<u32>(st, 8), d = load<u32>(st, 12);
  a = md5F(a, b, c, d, x0, 7, 0xd76aa478);
  d = md5F(d, a, b, c, x1, 12, 0xe8c7b756);
  c = md5F(c, d, a, b, x2, 17, 0x242070db);
  b = md5F(b, c, d, a, x3, 22, 0xc1bdceee);
  a = md5F(a, b, c, d, x4, 7, 0xf57c0faf);
  d = md5F(d, a, b, c, x5, 12, 0x4787c62a);
  c = md5F(c, d, a, b, x6, 17, 0xa8304613);
  b = md5F(b, c, d, a, x7, 22, 0xfd469501);
  a = md5F(a, b, c, d, x8, 7, 0x698098d8);
  d = md5F(d, a, b, c, x9, 12, 0x8b44f7af);
  c = md5F(c, d, a, b, x10, 17, 0xffff5bb1);
  b = md5F(b, c, d, a, x11, 22, 0x895cd7be);
  a = md5F(a, b, c, d, x12, 7, 0x6b901122);
  d = md5F(d, a, b, c, x13, 12, 0xfd987193);
  c = md5F(c, d, a, b, x14, 17, 0xa679438e);
  b = md5F(b, c, d, a, x15, 22, 0x49b40821);
  a = md5G(a, b, c, d, x1, 5, 0xf61e2562);
  d = md5G(d, a, b, c, x6, 9, 0xc040b340);
  c = md5G(c, d, a, b, x11, 14, 0x265e5a51);
  b = md5G(b, c, d, a, x0, 20, 0xe9b6c7aa);
  a = md5G(a, b, c, d, x5, 5, 0xd62f105d);
  d = md5G(d, a, b, c, x10, 9, 0x02441453);
  c = md5G(c, d, a, b, x15, 14, 0xd8a1e681);
  b = md5G(b, c, d, a, x4, 20, 0xe7d3fbc8);
  a = md5G(a, b, c, d, x9, 5, 0x21e1cde6);
  d = md5G(d, a, b, c, x14, 9, 0xc33707d6);
  c = md5G(c, d, a, b, x3, 14, 0xf4d50d87);
  b = md5G(b, c, d, a, x8, 20, 0x455a14ed);
  a = md5G(a, b, c, d, x13, 5, 0xa9e3e905);
  d = md5G(d, a, b, c, x2, 9, 0xfcefa3f8);
  c = md5G(c, d, a, b, x7, 14, 0x676f02d9);
  b = md5G(b, c, d, a, x12, 20, 0x8d2a4c8a);
  a = md5H(a, b, c, d, x5, 4, 0xfffa3942);
  d = md5H(d, a, b, c, x8, 11, 0x8771f681);
  c = md5H(c, d, a, b, x11, 16, 0x6d9d6122);
  b = md5H(b, c, d, a, x14, 23, 0xfde5380c);
  a = md5H(a, b, c, d, x1, 4, 0xa4beea44);
  d = md5H(d, a, b, c, x4, 11, 0x4bdecfa9);
  c = md5H(c, d, a, b, x7, 16, 0xf6bb4b60);
  b = md5H(b, c, d, a, x10, 23, 0xbebfbc70);
  a = md5H(a, b, c, d, x13, 4, 0x289b7ec6);
  d = md5H(d, a, b, c, x0, 11, 0xeaa127fa);
  c = md5H(c, d, a, b, x3, 16, 0xd4ef3085);
  b = md5H(b, c, d, a, x6, 23, 0x04881d05);
  a = md5H(a, b, c, d, x9, 4, 0xd9d4d039);
  d = md5H(d, a, b, c, x12, 11, 0xe6db99e5);
  c = md5H(c, d, a, b, x15, 16, 0x1fa27cf8);
  b = md5H(b, c, d, a, x2, 23, 0xc4ac5665);
  a = md5I(a, b, c, d, x0, 6, 0xf4292244);
  d = md5I(d, a, b, c, x7, 10, 0x432aff97);
  c = md5I(c, d, a, b, x14, 15, 0xab9423a7);
  b = md5I(b, c, d, a, x5, 21, 0xfc93a039);
  a = md5I(a, b, c, d, x12, 6, 0x655b59c3);
  d = md5I(d, a, b, c, x3, 10, 0x8f0ccc92);
  c = md5I(c, d, a, b, x10, 15, 0xffeff47d);
  b = md5I(b, c, d, a, x1, 21, 0x85845dd1);
  a = md5I(a, b, c, d, x8, 6, 0x6fa87e4f);
  d = md5I(d, a, b, c, x15, 10, 0xfe2ce6e0);
  c = md5I(c, d, a, b, x6, 15, 0xa3014314);
  b = md5I(b, c, d, a, x13, 21, 0x4e0811a1);
  a = md5I(a, b, c, d, x4, 6, 0xf7537e82);
  d = md5I(d, a, b, c, x11, 10, 0xbd3af235);
  c = md5I(c, d, a, b, x2, 15, 0x2ad7d2bb);
  b = md5I(b, c, d, a, x9, 21, 0xeb86d391);
  store<u32>(st, load<u32>(st) + a);
  store<u32>(st, load<u32>(st, 4) + b, 4);
  store<u32>(st, load<u32>(st, 8) + c, 8);
  store<u32>(st, load<u32>(st, 12) + d, 12);
}

function blake2bCompress(st: usize, blk: usize, t: u64, last: bool): void {
  // The working vector lives in locals (RFC 7693 3.2 with G written out per
  // column/diagonal); keeping it in memory cost about twice as much per block.
  let v0 = load<u64>(st), v1 = load<u64>(st, 8), v2 = load<u64>(st, 16), v3 = load<u64>(st, 24);
  let v4 = load<u64>(st, 32), v5 = load<u64>(st, 40), v6 = load<u64>(st, 48), v7 = load<u64>(st, 56);
  let v8 = load<u64>(BLAKE2B_IV), v9 = load<u64>(BLAKE2B_IV, 8), v10 = load<u64>(BLAKE2B_IV, 16), v11 = load<u64>(BLAKE2B_IV, 24);
  // 128-bit counter: inputs here never exceed 2^64 bytes, so the high word stays 0.
  let v12 = load<u64>(BLAKE2B_IV, 32) ^ t, v13 = load<u64>(BLAKE2B_IV, 40);
  let v14 = last ? ~load<u64>(BLAKE2B_IV, 48) : load<u64>(BLAKE2B_IV, 48), v15 = load<u64>(BLAKE2B_IV, 56);
  for (let r: usize = 0; r < 12; r++) {
    const s = BLAKE2B_SIGMA + (r << 4);
    v0 += v4 + load<u64>(blk + (<usize>load<u8>(s, 0) << 3)); v12 = rotr<u64>(v12 ^ v0, 32); v8 += v12; v4 = rotr<u64>(v4 ^ v8, 24);
    v0 += v4 + load<u64>(blk + (<usize>load<u8>(s, 1) << 3)); v12 = rotr<u64>(v12 ^ v0, 16); v8 += v12; v4 = rotr<u64>(v4 ^ v8, 63);
    v1 += v5 + load<u64>(blk + (<usize>load<u8>(s, 2) << 3)); v13 = rotr<u64>(v13 ^ v1, 32); v9 += v13; v5 = rotr<u64>(v5 ^ v9, 24);
    v1 += v5 + load<u64>(blk + (<usize>load<u8>(s, 3) << 3)); v13 = rotr<u64>(v13 ^ v1, 16); v9 += v13; v5 = rotr<u64>(v5 ^ v9, 63);
    v2 += v6 + load<u64>(blk + (<usize>load<u8>(s, 4) << 3)); v14 = rotr<u64>(v14 ^ v2, 32); v10 += v14; v6 = rotr<u64>(v6 ^ v10, 24);
    v2 += v6 + load<u64>(blk + (<usize>load<u8>(s, 5) << 3)); v14 = rotr<u64>(v14 ^ v2, 16); v10 += v14; v6 = rotr<u64>(v6 ^ v10, 63);
    v3 += v7 + load<u64>(blk + (<usize>load<u8>(s, 6) << 3)); v15 = rotr<u64>(v15 ^ v3, 32); v11 += v15; v7 = rotr<u64>(v7 ^ v11, 24);
    v3 += v7 + load<u64>(blk + (<usize>load<u8>(s, 7) << 3)); v15 = rotr<u64>(v15 ^ v3, 16); v11 += v15; v7 = rotr<u64>(v7 ^ v11, 63);
    v0 += v5 + load<u64>(blk + (<usize>load<u8>(s, 8) << 3)); v15 = rotr<u64>(v15 ^ v0, 32); v10 += v15; v5 = rotr<u64>(v5 ^ v10, 24);
    v0 += v5 + load<u64>(blk + (<usize>load<u8>(s, 9) << 3)); v15 = rotr<u64>(v15 ^ v0, 16); v10 += v15; v5 = rotr<u64>(v5 ^ v10, 63);
    v1 += v6 + load<u64>(blk + (<usize>load<u8>(s, 10) << 3)); v12 = rotr<u64>(v12 ^ v1, 32); v11 += v12; v6 = rotr<u64>(v6 ^ v11, 24);
    v1 += v6 + load<u64>(blk + (<usize>load<u8>(s, 11) << 3)); v12 = rotr<u64>(v12 ^ v1, 16); v11 += v12; v6 = rotr<u64>(v6 ^ v11, 63);
    v2 += v7 + load<u64>(blk + (<usize>load<u8>(s, 12) << 3)); v13 = rotr<u64>(v13 ^ v2, 32); v8 += v13; v7 = rotr<u64>(v7 ^ v8, 24);
    v2 += v7 + load<u64>(blk + (<usize>load<u8>(s, 13) << 3)); v13 = rotr<u64>(v13 ^ v2, 16); v8 += v13; v7 = rotr<u64>(v7 ^ v8, 63);
    v3 += v4 + load<u64>(blk + (<usize>load<u8>(s, 14) << 3)); v14 = rotr<u64>(v14 ^ v3, 32); v9 += v14; v4 = rotr<u64>(v4 ^ v9, 24);
    v3 += v4 + load<u64>(blk + (<usize>load<u8>(s, 15) << 3)); v14 = rotr<u64>(v14 ^ v3, 16); v9 += v14; v4 = rotr<u64>(v4 ^ v9, 63);
  }
  store<u64>(st, load<u64>(st) ^ v0 ^ v8);
  store<u64>(st, load<u64>(st, 8) ^ v1 ^ v9, 8);
  store<u64>(st, load<u64>(st, 16) ^ v2 ^ v10, 16);
  store<u64>(st, load<u64>(st, 24) ^ v3 ^ v11, 24);
  store<u64>(st, load<u64>(st, 32) ^ v4 ^ v12, 32);
  store<u64>(st, load<u64>(st, 40) ^ v5 ^ v13, 40);
  store<u64>(st, load<u64>(st, 48) ^ v6 ^ v14, 48);
  store<u64>(st, load<u64>(st, 56) ^ v7 ^ v15, 56);
}

// ---------------------------------------------------------------- Merkle-Damgard streaming (SHA-1, MD5, SHA-256)

function digestSize(alg: i32): i32 {
  if (alg == ALG_SHA1) return 20;
  if (alg == ALG_MD5) return 16;
  if (alg == ALG_SHA256) return 32;
  return 64;
}

function mdCompress(alg: i32, st: usize, blk: usize): void {
  if (alg == ALG_SHA256) sha256Compress(st, blk);
  else if (alg == ALG_SHA1) sha1Compress(st, blk);
  else md5Compress(st, blk);
}

function mdInit(ctx: usize, alg: i32): void {
  if (alg == ALG_SHA256) {
    store<u32>(ctx, 0x6a09e667); store<u32>(ctx, 0xbb67ae85, 4); store<u32>(ctx, 0x3c6ef372, 8); store<u32>(ctx, 0xa54ff53a, 12);
    store<u32>(ctx, 0x510e527f, 16); store<u32>(ctx, 0x9b05688c, 20); store<u32>(ctx, 0x1f83d9ab, 24); store<u32>(ctx, 0x5be0cd19, 28);
  } else {
    // SHA-1 and MD5 share the first four initial words (FIPS 180-4 5.3.1, RFC 1321 3.3).
    store<u32>(ctx, 0x67452301); store<u32>(ctx, 0xefcdab89, 4); store<u32>(ctx, 0x98badcfe, 8); store<u32>(ctx, 0x10325476, 12);
    store<u32>(ctx, 0xc3d2e1f0, 16);
  }
  store<u64>(ctx + CTX_TOTAL, 0);
  store<u32>(ctx + CTX_BUFFERED, 0);
  store<i32>(ctx + CTX_ALG, alg);
}

function mdUpdate(ctx: usize, p: usize, len: usize): void {
  const alg = load<i32>(ctx + CTX_ALG);
  let buffered = <usize>load<u32>(ctx + CTX_BUFFERED);
  store<u64>(ctx + CTX_TOTAL, load<u64>(ctx + CTX_TOTAL) + <u64>len);
  if (buffered > 0) {
    let fill: usize = 64 - buffered;
    if (fill > len) fill = len;
    memory.copy(ctx + CTX_BUF + buffered, p, fill);
    buffered += fill; p += fill; len -= fill;
    if (buffered == 64) { mdCompress(alg, ctx, ctx + CTX_BUF); buffered = 0; }
  }
  while (len >= 64) { mdCompress(alg, ctx, p); p += 64; len -= 64; }
  if (len > 0) { memory.copy(ctx + CTX_BUF, p, len); buffered = len; }
  store<u32>(ctx + CTX_BUFFERED, <u32>buffered);
}

function mdFinal(ctx: usize, out: usize): void {
  const alg = load<i32>(ctx + CTX_ALG);
  let buffered = <usize>load<u32>(ctx + CTX_BUFFERED);
  const bits = load<u64>(ctx + CTX_TOTAL) << 3;
  const buf = ctx + CTX_BUF;
  store<u8>(buf + buffered, 0x80);
  buffered++;
  if (buffered > 56) {
    memory.fill(buf + buffered, 0, 64 - buffered);
    mdCompress(alg, ctx, buf);
    buffered = 0;
  }
  memory.fill(buf + buffered, 0, 56 - buffered);
  if (alg == ALG_MD5) store<u64>(buf + 56, bits);
  else store<u64>(buf + 56, bswap<u64>(bits));
  mdCompress(alg, ctx, buf);
  const words = <usize>(digestSize(alg) >> 2);
  for (let i: usize = 0; i < words; i++) {
    const w = load<u32>(ctx + (i << 2));
    store<u32>(out + (i << 2), alg == ALG_MD5 ? w : bswap<u32>(w));
  }
}

// ---------------------------------------------------------------- BLAKE2b streaming

/** Key comes from `key` (keyLen <= 64), salt from SALT, digest length 64. */
function blakeInit(ctx: usize, key: usize, keyLen: usize): void {
  for (let i: usize = 0; i < 8; i++) store<u64>(ctx + (i << 3), load<u64>(BLAKE2B_IV + (i << 3)));
  // Parameter block (RFC 7693 2.5): digest length, key length, fanout 1, depth 1; salt at bytes 32..47.
  store<u64>(ctx, load<u64>(ctx) ^ (0x01010000 | (<u64>keyLen << 8) | 64));
  store<u64>(ctx + 32, load<u64>(ctx + 32) ^ load<u64>(SALT));
  store<u64>(ctx + 40, load<u64>(ctx + 40) ^ load<u64>(SALT, 8));
  store<u64>(ctx + CTX_TOTAL, 0);
  store<i32>(ctx + CTX_ALG, ALG_BLAKE2B);
  if (keyLen > 0) {
    memory.fill(ctx + CTX_BUF, 0, 128);
    memory.copy(ctx + CTX_BUF, key, keyLen);
    store<u32>(ctx + CTX_BUFFERED, 128);
  } else {
    store<u32>(ctx + CTX_BUFFERED, 0);
  }
}

function blakeUpdate(ctx: usize, p: usize, len: usize): void {
  let buffered = <usize>load<u32>(ctx + CTX_BUFFERED);
  let t = load<u64>(ctx + CTX_TOTAL);
  while (len > 0) {
    // The final block must be compressed with the last flag, so a full
    // buffer is only flushed once more input is known to follow.
    if (buffered == 128) {
      t += 128;
      blake2bCompress(ctx, ctx + CTX_BUF, t, false);
      buffered = 0;
    }
    let fill: usize = 128 - buffered;
    if (fill > len) fill = len;
    memory.copy(ctx + CTX_BUF + buffered, p, fill);
    buffered += fill; p += fill; len -= fill;
  }
  store<u64>(ctx + CTX_TOTAL, t);
  store<u32>(ctx + CTX_BUFFERED, <u32>buffered);
}

function blakeFinal(ctx: usize, out: usize): void {
  const buffered = <usize>load<u32>(ctx + CTX_BUFFERED);
  const t = load<u64>(ctx + CTX_TOTAL) + <u64>buffered;
  memory.fill(ctx + CTX_BUF + buffered, 0, 128 - buffered);
  blake2bCompress(ctx, ctx + CTX_BUF, t, true);
  memory.copy(out, ctx, 64);
}

// ---------------------------------------------------------------- streaming API (CTX)

/** Starts an unkeyed SHA-1/MD5/SHA-256 stream. */
export function hashInit(alg: i32): void { mdInit(CTX, alg); }

/** Feeds `len` bytes from the input region into the active stream (any algorithm). */
export function hashUpdate(len: i32): void {
  if (load<i32>(CTX + CTX_ALG) == ALG_BLAKE2B) blakeUpdate(CTX, IN, <usize>len);
  else mdUpdate(CTX, IN, <usize>len);
}

/** Finishes the active stream; the digest lands at the start of the output region. Returns its size. */
export function hashFinal(): i32 {
  const alg = load<i32>(CTX + CTX_ALG);
  if (alg == ALG_BLAKE2B) { blakeFinal(CTX, OUT); return 64; }
  mdFinal(CTX, OUT);
  return digestSize(alg);
}

/** Starts a BLAKE2b-512 stream with the key in `slot` and the salt in the salt region. */
export function blake2bInit(slot: i32): void {
  const s = BLAKE_SLOTS + <usize>(slot * BLAKE_SLOT_SIZE);
  blakeInit(CTX, s, <usize>load<u32>(s, 64));
}

// ---------------------------------------------------------------- HMAC

/**
 * Prepares HMAC key `slot` for `alg` from `keyLen` key bytes in the input
 * region: hashes the key if longer than the block (RFC 2104 section 2),
 * then stores the chaining states after key^ipad and key^opad.
 */
export function hmacSetKey(alg: i32, slot: i32, keyLen: i32): void {
  const s = HMAC_SLOTS + <usize>(slot * HMAC_SLOT_SIZE);
  memory.fill(TMP, 0, 64);
  if (keyLen > 64) {
    mdInit(WORK, alg);
    mdUpdate(WORK, IN, <usize>keyLen);
    mdFinal(WORK, TMP);
  } else {
    memory.copy(TMP, IN, <usize>keyLen);
  }
  for (let i: usize = 0; i < 64; i++) store<u8>(TMP + i, load<u8>(TMP + i) ^ 0x36);
  mdInit(WORK, alg);
  mdCompress(alg, WORK, TMP);
  memory.copy(s, WORK, 64);
  for (let i: usize = 0; i < 64; i++) store<u8>(TMP + i, load<u8>(TMP + i) ^ (0x36 ^ 0x5c));
  mdInit(WORK, alg);
  mdCompress(alg, WORK, TMP);
  memory.copy(s + 64, WORK, 64);
  store<i32>(s + 128, alg);
}

function hmacStart(ctx: usize, s: usize): void {
  const alg = load<i32>(s + 128);
  memory.copy(ctx, s, 64);
  store<u64>(ctx + CTX_TOTAL, 64);
  store<u32>(ctx + CTX_BUFFERED, 0);
  store<i32>(ctx + CTX_ALG, alg);
}

function hmacFinish(ctx: usize, s: usize, out: usize): void {
  const alg = load<i32>(s + 128);
  const size = <usize>digestSize(alg);
  mdFinal(ctx, TMP + 64);
  memory.copy(ctx, s + 64, 64);
  store<u64>(ctx + CTX_TOTAL, 64);
  store<u32>(ctx + CTX_BUFFERED, 0);
  mdUpdate(ctx, TMP + 64, size);
  mdFinal(ctx, out);
}

/** Starts a streaming HMAC with prepared key `slot`; feed with hashUpdate, finish with hmacFinal. */
export function hmacInit(slot: i32): void {
  hmacStart(CTX, HMAC_SLOTS + <usize>(slot * HMAC_SLOT_SIZE));
}

/** Finishes the streaming HMAC of `slot`; the tag lands at the output region. Returns its size. */
export function hmacFinal(slot: i32): i32 {
  const s = HMAC_SLOTS + <usize>(slot * HMAC_SLOT_SIZE);
  hmacFinish(CTX, s, OUT);
  return digestSize(load<i32>(s + 128));
}

// ---------------------------------------------------------------- batch API

/** Unkeyed digests of `count` messages (input region, OFFSETS); outputs at stride digest size. */
export function hashBatch(alg: i32, count: i32): void {
  const size = <usize>digestSize(alg);
  for (let i: usize = 0; i < <usize>count; i++) {
    const start = <usize>load<u32>(OFFSETS + (i << 2));
    const end = <usize>load<u32>(OFFSETS + ((i + 1) << 2));
    mdInit(WORK, alg);
    mdUpdate(WORK, IN + start, end - start);
    mdFinal(WORK, OUT + i * size);
  }
}

/** HMAC tags of `count` messages with prepared key `slot`; outputs at stride digest size. */
export function hmacBatch(slot: i32, count: i32): void {
  const s = HMAC_SLOTS + <usize>(slot * HMAC_SLOT_SIZE);
  const size = <usize>digestSize(load<i32>(s + 128));
  for (let i: usize = 0; i < <usize>count; i++) {
    const start = <usize>load<u32>(OFFSETS + (i << 2));
    const end = <usize>load<u32>(OFFSETS + ((i + 1) << 2));
    hmacStart(WORK, s);
    mdUpdate(WORK, IN + start, end - start);
    hmacFinish(WORK, s, OUT + i * size);
  }
}

/**
 * Big-endian integer value of `len` digest bytes (a multiple of 4), reduced
 * mod `modulus` (< 2^32) a 32-bit word at a time: r < 2^32 keeps
 * r * 2^32 + w below 2^64, and one u64 division per word instead of per
 * byte took ~0.2 us off every doubleHash token.
 */
function digestMod(p: usize, len: usize, modulus: u64): u32 {
  let r: u64 = 0;
  for (let i: usize = 0; i < len; i += 4) r = ((r << 32) | <u64>bswap<u32>(load<u32>(p + i))) % modulus;
  return <u32>r;
}

/**
 * clkhash doubleHash for `count` tokens: writes the pair
 * (int_be(HMAC-SHA1(key0, token)) mod L, int_be(HMAC-MD5(key1, token)) mod L)
 * as two u32 per token. `modulus` must be in [1, 2^32).
 */
export function doubleHashBatch(sha1Slot: i32, md5Slot: i32, count: i32, modulus: u32): void {
  const s1 = HMAC_SLOTS + <usize>(sha1Slot * HMAC_SLOT_SIZE);
  const s2 = HMAC_SLOTS + <usize>(md5Slot * HMAC_SLOT_SIZE);
  const m = <u64>modulus;
  for (let i: usize = 0; i < <usize>count; i++) {
    const start = <usize>load<u32>(OFFSETS + (i << 2));
    const len = <usize>load<u32>(OFFSETS + ((i + 1) << 2)) - start;
    hmacStart(WORK, s1);
    mdUpdate(WORK, IN + start, len);
    hmacFinish(WORK, s1, TMP);
    store<u32>(OUT + (i << 3), digestMod(TMP, 20, m));
    hmacStart(WORK, s2);
    mdUpdate(WORK, IN + start, len);
    hmacFinish(WORK, s2, TMP);
    store<u32>(OUT + (i << 3) + 4, digestMod(TMP, 16, m));
  }
}

/** Stores a BLAKE2b key (<= 64 bytes, from the input region) in `slot`. */
export function blake2bSetKey(slot: i32, keyLen: i32): void {
  const s = BLAKE_SLOTS + <usize>(slot * BLAKE_SLOT_SIZE);
  memory.fill(s, 0, 64);
  memory.copy(s, IN, <usize>keyLen);
  store<u32>(s, <u32>keyLen, 64);
}

/**
 * BLAKE2b-512 of `count` messages with the key in `slot` and the salt in the
 * salt region; 64-byte outputs. The state after the key block is computed
 * once per batch and reused for every non-empty message.
 */
export function blake2bBatch(slot: i32, count: i32): void {
  const s = BLAKE_SLOTS + <usize>(slot * BLAKE_SLOT_SIZE);
  const keyLen = <usize>load<u32>(s, 64);
  blakeInit(BLAKE_PRE, s, keyLen);
  if (keyLen > 0) {
    blake2bCompress(BLAKE_PRE, BLAKE_PRE + CTX_BUF, 128, false);
    store<u64>(BLAKE_PRE + CTX_TOTAL, 128);
    store<u32>(BLAKE_PRE + CTX_BUFFERED, 0);
  }
  for (let i: usize = 0; i < <usize>count; i++) {
    const start = <usize>load<u32>(OFFSETS + (i << 2));
    const len = <usize>load<u32>(OFFSETS + ((i + 1) << 2)) - start;
    if (len == 0 && keyLen > 0) {
      // With a key and no message the key block itself is the last block.
      blakeInit(WORK, s, keyLen);
    } else {
      memory.copy(WORK, BLAKE_PRE, CTX_SIZE);
      blakeUpdate(WORK, IN + start, len);
    }
    blakeFinal(WORK, OUT + (i << 6));
  }
}
