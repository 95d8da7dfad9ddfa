/**
 * Loader and typed API for the hash kernels in wasm/assembly/crypto.ts
 * (SHA-1, MD5, SHA-256, HMAC over each, keyed+salted BLAKE2b-512).
 *
 * Each CryptoKernel owns one instance with its own, non-shared memory: the
 * kernel keeps scratch regions and key slots at fixed addresses, which
 * would collide across threads on shared memory (docs/decisions.md, "Kernels with static data"). A Piscina
 * worker therefore gets its own instance via `getCryptoKernel()`.
 *
 * Two levels of API:
 *  - one-shot functions (`sha256(data)`, `hmacSha1(key, data)`, ...) that
 *    stream any length through the input region;
 *  - batch calls over the fixed scratch regions (`input`, `offsets`,
 *    `output`), which the CLK encoder fills directly so a whole set of
 *    tokens is hashed in one JS->wasm call with no allocation.
 */
import { readFileSync } from 'node:fs';
import { PavilionError } from '../common/errors.js';
import { fromRoot } from '../common/paths.js';

export type HmacAlgorithm = 'sha1' | 'md5' | 'sha256';

const ALG_CODE: Record<HmacAlgorithm, number> = { sha1: 1, md5: 2, sha256: 3 };
const DIGEST_SIZE: Record<HmacAlgorithm, number> = { sha1: 20, md5: 16, sha256: 32 };

interface CryptoExports {
  memory: { buffer: ArrayBuffer };
  inputPtr(): number;
  inputSize(): number;
  offsetsPtr(): number;
  maxBatch(): number;
  outputPtr(): number;
  outputSize(): number;
  saltPtr(): number;
  maxSlots(): number;
  hashInit(alg: number): void;
  hashUpdate(len: number): void;
  hashFinal(): number;
  blake2bInit(slot: number): void;
  hmacSetKey(alg: number, slot: number, keyLen: number): void;
  hmacInit(slot: number): void;
  hmacFinal(slot: number): number;
  hashBatch(alg: number, count: number): void;
  hmacBatch(slot: number, count: number): void;
  doubleHashBatch(sha1Slot: number, md5Slot: number, count: number, modulus: number): void;
  blake2bSetKey(slot: number, keyLen: number): void;
  blake2bBatch(slot: number, count: number): void;
}

/** A key prepared once in a kernel slot (HMAC pads or a BLAKE2b key). */
export interface KernelKey {
  readonly kind: 'hmac' | 'blake2b';
  readonly alg: HmacAlgorithm | 'blake2b';
  readonly slot: number;
  /** Returns the slot to the kernel; the key must not be used afterwards. */
  release(): void;
}

let compiled: WebAssembly.Module | undefined;

function cryptoModule(): WebAssembly.Module {
  if (!compiled) {
    // Read relative to the package root, the same from source and from dist/.
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      const file = readFileSync(fromRoot('wasm', 'build', 'crypto.wasm'));
      bytes = new Uint8Array(file.buffer as ArrayBuffer, file.byteOffset, file.length);
    } catch (err) {
      throw new PavilionError('WASM_NOT_BUILT', 'wasm/build/crypto.wasm not found: run `npm run build:wasm`', {
        cause: err,
      });
    }
    // Synchronous compile is fine in Node for a module this small (~8 KB).
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

export class CryptoKernel {
  private readonly x: CryptoExports;
  /** Input region: messages and keys are written here. */
  readonly input: Uint8Array;
  /** Batch message boundaries: offsets[0..count] into `input`. */
  readonly offsets: Uint32Array;
  /** Output region (digests, or u32 pairs for doubleHash). */
  readonly output: Uint8Array;
  readonly outputU32: Uint32Array;
  readonly maxBatch: number;
  private readonly salt: Uint8Array;
  private readonly freeHmac: number[] = [];
  private readonly freeBlake: number[] = [];
  /** Slot reserved for one-shot keyed calls (never handed out). */
  private readonly scratchSlot: number;

  constructor() {
    const instance = new WebAssembly.Instance(cryptoModule(), {});
    this.x = instance.exports as unknown as CryptoExports;
    // The kernel never allocates or grows memory, so these views stay valid.
    const buf = this.x.memory.buffer;
    this.input = new Uint8Array(buf, this.x.inputPtr(), this.x.inputSize());
    this.maxBatch = this.x.maxBatch();
    this.offsets = new Uint32Array(buf, this.x.offsetsPtr(), this.maxBatch + 1);
    this.output = new Uint8Array(buf, this.x.outputPtr(), this.x.outputSize());
    this.outputU32 = new Uint32Array(buf, this.x.outputPtr(), this.x.outputSize() >>> 2);
    this.salt = new Uint8Array(buf, this.x.saltPtr(), 16);
    const slots = this.x.maxSlots();
    this.scratchSlot = slots - 1;
    for (let s = slots - 2; s >= 0; s--) {
      this.freeHmac.push(s);
      this.freeBlake.push(s);
    }
  }

  // ------------------------------------------------------------ unkeyed

  sha1(data: Uint8Array): Uint8Array {
    return this.digest(ALG_CODE.sha1, data);
  }
  md5(data: Uint8Array): Uint8Array {
    return this.digest(ALG_CODE.md5, data);
  }
  sha256(data: Uint8Array): Uint8Array {
    return this.digest(ALG_CODE.sha256, data);
  }

  private digest(alg: number, data: Uint8Array): Uint8Array {
    this.x.hashInit(alg);
    this.stream(data);
    const size = this.x.hashFinal();
    return this.output.slice(0, size);
  }

  private stream(data: Uint8Array): void {
    const chunk = this.input.length;
    for (let off = 0; off < data.length; off += chunk) {
      const part = data.subarray(off, Math.min(off + chunk, data.length));
      this.input.set(part);
      this.x.hashUpdate(part.length);
    }
  }

  // ------------------------------------------------------------ HMAC

  /** Precomputes the HMAC pads for `key` in a kernel slot (RFC 2104). */
  prepareHmacKey(alg: HmacAlgorithm, key: Uint8Array): KernelKey {
    const slot = this.freeHmac.pop();
    if (slot === undefined)
      throw new PavilionError('CRYPTO_SLOTS_EXHAUSTED', 'no free HMAC key slot in this crypto kernel');
    this.setHmacKey(alg, slot, key);
    let released = false;
    return {
      kind: 'hmac',
      alg,
      slot,
      release: () => {
        if (!released) {
          released = true;
          this.freeHmac.push(slot);
        }
      },
    };
  }

  private setHmacKey(alg: HmacAlgorithm, slot: number, key: Uint8Array): void {
    if (key.length > this.input.length) {
      // Longer than the input region: pre-hash as RFC 2104 does for keys over one block.
      key = this.digest(ALG_CODE[alg], key);
    }
    this.input.set(key);
    this.x.hmacSetKey(ALG_CODE[alg], slot, key.length);
  }

  /** HMAC with a prepared key, any message length. */
  hmac(key: KernelKey, data: Uint8Array): Uint8Array {
    if (key.kind !== 'hmac') throw new PavilionError('CRYPTO_INPUT_INVALID', 'not an HMAC key');
    this.x.hmacInit(key.slot);
    this.stream(data);
    const size = this.x.hmacFinal(key.slot);
    return this.output.slice(0, size);
  }

  hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
    return this.hmacOnce('sha1', key, data);
  }
  hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
    return this.hmacOnce('md5', key, data);
  }
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return this.hmacOnce('sha256', key, data);
  }

  private hmacOnce(alg: HmacAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
    this.setHmacKey(alg, this.scratchSlot, key);
    this.x.hmacInit(this.scratchSlot);
    this.stream(data);
    const size = this.x.hmacFinal(this.scratchSlot);
    return this.output.slice(0, size);
  }

  /**
   * HMACs of many messages with one prepared key in as few calls as the
   * scratch size allows. Returns the tags concatenated (digest size each).
   */
  hmacMany(key: KernelKey, messages: readonly Uint8Array[]): Uint8Array {
    if (key.kind !== 'hmac') throw new PavilionError('CRYPTO_INPUT_INVALID', 'not an HMAC key');
    const size = DIGEST_SIZE[key.alg as HmacAlgorithm];
    const out = new Uint8Array(messages.length * size);
    this.packBatches(
      messages,
      size,
      (first, count) => {
        this.x.hmacBatch(key.slot, count);
        out.set(this.output.subarray(0, count * size), first * size);
      },
      (i) => out.set(this.hmac(key, messages[i]!), i * size),
    );
    return out;
  }

  // ------------------------------------------------------------ batch over the scratch regions

  /**
   * clkhash doubleHash for `count` messages already placed in `input` with
   * boundaries in `offsets[0..count]`: afterwards outputU32[2i] is
   * int_be(HMAC-SHA1) mod `modulus` and outputU32[2i+1] int_be(HMAC-MD5) mod `modulus`.
   */
  doubleHashBatch(sha1Key: KernelKey, md5Key: KernelKey, count: number, modulus: number): void {
    if (sha1Key.alg !== 'sha1' || md5Key.alg !== 'md5')
      throw new PavilionError('CRYPTO_INPUT_INVALID', 'doubleHash needs an HMAC-SHA1 and an HMAC-MD5 key');
    if (!(modulus >= 1 && modulus < 2 ** 32)) throw new PavilionError('CRYPTO_INPUT_INVALID', 'modulus out of range');
    if (count > this.maxBatch || count * 8 > this.output.length)
      throw new PavilionError('CRYPTO_INPUT_INVALID', 'batch too large');
    this.x.doubleHashBatch(sha1Key.slot, md5Key.slot, count, modulus);
  }

  /** Stores a BLAKE2b key (up to 64 bytes) in a kernel slot. */
  prepareBlakeKey(key: Uint8Array): KernelKey {
    if (key.length > 64) throw new PavilionError('CRYPTO_INPUT_INVALID', 'BLAKE2b key longer than 64 bytes');
    const slot = this.freeBlake.pop();
    if (slot === undefined)
      throw new PavilionError('CRYPTO_SLOTS_EXHAUSTED', 'no free BLAKE2b key slot in this crypto kernel');
    this.input.set(key);
    this.x.blake2bSetKey(slot, key.length);
    let released = false;
    return {
      kind: 'blake2b',
      alg: 'blake2b',
      slot,
      release: () => {
        if (!released) {
          released = true;
          this.freeBlake.push(slot);
        }
      },
    };
  }

  /** Sets the 16-byte BLAKE2b salt (shorter salts are zero padded, as hashlib does). */
  setBlakeSalt(salt: Uint8Array): void {
    if (salt.length > 16) throw new PavilionError('CRYPTO_INPUT_INVALID', 'BLAKE2b salt longer than 16 bytes');
    this.salt.fill(0);
    this.salt.set(salt);
  }

  /**
   * BLAKE2b-512 of `count` messages already in `input`/`offsets`, with the
   * key in `key` and the current salt; 64-byte digests at `output`.
   */
  blake2bBatch(key: KernelKey, count: number): void {
    if (key.kind !== 'blake2b') throw new PavilionError('CRYPTO_INPUT_INVALID', 'not a BLAKE2b key');
    if (count > this.maxBatch || count * 64 > this.output.length)
      throw new PavilionError('CRYPTO_INPUT_INVALID', 'batch too large');
    this.x.blake2bBatch(key.slot, count);
  }

  /** One-shot BLAKE2b-512, as Python's hashlib.blake2b(data, key=key, salt=salt).digest(). */
  blake2b512(data: Uint8Array, key: Uint8Array = new Uint8Array(0), salt: Uint8Array = new Uint8Array(0)): Uint8Array {
    if (key.length > 64) throw new PavilionError('CRYPTO_INPUT_INVALID', 'BLAKE2b key longer than 64 bytes');
    this.setBlakeSalt(salt);
    this.input.set(key);
    this.x.blake2bSetKey(this.scratchSlot, key.length);
    this.x.blake2bInit(this.scratchSlot);
    this.stream(data);
    this.x.hashFinal();
    return this.output.slice(0, 64);
  }

  /** Unkeyed digests of many messages; returns them concatenated. */
  digestMany(alg: HmacAlgorithm, messages: readonly Uint8Array[]): Uint8Array {
    const size = DIGEST_SIZE[alg];
    const out = new Uint8Array(messages.length * size);
    this.packBatches(
      messages,
      size,
      (first, count) => {
        this.x.hashBatch(ALG_CODE[alg], count);
        out.set(this.output.subarray(0, count * size), first * size);
      },
      (i) => out.set(this.digest(ALG_CODE[alg], messages[i]!), i * size),
    );
    return out;
  }

  /**
   * Packs messages into the input region in batches that fit, calling
   * `runBatch(firstIndex, count)` for each; a message too large for the
   * region on its own goes through `single(index)` (the streaming path).
   */
  private packBatches(
    messages: readonly Uint8Array[],
    outStride: number,
    runBatch: (first: number, count: number) => void,
    single: (i: number) => void,
  ): void {
    const maxCount = Math.min(this.maxBatch, Math.floor(this.output.length / outStride));
    let i = 0;
    while (i < messages.length) {
      if (messages[i]!.length > this.input.length) {
        single(i);
        i++;
        continue;
      }
      const first = i;
      let used = 0;
      let count = 0;
      this.offsets[0] = 0;
      while (i < messages.length && count < maxCount && used + messages[i]!.length <= this.input.length) {
        this.input.set(messages[i]!, used);
        used += messages[i]!.length;
        count++;
        this.offsets[count] = used;
        i++;
      }
      runBatch(first, count);
    }
  }
}

let defaultKernel: CryptoKernel | undefined;

/** The calling thread's kernel instance (created on first use). */
export function getCryptoKernel(): CryptoKernel {
  defaultKernel ??= new CryptoKernel();
  return defaultKernel;
}

export function sha1(data: Uint8Array): Uint8Array {
  return getCryptoKernel().sha1(data);
}
export function md5(data: Uint8Array): Uint8Array {
  return getCryptoKernel().md5(data);
}
export function sha256(data: Uint8Array): Uint8Array {
  return getCryptoKernel().sha256(data);
}
export function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  return getCryptoKernel().hmacSha1(key, data);
}
export function hmacMd5(key: Uint8Array, data: Uint8Array): Uint8Array {
  return getCryptoKernel().hmacMd5(key, data);
}
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return getCryptoKernel().hmacSha256(key, data);
}
/** BLAKE2b-512 with optional key (<= 64 bytes) and salt (<= 16 bytes, zero padded). */
export function blake2b512(data: Uint8Array, key?: Uint8Array, salt?: Uint8Array): Uint8Array {
  return getCryptoKernel().blake2b512(data, key, salt);
}
