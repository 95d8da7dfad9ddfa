// Known-answer tests for the wasm hash kernels, values from the standards:
// FIPS 180-4 examples (SHA-1, SHA-256), RFC 1321 A.5 (MD5), RFC 2202
// (HMAC-SHA1, HMAC-MD5), RFC 4231 (HMAC-SHA256), RFC 7693 Appendix A and
// the BLAKE2 reference keyed KAT (blake2b-kat.txt, key 00..3f).
import { describe, expect, it } from 'vitest';
import { blake2b512, hmacMd5, hmacSha1, hmacSha256, md5, sha1, sha256 } from '../../../wasm/crypto.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
const seq = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const millionA = bytes(1_000_000, 0x61);

describe('SHA-1 (FIPS 180-4 examples)', () => {
  it.each([
    ['', 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    ['abc', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '84983e441c3bd26ebaae4aa1f95129e5e54670f1'],
  ])('%j', (msg, digest) => expect(hex(sha1(text(msg)))).toBe(digest));
  it('one million "a"', () => expect(hex(sha1(millionA))).toBe('34aa973cd4c4daa4f61eeb2bdbad27316534016f'));
});

describe('SHA-256 (FIPS 180-4 examples)', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
    [
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn' +
        'hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
    ],
  ])('%j', (msg, digest) => expect(hex(sha256(text(msg)))).toBe(digest));
  it('one million "a"', () =>
    expect(hex(sha256(millionA))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'));
});

describe('MD5 (RFC 1321 A.5 test suite)', () => {
  it.each([
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
  ])('%j', (msg, digest) => expect(hex(md5(text(msg)))).toBe(digest));
});

const rfc2202Data = {
  hiThere: text('Hi There'),
  jefe: text('what do ya want for nothing?'),
  dd50: bytes(50, 0xdd),
  cd50: bytes(50, 0xcd),
  truncation: text('Test With Truncation'),
  bigKey: text('Test Using Larger Than Block-Size Key - Hash Key First'),
  bigKeyBigData: text('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'),
};

describe('HMAC-SHA1 (RFC 2202 section 3)', () => {
  it.each([
    [bytes(20, 0x0b), rfc2202Data.hiThere, 'b617318655057264e28bc0b6fb378c8ef146be00'],
    [text('Jefe'), rfc2202Data.jefe, 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    [bytes(20, 0xaa), rfc2202Data.dd50, '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    [seq(1, 25), rfc2202Data.cd50, '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
    [bytes(20, 0x0c), rfc2202Data.truncation, '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
    [bytes(80, 0xaa), rfc2202Data.bigKey, 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
    [bytes(80, 0xaa), rfc2202Data.bigKeyBigData, 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
  ])('case %#', (key, data, tag) => expect(hex(hmacSha1(key, data))).toBe(tag));
});

describe('HMAC-MD5 (RFC 2202 section 2)', () => {
  it.each([
    [bytes(16, 0x0b), rfc2202Data.hiThere, '9294727a3638bb1c13f48ef8158bfc9d'],
    [text('Jefe'), rfc2202Data.jefe, '750c783e6ab0b503eaa86e310a5db738'],
    [bytes(16, 0xaa), rfc2202Data.dd50, '56be34521d144c88dbb8c733f0e8b3f6'],
    [seq(1, 25), rfc2202Data.cd50, '697eaf0aca3a3aea3a75164746ffaa79'],
    [bytes(16, 0x0c), rfc2202Data.truncation, '56461ef2342edc00f9bab995690efd4c'],
    [bytes(80, 0xaa), rfc2202Data.bigKey, '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd'],
    [bytes(80, 0xaa), rfc2202Data.bigKeyBigData, '6f630fad67cda0ee1fb1f562db3aa53e'],
  ])('case %#', (key, data, tag) => expect(hex(hmacMd5(key, data))).toBe(tag));
});

describe('HMAC-SHA256 (RFC 4231 section 4)', () => {
  it.each([
    [bytes(20, 0x0b), rfc2202Data.hiThere, 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
    [text('Jefe'), rfc2202Data.jefe, '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
    [bytes(20, 0xaa), rfc2202Data.dd50, '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'],
    [seq(1, 25), rfc2202Data.cd50, '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
    [bytes(131, 0xaa), rfc2202Data.bigKey, '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    [
      bytes(131, 0xaa),
      text(
        'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be ' +
          'hashed before being used by the HMAC algorithm.',
      ),
      '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    ],
  ])('case %#', (key, data, tag) => expect(hex(hmacSha256(key, data))).toBe(tag));
});

describe('BLAKE2b-512 (RFC 7693 Appendix A, BLAKE2 keyed KAT)', () => {
  it('"abc", unkeyed', () => {
    expect(hex(blake2b512(text('abc')))).toBe(
      'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1' +
        '7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
    );
  });
  const key = seq(0, 63);
  it('keyed, empty input (key block is the last block)', () => {
    expect(hex(blake2b512(new Uint8Array(0), key))).toBe(
      '10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786' +
        'b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568',
    );
  });
  it('keyed, input 00', () => {
    expect(hex(blake2b512(Uint8Array.of(0), key))).toBe(
      '961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4' +
        '187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd',
    );
  });
  it('keyed, input 00..fe (255 bytes, spans two blocks)', () => {
    expect(hex(blake2b512(seq(0, 254), key))).toBe(
      '142709d62e28fcccd0af97fad0f8465b971e82201dc51070faa0372aa43e9248' +
        '4be1c1e73ba10906d5d1853db6a4106e0a7bf9800d373d6dee2d46d62ef2a461',
    );
  });
});
