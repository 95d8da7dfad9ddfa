import { describe, expect, it } from 'vitest';
import { TtlLru } from '../../cache/ttl-lru.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TtlLru', () => {
  it('evicts the least recently used entry when over the entry bound', () => {
    const c = clock();
    const lru = new TtlLru<string>({ maxEntries: 3, maxBytes: 1e9, now: c.now });
    for (const k of ['a', 'b', 'c']) lru.set(k, k.toUpperCase(), c.now() + 1000, 1);
    expect(lru.get('a')).toBe('A'); // a is now most recent; b is the oldest
    lru.set('d', 'D', c.now() + 1000, 1);
    expect(lru.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((k) => lru.get(k))).toEqual(['A', 'C', 'D']);
    expect(lru.size).toBe(3);
  });

  it('evicts by summed size and refuses a value larger than the whole budget', () => {
    const c = clock();
    const lru = new TtlLru<string>({ maxEntries: 100, maxBytes: 10, now: c.now });
    lru.set('a', 'x', c.now() + 1000, 4);
    lru.set('b', 'x', c.now() + 1000, 4);
    lru.set('c', 'x', c.now() + 1000, 4); // 12 > 10: a goes
    expect(lru.has('a')).toBe(false);
    expect(lru.totalBytes).toBe(8);
    lru.set('b', 'y', c.now() + 1000, 11);
    expect(lru.has('b')).toBe(false); // replaced by nothing, not kept stale
    expect(lru.totalBytes).toBe(4);
  });

  it('expires entries at their deadline and frees their bytes', () => {
    const c = clock();
    const lru = new TtlLru<string>({ maxEntries: 10, maxBytes: 100, now: c.now });
    lru.set('a', 'A', c.now() + 500, 5);
    c.advance(499);
    expect(lru.get('a')).toBe('A');
    c.advance(1);
    expect(lru.get('a')).toBeUndefined();
    expect(lru.size).toBe(0);
    expect(lru.totalBytes).toBe(0);
    lru.set('dead', 'D', c.now(), 1);
    expect(lru.has('dead')).toBe(false);
  });

  it('deletes by predicate and keeps byte accounting exact', () => {
    const c = clock();
    const lru = new TtlLru<number>({ maxEntries: 100, maxBytes: 1000, now: c.now });
    for (let i = 0; i < 20; i++) lru.set(`k${i}`, i, c.now() + 1000, 3);
    expect(lru.deleteWhere((k) => Number(k.slice(1)) % 2 === 0)).toBe(10);
    expect(lru.size).toBe(10);
    expect(lru.totalBytes).toBe(30);
    expect(lru.get('k3')).toBe(3);
    expect(lru.get('k4')).toBeUndefined();
  });
});
