import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeCache } from '../../audit/node-cache.js';

const KIB = 1024;
/** A distinct, recognisable 32-byte value per node. */
const hashOf = (level: number, index: number) =>
  new Uint8Array(createHash('sha256').update(`${level}/${index}`).digest());
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'absent');

describe('NodeCache', () => {
  it('holds what it was given and nothing else, across chunk boundaries', () => {
    const cache = new NodeCache(1 << 20);
    cache.growTo(2000);
    for (const index of [0, 1, 255, 256, 257, 1023, 1999]) cache.set(0, index, hashOf(0, index));
    for (const index of [0, 1, 255, 256, 257, 1023, 1999]) expect(hex(cache.get(0, index))).toBe(hex(hashOf(0, index)));
    for (const index of [2, 254, 258, 1024, 1998]) expect(cache.get(0, index)).toBeUndefined();
    expect(cache.get(1, 0)).toBeUndefined();
    // Chunks of 256 nodes: indices 0..255, 256..511, 768..1023, 1792..2047 → 4 chunks of 8 KiB.
    expect(cache.bytes).toBe(4 * 8 * KIB);
  });

  it('setRun writes a run that starts and ends mid-chunk', () => {
    const cache = new NodeCache(1 << 20);
    cache.growTo(4096);
    const first = 200;
    const count = 700;
    const run = new Uint8Array(count * 32);
    for (let i = 0; i < count; i++) run.set(hashOf(3, first + i), i * 32);
    cache.setRun(3, first, run);
    expect(cache.get(3, first - 1)).toBeUndefined();
    expect(cache.get(3, first + count)).toBeUndefined();
    for (let i = 0; i < count; i++) expect(hex(cache.get(3, first + i))).toBe(hex(hashOf(3, first + i)));
  });

  it('keeps whole levels from the top down within the byte budget, and drops the lowest as the tree grows', () => {
    // 4096 leaves: level 0 = 16 chunks, level 1 = 8, level 2 = 4, level 3 = 2,
    // levels 4..12 = 1 each (9): 39 chunks in all, 23 from level 1 up.
    const cache = new NodeCache(23 * 8 * KIB);
    cache.growTo(4096);
    expect(cache.lowestLevel).toBe(1);
    expect(cache.holds(0)).toBe(false);
    cache.set(0, 5, hashOf(0, 5));
    expect(cache.get(0, 5)).toBeUndefined();
    cache.set(1, 5, hashOf(1, 5));
    cache.set(2, 5, hashOf(2, 5));
    expect(hex(cache.get(1, 5))).toBe(hex(hashOf(1, 5)));
    // At 8192 leaves level 1 alone needs 16 chunks: the floor moves up and level 1 is dropped.
    cache.growTo(8192);
    expect(cache.lowestLevel).toBe(2);
    expect(cache.get(1, 5)).toBeUndefined();
    expect(hex(cache.get(2, 5))).toBe(hex(hashOf(2, 5)));
    // A smaller size never lowers the floor again (the tree only grows).
    cache.growTo(100);
    expect(cache.lowestLevel).toBe(2);
  });

  it('a budget of 0 (or below one chunk) holds nothing', () => {
    for (const budget of [0, 8 * KIB - 1]) {
      const cache = new NodeCache(budget);
      cache.growTo(10);
      cache.set(3, 0, hashOf(3, 0));
      expect(cache.get(3, 0)).toBeUndefined();
      expect(cache.lowestLevel).toBe(Infinity);
      expect(cache.bytes).toBe(0);
    }
    expect(() => new NodeCache(-1)).toThrow(RangeError);
    expect(() => new NodeCache(1.5)).toThrow(RangeError);
  });

  it('ignores values that are not 32 bytes', () => {
    const cache = new NodeCache(1 << 20);
    cache.growTo(16);
    cache.set(0, 1, new Uint8Array(31));
    expect(cache.get(0, 1)).toBeUndefined();
  });
});
