import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../common/seeded-random.js';
import { ValueTable } from '../../../engine/clk/value-table.js';

describe('ValueTable', () => {
  it('finds what a Map would, across growth and clears, comparing whole strings', () => {
    const r = seededRandom(9);
    const table = new ValueTable(4);
    const map = new Map<string, number>();
    const alphabet = ['a', 'b', 'é', '李', '😀', ' ', ''];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 30_000; i++) {
        let key = '';
        const n = Math.floor(r() * 6);
        for (let j = 0; j < n; j++) key += alphabet[Math.floor(r() * alphabet.length)];
        if (map.has(key)) {
          expect(table.get(key)).toBe(map.get(key));
        } else {
          expect(table.get(key)).toBe(-1);
          const value = Math.floor(r() * 2 ** 31);
          table.add(key, value);
          map.set(key, value);
        }
      }
      expect(table.size).toBe(map.size);
      for (const [k, v] of map) expect(table.get(k)).toBe(v);
      // A fresh string equal to a key (not the same object) is found.
      const [someKey] = map.keys();
      expect(table.get(` ${someKey}`.slice(1))).toBe(map.get(someKey!));
      table.clear();
      map.clear();
      expect(table.get('a')).toBe(-1);
    }
  });
});
