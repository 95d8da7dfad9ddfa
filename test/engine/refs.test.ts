/**
 * Packed record references (engine/refs.ts) read back exactly what was pushed: ASCII, multi-byte UTF-8 that
 * shares part of a character with the ref before, prefixes longer than a shared-length byte, empty strings,
 * every position in a front-coded block, past the builder's first guess of room.
 */
import { describe, expect, it } from 'vitest';
import { PackedRefs, PackedRefsBuilder } from '../../engine/refs.js';

const all = (p: PackedRefs) => Array.from({ length: p.length }, (_, i) => p.at(i));

describe('PackedRefs', () => {
  it('round-trips every ref in order, whatever its text', () => {
    const refs = ['', 'r0', 'élève-42', 'élèvé-43', '漢字の参照', '漢字の参考', '🦊🦊', '🦊🦁', 'x'.repeat(5000)];
    refs.push(`${'x'.repeat(5000)}y`, '', 'tail', 'tail', 'tai', 'aé', 'aè', 'a', 'ab', 'abc');
    const packed = PackedRefs.from(refs);
    expect(packed.length).toBe(refs.length);
    expect(all(packed)).toEqual(refs);
    expect(packed.at(-1)).toBe('abc');
    // decoding in any order gives the same (the decoder keeps no state between calls that matters)
    for (const i of [17, 3, 9, 0, 16, 15, 1]) expect(packed.at(i)).toBe(refs[i]);
  });

  it('stores alike ids in a fraction of their text, and grows past the expected count', () => {
    const b = new PackedRefsBuilder(1);
    const refs = Array.from({ length: 10_000 }, (_, i) => `dp-record-${i}-${'ü'.repeat(i % 7)}`);
    b.pushAll(refs);
    expect(b.length).toBe(10_000);
    const packed = b.finish();
    expect(all(packed)).toEqual(refs);
    const alike = Array.from({ length: 10_000 }, (_, i) => `dp-record-${i}`);
    const text = alike.reduce((n, r) => n + Buffer.byteLength(r), 0);
    expect(PackedRefs.from(alike).byteLength).toBeLessThan((text + 4 * alike.length) / 2);
  });

  it('refs unlike each other (random ids) round-trip too', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      return seed;
    };
    const refs = Array.from(
      { length: 3000 },
      () => rand().toString(36) + String.fromCodePoint(0x4e00 + (rand() % 500)),
    );
    expect(all(PackedRefs.from(refs))).toEqual(refs);
  });

  it('answers undefined outside the list and refuses non-strings', () => {
    const packed = PackedRefs.from(['a', 'b']);
    for (const i of [2, -3, 0.5, Number.NaN]) expect(packed.at(i)).toBeUndefined();
    expect(() => new PackedRefsBuilder().push(3 as never)).toThrow(
      expect.objectContaining({ code: 'DATASET_INVALID' }),
    );
  });
});
