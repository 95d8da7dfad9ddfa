/**
 * Token hashing backends for the CLK encoder. Both compute exactly what
 * clkhash 0.18.3 bloomfilter.py computes per token:
 *  - doubleHash: a = int_be(HMAC-SHA1(key0, token)) mod L and
 *    b = int_be(HMAC-MD5(key1, token)) mod L;
 *  - blakeHash: BLAKE2b-512(token, key=key0, salt=str(j)) for j = 0.. .
 *
 * `wasm` (default) writes the tokens straight into the crypto kernel's input
 * region and hashes them all in one call with per-key precomputed HMAC pads.
 * `node` uses node:crypto per token (and @noble/hashes for keyed, salted BLAKE2b,
 * since node:crypto has no salted BLAKE2b); it exists for differential tests.
 */
import { createHmac } from 'node:crypto';
import { blake2b } from '@noble/hashes/blake2.js';
import { type CryptoKernel, getCryptoKernel, type KernelKey } from '../../wasm/crypto.js';
import type { TokenEncoding } from './schema.js';
import { encodeToken, encodeTokenInto, maxEncodedBytes } from './tokens.js';

export type HashBackendName = 'wasm' | 'node';

export interface FeatureHasher {
  /** doubleHash: out[2i] = a, out[2i+1] = b for tokens[0..count). */
  doubleHash(tokens: readonly string[], count: number, out: Uint32Array): void;
  /** int_be(HMAC-MD5(key1, bytes)) mod L (prevent_singularity retries). */
  md5Mod(bytes: Uint8Array): number;
  /** blakeHash: 64 * macs bytes per token, digest j at out[(i * macs + j) * 64]. */
  blake(tokens: readonly string[], count: number, macs: number, out: Uint8Array): void;
  /** Frees kernel key slots. */
  release(): void;
}

export interface FeatureHashParams {
  readonly key0: Uint8Array;
  readonly key1: Uint8Array;
  readonly hash: 'doubleHash' | 'blakeHash';
  readonly encoding: TokenEncoding;
  /** Working filter length L = l * 2^xor_folds. */
  readonly modulus: number;
}

export function createFeatureHasher(backend: HashBackendName, p: FeatureHashParams): FeatureHasher {
  return backend === 'wasm' ? new WasmFeatureHasher(getCryptoKernel(), p) : new NodeFeatureHasher(p);
}

function bytesMod(bytes: Uint8Array, modulus: number): number {
  // modulus <= 2^26, so r * 256 + 255 stays far below 2^53.
  let r = 0;
  for (let i = 0; i < bytes.length; i++) r = (r * 256 + bytes[i]!) % modulus;
  return r;
}

const SALTS = Array.from({ length: 64 }, (_, j) => new TextEncoder().encode(String(j)));

function saltFor(j: number): Uint8Array {
  return SALTS[j] ?? new TextEncoder().encode(String(j));
}

/** hashlib.blake2b(key=…, salt=…): a salt shorter than 16 bytes is zero-padded, as the parameter block is. */
function nobleBlake2b512(data: Uint8Array, key: Uint8Array, salt: Uint8Array): Uint8Array {
  const padded = new Uint8Array(16);
  padded.set(salt);
  return blake2b(data, { key, salt: padded, dkLen: 64 });
}

class WasmFeatureHasher implements FeatureHasher {
  private readonly sha1Key?: KernelKey;
  private readonly md5Key?: KernelKey;
  private readonly blakeKey?: KernelKey;

  constructor(
    private readonly k: CryptoKernel,
    private readonly p: FeatureHashParams,
  ) {
    if (p.hash === 'doubleHash') {
      this.sha1Key = k.prepareHmacKey('sha1', p.key0);
      this.md5Key = k.prepareHmacKey('md5', p.key1);
    } else {
      this.blakeKey = k.prepareBlakeKey(p.key0);
    }
  }

  /**
   * Packs tokens[from..) into the kernel input; returns how many fit.
   * A token too large for the whole region returns 0 (caller streams it).
   */
  private pack(tokens: readonly string[], from: number, count: number): number {
    const input = this.k.input;
    const offsets = this.k.offsets;
    let used = 0;
    let n = 0;
    offsets[0] = 0;
    while (from + n < count && n < this.k.maxBatch) {
      const token = tokens[from + n]!;
      if (used + maxEncodedBytes(token.length, this.p.encoding) > input.length) break;
      used += encodeTokenInto(token, this.p.encoding, input, used);
      n++;
      offsets[n] = used;
    }
    return n;
  }

  doubleHash(tokens: readonly string[], count: number, out: Uint32Array): void {
    let i = 0;
    while (i < count) {
      const n = this.pack(tokens, i, count);
      if (n === 0) {
        const bytes = encodeToken(tokens[i]!, this.p.encoding);
        out[2 * i] = bytesMod(this.k.hmac(this.sha1Key!, bytes), this.p.modulus);
        out[2 * i + 1] = bytesMod(this.k.hmac(this.md5Key!, bytes), this.p.modulus);
        i++;
        continue;
      }
      this.k.doubleHashBatch(this.sha1Key!, this.md5Key!, n, this.p.modulus);
      out.set(this.k.outputU32.subarray(0, 2 * n), 2 * i);
      i += n;
    }
  }

  md5Mod(bytes: Uint8Array): number {
    return bytesMod(this.k.hmac(this.md5Key!, bytes), this.p.modulus);
  }

  blake(tokens: readonly string[], count: number, macs: number, out: Uint8Array): void {
    for (let j = 0; j < macs; j++) {
      let i = 0;
      while (i < count) {
        // The salt region is shared kernel state: set it for every batch.
        this.k.setBlakeSalt(saltFor(j));
        const n = this.pack(tokens, i, count);
        if (n === 0) {
          const digest = this.k.blake2b512(encodeToken(tokens[i]!, this.p.encoding), this.p.key0, saltFor(j));
          out.set(digest, (i * macs + j) * 64);
          i++;
          continue;
        }
        this.k.blake2bBatch(this.blakeKey!, n);
        for (let t = 0; t < n; t++) out.set(this.k.output.subarray(t * 64, t * 64 + 64), ((i + t) * macs + j) * 64);
        i += n;
      }
    }
  }

  release(): void {
    this.sha1Key?.release();
    this.md5Key?.release();
    this.blakeKey?.release();
  }
}

class NodeFeatureHasher implements FeatureHasher {
  constructor(private readonly p: FeatureHashParams) {}

  doubleHash(tokens: readonly string[], count: number, out: Uint32Array): void {
    for (let i = 0; i < count; i++) {
      const bytes = encodeToken(tokens[i]!, this.p.encoding);
      out[2 * i] = bytesMod(createHmac('sha1', this.p.key0).update(bytes).digest(), this.p.modulus);
      out[2 * i + 1] = this.md5Mod(bytes);
    }
  }

  md5Mod(bytes: Uint8Array): number {
    return bytesMod(createHmac('md5', this.p.key1).update(bytes).digest(), this.p.modulus);
  }

  blake(tokens: readonly string[], count: number, macs: number, out: Uint8Array): void {
    for (let i = 0; i < count; i++) {
      const bytes = encodeToken(tokens[i]!, this.p.encoding);
      for (let j = 0; j < macs; j++) out.set(nobleBlake2b512(bytes, this.p.key0, saltFor(j)), (i * macs + j) * 64);
    }
  }

  release(): void {}
}
