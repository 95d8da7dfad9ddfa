// Differential tests: the wasm kernels against node:crypto (OpenSSL) on
// random inputs of every length 0..300 (all block boundaries included),
// random keys up to 200 bytes (longer than the 64-byte block), the batch
// and prepared-key paths against the one-shot paths, and keyed+salted
// BLAKE2b against Python hashlib vectors and the plain-TS RFC 7693 reference.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  blake2b512,
  CryptoKernel,
  getCryptoKernel,
  hmacMd5,
  hmacSha1,
  hmacSha256,
  md5,
  sha1,
  sha256,
} from '../../../wasm/crypto.js';
import * as ref from '../../../wasm/reference/crypto.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const LENGTHS = Array.from({ length: 301 }, (_, i) => i);

describe('hashes vs node:crypto', () => {
  it('SHA-1, MD5, SHA-256 on random inputs of 0..300 bytes', () => {
    for (const n of LENGTHS) {
      const data = randomBytes(n);
      expect(hex(sha1(data)), `sha1 len ${n}`).toBe(hex(ref.sha1(data)));
      expect(hex(md5(data)), `md5 len ${n}`).toBe(hex(ref.md5(data)));
      expect(hex(sha256(data)), `sha256 len ${n}`).toBe(hex(ref.sha256(data)));
    }
  });

  it('inputs larger than the kernel input region stream correctly', () => {
    const data = randomBytes(getCryptoKernel().input.length * 2 + 77);
    expect(hex(sha256(data))).toBe(hex(ref.sha256(data)));
    const key = randomBytes(10);
    expect(hex(hmacSha1(key, data))).toBe(hex(ref.hmacSha1(key, data)));
    expect(hex(blake2b512(data, key))).toBe(hex(ref.blake2b512(data, key)));
  });

  it('HMAC-SHA1/MD5/SHA256 with random keys of 0..200 bytes', () => {
    for (const n of LENGTHS) {
      const data = randomBytes(n);
      const key = randomBytes((n * 7) % 201);
      expect(hex(hmacSha1(key, data)), `sha1 len ${n}`).toBe(hex(ref.hmacSha1(key, data)));
      expect(hex(hmacMd5(key, data)), `md5 len ${n}`).toBe(hex(ref.hmacMd5(key, data)));
      expect(hex(hmacSha256(key, data)), `sha256 len ${n}`).toBe(hex(ref.hmacSha256(key, data)));
    }
  });

  it('boundary lengths with keys of exactly 63, 64, 65 and 129 bytes', () => {
    for (const n of [55, 56, 63, 64, 65, 119, 120, 127, 128, 129]) {
      for (const k of [63, 64, 65, 129]) {
        const data = randomBytes(n);
        const key = randomBytes(k);
        expect(hex(hmacSha1(key, data))).toBe(hex(ref.hmacSha1(key, data)));
        expect(hex(hmacMd5(key, data))).toBe(hex(ref.hmacMd5(key, data)));
        expect(hex(hmacSha256(key, data))).toBe(hex(ref.hmacSha256(key, data)));
      }
    }
  });
});

describe('prepared keys and batch calls', () => {
  const kernel = new CryptoKernel();

  it('hmacMany with a prepared key equals per-message HMAC', () => {
    for (const alg of ['sha1', 'md5', 'sha256'] as const) {
      const key = randomBytes(40);
      const prepared = kernel.prepareHmacKey(alg, key);
      const messages = LENGTHS.map((n) => randomBytes(n));
      const tags = kernel.hmacMany(prepared, messages);
      const size = alg === 'sha256' ? 32 : alg === 'sha1' ? 20 : 16;
      const refFn = alg === 'sha1' ? ref.hmacSha1 : alg === 'md5' ? ref.hmacMd5 : ref.hmacSha256;
      messages.forEach((m, i) => {
        expect(hex(tags.subarray(i * size, (i + 1) * size))).toBe(hex(refFn(key, m)));
      });
      prepared.release();
    }
  });

  it('batches split when the input region fills up', () => {
    const prepared = kernel.prepareHmacKey('sha256', randomBytes(32));
    const messages = Array.from({ length: 5000 }, (_, i) => randomBytes(i % 97));
    messages.push(randomBytes(kernel.input.length + 5)); // larger than the region: streamed alone
    const tags = kernel.hmacMany(prepared, messages);
    for (const i of [0, 1, 4095, 4096, 4999, 5000])
      expect(hex(tags.subarray(i * 32, i * 32 + 32))).toBe(hex(kernel.hmac(prepared, messages[i]!)));
    prepared.release();
  });

  it('digestMany equals one-shot digests', () => {
    const messages = LENGTHS.map((n) => randomBytes(n));
    const out = kernel.digestMany('md5', messages);
    messages.forEach((m, i) => {
      expect(hex(out.subarray(i * 16, i * 16 + 16))).toBe(hex(ref.md5(m)));
    });
  });

  it('doubleHashBatch gives HMAC-SHA1 and HMAC-MD5 as big-endian integers mod L', () => {
    const k0 = randomBytes(64);
    const k1 = randomBytes(64);
    const s = kernel.prepareHmacKey('sha1', k0);
    const m = kernel.prepareHmacKey('md5', k1);
    const messages = Array.from({ length: 50 }, (_, i) => randomBytes(i));
    for (const modulus of [1, 8, 1000, 1024, 2 ** 26, 2 ** 32 - 1]) {
      let used = 0;
      kernel.offsets[0] = 0;
      messages.forEach((msg, i) => {
        kernel.input.set(msg, used);
        used += msg.length;
        kernel.offsets[i + 1] = used;
      });
      kernel.doubleHashBatch(s, m, messages.length, modulus);
      messages.forEach((msg, i) => {
        const a = BigInt(`0x${hex(ref.hmacSha1(k0, msg))}`) % BigInt(modulus);
        const b = BigInt(`0x${hex(ref.hmacMd5(k1, msg))}`) % BigInt(modulus);
        expect(kernel.outputU32[2 * i]).toBe(Number(a));
        expect(kernel.outputU32[2 * i + 1]).toBe(Number(b));
      });
    }
    s.release();
    m.release();
  });

  it('instances have separate memories (one per worker): keys and scratch do not leak across', () => {
    const a = new CryptoKernel();
    const b = new CryptoKernel();
    const keyA = randomBytes(32);
    const keyB = randomBytes(32);
    const pa = a.prepareHmacKey('sha256', keyA);
    const pb = b.prepareHmacKey('sha256', keyB);
    expect(pa.slot).toBe(pb.slot); // same slot number, different memories
    const msg = randomBytes(50);
    expect(hex(a.hmac(pa, msg))).toBe(hex(ref.hmacSha256(keyA, msg)));
    expect(hex(b.hmac(pb, msg))).toBe(hex(ref.hmacSha256(keyB, msg)));
    expect(a.input.buffer).not.toBe(b.input.buffer);
  });

  it('released slots are reused; exhausting slots is a typed error', () => {
    const k = new CryptoKernel();
    const keys = [];
    try {
      for (;;) keys.push(k.prepareHmacKey('sha1', randomBytes(8)));
    } catch (e) {
      expect((e as { code?: string }).code).toBe('CRYPTO_SLOTS_EXHAUSTED');
    }
    expect(keys.length).toBeGreaterThan(100);
    keys[0]!.release();
    expect(() => k.prepareHmacKey('md5', randomBytes(8))).not.toThrow();
  });
});

describe('BLAKE2b-512 keyed and salted', () => {
  const fixture = JSON.parse(
    readFileSync(new URL('../../fixtures/blake2b/keyed-salted.json', import.meta.url), 'utf8'),
  ) as {
    vectors: Array<{ data: string; key: string; salt: string; digest: string }>;
  };

  it(`matches ${fixture.vectors.length} Python hashlib vectors`, () => {
    expect(fixture.vectors.length).toBeGreaterThan(100);
    for (const v of fixture.vectors) {
      const got = blake2b512(Buffer.from(v.data, 'hex'), Buffer.from(v.key, 'hex'), Buffer.from(v.salt, 'hex'));
      expect(hex(got), `len ${v.data.length / 2} key ${v.key.length / 2} salt ${v.salt.length / 2}`).toBe(v.digest);
    }
  });

  it('the plain-TS reference agrees with the same vectors (so it can serve as the differential oracle)', () => {
    for (const v of fixture.vectors.slice(0, 40)) {
      expect(
        hex(ref.blake2b512(Buffer.from(v.data, 'hex'), Buffer.from(v.key, 'hex'), Buffer.from(v.salt, 'hex'))),
      ).toBe(v.digest);
    }
  });

  it('unkeyed, unsalted equals node:crypto blake2b512 for 0..300 bytes', async () => {
    const { createHash } = await import('node:crypto');
    for (const n of LENGTHS) {
      const data = randomBytes(n);
      expect(hex(blake2b512(data))).toBe(createHash('blake2b512').update(data).digest('hex'));
    }
  });

  it('batch path with a prepared key and salt equals the one-shot path (random keys, salts, lengths)', () => {
    const kernel = new CryptoKernel();
    for (let round = 0; round < 20; round++) {
      const key = randomBytes(round % 65);
      const salt = randomBytes(round % 17);
      const prepared = kernel.prepareBlakeKey(key);
      const messages = Array.from({ length: 30 }, (_, i) => randomBytes((i * 11 + round) % 300));
      kernel.setBlakeSalt(salt);
      let used = 0;
      kernel.offsets[0] = 0;
      messages.forEach((msg, i) => {
        kernel.input.set(msg, used);
        used += msg.length;
        kernel.offsets[i + 1] = used;
      });
      kernel.blake2bBatch(prepared, messages.length);
      const batch = kernel.output.slice(0, messages.length * 64);
      messages.forEach((msg, i) => {
        expect(hex(batch.subarray(i * 64, i * 64 + 64))).toBe(hex(ref.blake2b512(msg, key, salt)));
      });
      prepared.release();
    }
  });

  it('rejects keys over 64 bytes and salts over 16 bytes with a typed error', () => {
    expect(() => blake2b512(new Uint8Array(1), new Uint8Array(65))).toThrow(
      expect.objectContaining({ code: 'CRYPTO_INPUT_INVALID' }),
    );
    expect(() => blake2b512(new Uint8Array(1), new Uint8Array(1), new Uint8Array(17))).toThrow(
      expect.objectContaining({ code: 'CRYPTO_INPUT_INVALID' }),
    );
  });
});
