import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../common/seeded-random.js';
import { type KeyColumn, ValueCache, writeWtf8 } from '../../../engine/clk/value-cache.js';

const BITS_WORDS = 3;

/** Writes a value's own mark into its entry's bits, to check later that each key keeps its own. */
function mark(cache: ValueCache, at: number, value: number): void {
  for (let w = 0; w < BITS_WORDS; w++) cache.slab[at + w] = value + w;
}

function marked(cache: ValueCache, at: number): number[] {
  return Array.from(cache.slab.subarray(at, at + BITS_WORDS));
}

/** Value as a key read from strings, and as one read from bytes (at an offset other than 0). */
function asString(value: string): KeyColumn {
  return { bytes: new Uint8Array(0), bounds: new Int32Array(0), stride: 0, column: 0, strings: [value] };
}
function asBytes(value: string): KeyColumn {
  const bytes = new Uint8Array(3 + 3 * value.length);
  const end = writeWtf8(value, bytes, 2);
  return { bytes, bounds: Int32Array.of(2, end + 1), stride: 1, column: 0, strings: null };
}
const keyBytes = (value: string) => {
  const k = asBytes(value);
  return Buffer.from(k.bytes.subarray(k.bounds[0], k.bounds[1]! - 1));
};

/** Hash and length, the same for either form. */
function hashOf(value: string): number {
  const hash = ValueCache.hash(asString(value), 0);
  expect(ValueCache.hash(asBytes(value), 0)).toBe(hash);
  expect(ValueCache.keyLength(asString(value), 0)).toBe(ValueCache.keyLength(asBytes(value), 0));
  return hash;
}
/** find(), the same for either form. */
function find(cache: ValueCache, value: string, hash = hashOf(value)): number {
  const at = cache.find(asString(value), 0, hash);
  expect(cache.find(asBytes(value), 0, hash)).toBe(at);
  return at;
}
/** add(), from one form or the other. */
const add = (cache: ValueCache, value: string, hash: number, maxWords: number, fromString = value.length % 2 === 0) =>
  cache.add(fromString ? asString(value) : asBytes(value), 0, hash, maxWords);

describe('ValueCache', () => {
  it('finds what a Map would, across growth and clears, comparing whole keys', () => {
    const r = seededRandom(9);
    const cache = new ValueCache(BITS_WORDS);
    const map = new Map<string, number>();
    // Odd and even lengths, units above 0x7fff (é is not, 李 and the surrogates of 😀 are), the empty string.
    const alphabet = ['a', 'b', 'é', '李', '😀', ' ', '', '\uffff'];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 30_000; i++) {
        let k = '';
        const n = Math.floor(r() * 6);
        for (let j = 0; j < n; j++) k += alphabet[Math.floor(r() * alphabet.length)];
        const at = find(cache, k);
        if (map.has(k)) {
          expect(marked(cache, at)).toEqual([map.get(k)!, map.get(k)! + 1, map.get(k)! + 2]);
        } else {
          expect(at).toBe(-1);
          const added = add(cache, k, hashOf(k), 2 ** 24);
          expect(marked(cache, added)).toEqual([0, 0, 0]);
          const value = Math.floor(r() * 2 ** 30);
          mark(cache, added, value);
          map.set(k, value);
        }
      }
      expect(cache.size).toBe(map.size);
      for (const [k, v] of map) expect(marked(cache, find(cache, k))[0]).toBe(v);
      cache.clear();
      map.clear();
      expect(find(cache, 'a')).toBe(-1);
    }
  });

  it('tells apart values with one hash, and refuses an entry beyond its words', () => {
    const cache = new ValueCache(BITS_WORDS);
    // Every value under one hash: found only by comparing the values themselves.
    const values = ['', 'a', 'ab', 'ba', 'abc', 'a\u0000', '\u0000a', 'abcd'];
    for (const [i, v] of values.entries()) mark(cache, add(cache, v, 7, 1024), 100 * i);
    for (const [i, v] of values.entries()) expect(marked(cache, find(cache, v, 7))[0]).toBe(100 * i);
    expect(find(cache, 'abcde', 7)).toBe(-1);
    const full = new ValueCache(BITS_WORDS);
    expect(add(full, 'abc', 9, full.entryWords(3) - 1)).toBe(-1);
    expect(add(full, 'abc', 9, full.entryWords(3))).toBeGreaterThanOrEqual(0);
  });

  it('writes strings as UTF-8, and each lone surrogate as bytes no valid UTF-8 holds', () => {
    for (const value of ['', 'abc', 'é', '李', '😀', 'a\u0000b', '\uffff', '\ud7ff\ue000', '\u07ff\u0800']) {
      expect(keyBytes(value).equals(Buffer.from(value, 'utf8'))).toBe(true);
    }
    // Lone surrogates, either half, alone or next to the wrong half: three bytes each, never U+FFFD's.
    const lone = ['\ud800', '\udc00', '\udbff', '\udfff', '\udc00\ud800', 'a\ud800'];
    const seen = new Set<string>([Buffer.from('\ufffd').toString('hex')]);
    for (const value of lone) {
      const hex = keyBytes(value).toString('hex');
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
      expect(keyBytes(value).toString('utf8')).toContain('\ufffd');
    }
    // Found as the strings they are: '\ud800' is not '\ufffd'.
    for (const fromString of [true, false]) {
      const cache = new ValueCache(BITS_WORDS);
      mark(cache, add(cache, '\ufffd', hashOf('\ufffd'), 1024, fromString), 5);
      expect(find(cache, '\ud800')).toBe(-1);
      expect(find(cache, '\ud800', hashOf('\ufffd'))).toBe(-1); // under one hash too
      expect(marked(cache, find(cache, '\ufffd'))[0]).toBe(5);
    }
  });
});
