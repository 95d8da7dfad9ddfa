import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../common/seeded-random.js';
import { ValueCache } from '../../../engine/clk/value-cache.js';

const BITS_WORDS = 3;

/** Writes a value's own mark into its entry's bits, to check later that each key keeps its own. */
function mark(cache: ValueCache, at: number, value: number): void {
  for (let w = 0; w < BITS_WORDS; w++) cache.slab[at + w] = value + w;
}

function marked(cache: ValueCache, at: number): number[] {
  return Array.from(cache.slab.subarray(at, at + BITS_WORDS));
}

describe('ValueCache', () => {
  it('finds what a Map would, across growth and clears, comparing whole strings', () => {
    const r = seededRandom(9);
    const cache = new ValueCache(BITS_WORDS);
    const map = new Map<string, number>();
    // Odd and even lengths, units above 0x7fff (é is not, 李 and the surrogates of 😀 are), the empty string.
    const alphabet = ['a', 'b', 'é', '李', '😀', ' ', '', '\uffff'];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 30_000; i++) {
        let key = '';
        const n = Math.floor(r() * 6);
        for (let j = 0; j < n; j++) key += alphabet[Math.floor(r() * alphabet.length)];
        const at = cache.find(key, ValueCache.hash(key));
        if (map.has(key)) {
          expect(marked(cache, at)).toEqual([map.get(key)!, map.get(key)! + 1, map.get(key)! + 2]);
        } else {
          expect(at).toBe(-1);
          const added = cache.add(key, ValueCache.hash(key), 2 ** 24);
          expect(marked(cache, added)).toEqual([0, 0, 0]);
          const value = Math.floor(r() * 2 ** 30);
          mark(cache, added, value);
          map.set(key, value);
        }
      }
      expect(cache.size).toBe(map.size);
      for (const [k, v] of map) expect(marked(cache, cache.find(k, ValueCache.hash(k)))[0]).toBe(v);
      // A fresh string equal to a key (not the same object) is found.
      const [someKey] = map.keys();
      const fresh = ` ${someKey}`.slice(1);
      expect(marked(cache, cache.find(fresh, ValueCache.hash(fresh)))[0]).toBe(map.get(someKey!));
      cache.clear();
      map.clear();
      expect(cache.find('a', ValueCache.hash('a'))).toBe(-1);
    }
  });

  it('tells apart values with one hash, and refuses an entry beyond its words', () => {
    const cache = new ValueCache(BITS_WORDS);
    // Every value under one hash: found only by comparing the values themselves.
    const values = ['', 'a', 'ab', 'ba', 'abc', 'a\u0000', '\u0000a', 'abcd'];
    for (const [i, v] of values.entries()) mark(cache, cache.add(v, 7, 1024), 100 * i);
    for (const [i, v] of values.entries()) expect(marked(cache, cache.find(v, 7))[0]).toBe(100 * i);
    expect(cache.find('abcde', 7)).toBe(-1);
    const full = new ValueCache(BITS_WORDS);
    expect(full.add('abc', 9, full.entryWords(3) - 1)).toBe(-1);
    expect(full.add('abc', 9, full.entryWords(3))).toBeGreaterThanOrEqual(0);
  });
});
