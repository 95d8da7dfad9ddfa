/**
 * Packed record references (engine/refs.ts) read back exactly what was pushed: ASCII, multi-byte UTF-8,
 * lone surrogates' replacement, empty strings, past the builder's first guess of room.
 */
import { describe, expect, it } from 'vitest';
import { PackedRefs, PackedRefsBuilder } from '../../engine/refs.js';

describe('PackedRefs', () => {
  it('round-trips every ref in order, whatever its text', () => {
    const refs = ['', 'r0', 'élève-42', '漢字の参照', '🦊🦊', 'x'.repeat(5000), '', 'tail'];
    const packed = PackedRefs.from(refs);
    expect(packed.length).toBe(refs.length);
    expect(Array.from({ length: refs.length }, (_, i) => packed.at(i))).toEqual(refs);
    expect(packed.at(-1)).toBe('tail');
  });

  it('grows past the expected count and text size', () => {
    const b = new PackedRefsBuilder(1);
    const refs = Array.from({ length: 10_000 }, (_, i) => `dp-record-${i}-${'ü'.repeat(i % 7)}`);
    b.pushAll(refs);
    expect(b.length).toBe(10_000);
    const packed = b.finish();
    for (const i of [0, 1, 17, 4095, 9999]) expect(packed.at(i)).toBe(refs[i]);
    // text trimmed to what was written: UTF-8 bytes of every ref plus 4 bytes of offset each
    const text = refs.reduce((n, r) => n + Buffer.byteLength(r), 0);
    expect(packed.byteLength).toBe(text + 4 * refs.length);
  });

  it('answers undefined outside the list and refuses non-strings', () => {
    const packed = PackedRefs.from(['a', 'b']);
    for (const i of [2, -3, 0.5, Number.NaN]) expect(packed.at(i)).toBeUndefined();
    expect(() => new PackedRefsBuilder().push(3 as never)).toThrow(
      expect.objectContaining({ code: 'DATASET_INVALID' }),
    );
  });
});
