import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../common/seeded-random.js';
import { GramTable } from '../../../engine/clk/gram-table.js';

describe('GramTable', () => {
  it('stores and finds what a Map would, across growth, overwrites and clears', () => {
    const r = seededRandom(5);
    const table = new GramTable(4);
    const map = new Map<number, number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20_000; i++) {
        // Bigram-like keys (high and low half from a small alphabet), the extremes, and random ones.
        const key =
          i % 3 === 0
            ? (((0x20 + Math.floor(r() * 40)) << 16) | (0x20 + Math.floor(r() * 40))) >>> 0
            : i % 3 === 1
              ? Math.floor(r() * 2 ** 32)
              : [0, 1, 2 ** 32 - 1, 2 ** 31, 2 ** 31 - 1][i % 5]!;
        const value = Math.floor(r() * 2 ** 52);
        table.set(key, value);
        map.set(key, value);
      }
      expect(table.size).toBe(map.size);
      for (const [k, v] of map) expect(table.get(k)).toBe(v);
      expect(table.get(0x7a7a7a7a)).toBe(map.get(0x7a7a7a7a) ?? -1);
      table.clear();
      map.clear();
      expect(table.size).toBe(0);
      expect(table.get(0)).toBe(-1);
    }
  });
});
