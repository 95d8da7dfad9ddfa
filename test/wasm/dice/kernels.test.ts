/**
 * Differential tests: both Dice builds, loaded explicitly, against the plain
 * TypeScript reference (wasm/reference/dice.ts) on seeded random and
 * adversarial inputs. Equality is exact, scores included: the kernels must
 * reproduce anonlink's float64 2c/(pa+pb) bit for bit.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../../common/bytes.js';
import { fromRoot } from '../../../common/paths.js';
import {
  type DiceKernelKind,
  TILE_LANES,
  tileBytes,
  tiledScratchBytes,
  wasmSimdSupported,
} from '../../../wasm/dice.js';
import {
  dice,
  type Pair,
  pairsReference,
  popcountAnd,
  popcountFilter,
  topKReference,
} from '../../../wasm/reference/dice.js';
import { KernelHarness, perturb, randomFilter, randomFilters, rng } from './harness.js';

const LENGTHS = [64, 128, 512, 1024, 2048, 4096];
// randomFilter rounds densities to 1/16
const DENSITIES = [0, 1 / 16, 5 / 16, 8 / 16, 11 / 16, 1];
const kinds: DiceKernelKind[] = wasmSimdSupported() ? ['simd', 'scalar'] : ['scalar'];

/** Queries: some drawn fresh, some near copies of base filters so high scores occur. */
function workload(seed: number, bits: number, baseCount: number, queryCount: number) {
  const rand = rng(seed);
  const bytes = bits / 8;
  const base = randomFilters(rand, baseCount, bytes, DENSITIES.slice(1, 5));
  const queries = Array.from({ length: queryCount }, (_, i) =>
    i % 2 === 0
      ? perturb(rand, base[Math.floor(rand() * baseCount)]!, Math.floor(rand() * bits * 0.2))
      : randomFilter(rand, bytes, DENSITIES[1 + (i % 4)]!),
  );
  return { base, queries };
}

it('the scalar build contains no SIMD instruction and the SIMD build does', () => {
  const scalar = readFileSync(fromRoot('wasm', 'build', 'dice-scalar.wat'), 'utf8');
  const simd = readFileSync(fromRoot('wasm', 'build', 'dice-simd.wat'), 'utf8');
  expect(scalar).not.toMatch(/v128|i8x16|i16x8|i32x4/);
  expect(simd).toMatch(/v128\.and/);
  // shared memory imported, no data segments (docs/decisions.md: no static data on shared memory)
  for (const wat of [scalar, simd]) {
    expect(wat).toMatch(/\(import "env" "memory" \(memory \$0 1 65536 shared\)\)/);
    expect(wat).not.toMatch(/\(data /);
  }
});

describe.each(kinds)('%s build', (kind) => {
  const h = new KernelHarness(kind);

  it('popcounts and popcount(a & b) equal the reference at every length', () => {
    const rand = rng(1);
    for (const bits of LENGTHS) {
      const filters = randomFilters(rand, 37, bits / 8, DENSITIES);
      expect(h.popcounts(filters)).toEqual(filters.map(popcountFilter));
      for (let i = 0; i + 1 < filters.length; i += 3)
        expect(h.countAnd(filters[i]!, filters[i + 1]!)).toBe(popcountAnd(filters[i]!, filters[i + 1]!));
    }
  });

  it.each(LENGTHS)('1:N top-k equals the reference for %i-bit filters', (bits) => {
    // base sizes cross tile boundaries (512 filters) and leave a part-filled last tile
    const baseCount = bits <= 512 ? 2051 : 1031;
    const { base, queries } = workload(bits, bits, baseCount, 21);
    for (const [threshold, k] of [
      [0.5, 5],
      [0.8, 3],
      [0, 1],
      [0.3, 40],
    ] as const) {
      const got = h.topK(queries, base, threshold, k);
      queries.forEach((q, i) => {
        expect(got[i], `query ${i} t=${threshold} k=${k}`).toEqual(topKReference(q, base, threshold, k));
      });
    }
  });

  it.each(LENGTHS)('N:M pairs equal the reference (anonlink order) for %i-bit filters', (bits) => {
    const { base, queries } = workload(1000 + bits, bits, bits <= 512 ? 2049 : 517, 19);
    for (const threshold of [0.45, 0.7, 0.9]) {
      const got = h.pairs(queries, base, threshold).pairs;
      expect(got).toEqual(pairsReference(queries, base, threshold));
    }
  });

  it('N:M resumes across a full output area without losing or repeating pairs', () => {
    const rand = rng(7);
    const base = randomFilters(rand, 4099, 8, [0.5]);
    const queries = randomFilters(rand, 33, 8, [0.5]);
    // threshold 0: every one of 33 × 4099 pairs is reported; an output area of 1,000 entries fills at least
    // four times per query, so the scan must resume mid-tile
    const { pairs, calls } = h.pairs(queries, base, 0, 1000);
    expect(calls).toBeGreaterThanOrEqual(33 * 5);
    expect(pairs.length).toBe(33 * 4099);
    expect(pairs).toEqual(pairsReference(queries, base, 0));
  });

  it.each(LENGTHS)('tiled 1:N top-k equals the reference for %i-bit filters, at every density', (bits) => {
    // Densities from empty to full (the kernel counts the query's ones, or its zeros when fewer), near
    // matches around each threshold, base sizes that leave a part-filled last tile, ranges cut mid-tile.
    const rand = rng(5000 + bits);
    const bytes = bits / 8;
    for (const density of [1 / 16, 4 / 16, 8 / 16, 11 / 16, 15 / 16, 1]) {
      const base = randomFilters(rand, 1613, bytes, [density, density, DENSITIES[1 + Math.floor(rand() * 4)]!]);
      const queries = [
        ...Array.from({ length: 4 }, () =>
          perturb(rand, base[Math.floor(rand() * base.length)]!, Math.floor(rand() * bits * 0.15)),
        ),
        randomFilter(rand, bytes, density),
        new Uint8Array(bytes),
        new Uint8Array(bytes).fill(255),
      ];
      for (const [threshold, k] of [
        [0.85, 2],
        [0.5, 10],
        [0.3, 1613],
        [0, 3],
        [1, 5],
      ] as const) {
        const expected = queries.map((q) => topKReference(q, base, threshold, k));
        const what = `density ${density} t=${threshold} k=${k}`;
        expect(h.topK(queries, base, threshold, k), what).toEqual(expected);
        expect(h.topK(queries, base, threshold, k, 97), what).toEqual(expected);
      }
    }
  });

  it.each(LENGTHS)('tiled N:M pairs equal the reference for %i-bit filters, resuming across a full output', (bits) => {
    const { base, queries } = workload(3000 + bits, bits, bits <= 512 ? 2049 : 517, 9);
    for (const threshold of [0.45, 0.7, 0.9])
      expect(h.pairs(queries, base, threshold, 1 << 16).pairs).toEqual(pairsReference(queries, base, threshold));
    // threshold 0: every pair is reported; an output area of 100 entries fills many times mid-tile
    const few = queries.slice(0, 3);
    const { pairs, calls } = h.pairs(few, base, 0, 100);
    expect(calls).toBeGreaterThan((few.length * base.length) / 100);
    expect(pairs).toEqual(pairsReference(few, base, 0));
  });

  it('a counting chunk boundary: 4096-bit queries with more than 1,023 planes to count', () => {
    const rand = rng(4096);
    const base = randomFilters(rand, 700, 512, [8 / 16, 9 / 16]);
    const queries = [perturb(rand, base[3]!, 300), randomFilter(rand, 512, 8 / 16), randomFilter(rand, 512, 7 / 16)];
    for (const threshold of [0.6, 0.45, 0])
      expect(h.topK(queries, base, threshold, 7)).toEqual(queries.map((q) => topKReference(q, base, threshold, 7)));
  });

  it('untileFilters gives back the rows tileFilters took, for any range', () => {
    const rand = rng(31);
    for (const bits of [64, 1024, 2048]) {
      const base = randomFilters(rand, 1100, bits / 8, [3 / 16, 11 / 16]);
      for (const [first, count] of [
        [0, 1100],
        [0, 1],
        [3, 17],
        [505, 30],
        [1024, 76],
        [1099, 1],
      ] as const) {
        const rows = concatBytes(base.slice(first, first + count));
        expect(h.untiled(base, first, count), `${bits} bits [${first}, +${count})`).toEqual(rows);
      }
    }
  });

  it("the sizes wasm/dice.ts mirrors equal the kernel's", () => {
    for (const bytes of [8, 128, 256, 2048]) {
      expect(h.sizes(bytes)).toEqual({ tileBytes: tileBytes(bytes), scratchBytes: tiledScratchBytes(bytes) });
      expect(tileBytes(bytes)).toBe(TILE_LANES * bytes);
    }
  });

  it('top-k heaps persist across calls scanning sub-ranges', () => {
    const { base, queries } = workload(99, 1024, 777, 5);
    const whole = h.topK(queries, base, 0.4, 7);
    expect(h.topK(queries, base, 0.4, 7, 50)).toEqual(whole);
    expect(h.topK(queries, base, 0.4, 7, 3)).toEqual(whole);
  });

  it('handles empty, full and identical filters, thresholds 0 and 1', () => {
    for (const bits of [64, 1024, 4096]) {
      const bytes = bits / 8;
      const rand = rng(bits);
      const empty = new Uint8Array(bytes);
      const full = new Uint8Array(bytes).fill(255);
      const r = randomFilter(rand, bytes, 0.5);
      const base = [empty, full, r, r.slice(), empty.slice(), randomFilter(rand, bytes, 0.5), full.slice()];
      const queries = [empty, full, r];
      for (const t of [0, 1, 0.5, 1e-9]) {
        expect(h.pairs(queries, base, t).pairs, `bits ${bits} t ${t}`).toEqual(pairsReference(queries, base, t));
        const top = h.topK(queries, base, t, base.length);
        queries.forEach((q, i) => {
          expect(top[i]).toEqual(topKReference(q, base, t, base.length));
        });
      }
      // anonlink's definition: both empty -> 0, reported at threshold 0 only
      expect(h.pairs([empty], [empty], 0).pairs).toEqual([{ query: 0, index: 0, score: 0 }]);
      expect(h.pairs([empty], [empty], 1e-9).pairs).toEqual([]);
      // identical non-empty filters score exactly 1 and pass threshold 1
      expect(h.pairs([r], [r.slice(), full], 1).pairs).toEqual([{ query: 0, index: 0, score: 1 }]);
    }
  });

  it('a threshold exactly at a score includes it; the next float above excludes it', () => {
    const rand = rng(5);
    const base = randomFilters(rand, 64, 128, [0.3, 0.5]);
    const q = perturb(rand, base[10]!, 100);
    for (const j of [10, 3, 40]) {
      const s = dice(q, base[j]!);
      const above = nextUp(s);
      const at = h.topK([q], base, s, 64)[0]!;
      expect(at.some((c) => c.index === j)).toBe(true);
      expect(at).toEqual(topKReference(q, base, s, 64));
      const over = h.topK([q], base, above, 64)[0]!;
      expect(over.some((c) => c.index === j)).toBe(false);
      expect(over).toEqual(topKReference(q, base, above, 64));
      expect(h.pairs([q], base, s).pairs).toEqual(pairsReference([q], base, s));
      expect(h.pairs([q], base, above).pairs).toEqual(pairsReference([q], base, above));
    }
    // thresholds on the 1/65536 grid the integer test is written in
    for (const t of [0.5, 0.75, 40000 / 65536, 2 / 3]) {
      expect(h.pairs([q], base, t).pairs).toEqual(pairsReference([q], base, t));
    }
  });

  it('scores exactly on t16 grid boundaries (2c/s = m/65536) are decided like the float test', () => {
    // pa + pb = 512, c = 128: score 0.5 = 32768/65536 exactly
    const a = new Uint8Array(128);
    const b = new Uint8Array(128);
    a.fill(255, 0, 32); // 256 bits
    b.fill(255, 16, 48); // 256 bits, 128 shared
    expect(dice(a, b)).toBe(0.5);
    expect(h.pairs([a], [b], 0.5).pairs).toEqual([{ query: 0, index: 0, score: 0.5 }]);
    expect(h.pairs([a], [b], nextUp(0.5)).pairs).toEqual([]);
    expect(h.pairs([a], [b], 0.5 - 1 / 65536).pairs.length).toBe(1);
  });

  it('top-k ties keep the lowest base indices, as anonlink does', () => {
    const rand = rng(11);
    const q = randomFilter(rand, 128, 0.5);
    const twin = perturb(rand, q, 30);
    // 40 identical candidates, interleaved with noise, spread across tiles
    const base: Uint8Array[] = [];
    for (let i = 0; i < 2600; i++) base.push(i % 61 === 5 ? twin.slice() : randomFilter(rand, 128, 0.5));
    for (const k of [1, 3, 10]) {
      const got = h.topK([q], base, 0.6, k)[0]!;
      expect(got).toEqual(topKReference(q, base, 0.6, k));
      expect(got.map((c) => c.index)).toEqual(Array.from({ length: k }, (_, i) => 5 + 61 * i));
    }
    const pairs = h.pairs([q, q.slice()], base, 0.6).pairs;
    expect(pairs).toEqual(pairsReference([q, q.slice()], base, 0.6));
    assertAnonlinkOrder(pairs);
  });

  it('the popcount bound never skips a pair that passes (filters of very different density)', () => {
    const rand = rng(13);
    const base = randomFilters(rand, 1500, 128, [1 / 16, 2 / 16, 5 / 16, 10 / 16, 14 / 16, 15 / 16]);
    const queries = randomFilters(rand, 12, 128, [1 / 16, 2 / 16, 5 / 16, 10 / 16, 14 / 16, 15 / 16]);
    for (const t of [0.05, 0.2, 0.33, 0.5, 0.66])
      expect(h.pairs(queries, base, t).pairs).toEqual(pairsReference(queries, base, t));
  });
});

function assertAnonlinkOrder(pairs: Pair[]): void {
  for (let i = 1; i < pairs.length; i++) {
    const a = pairs[i - 1]!;
    const b = pairs[i]!;
    const ok =
      a.score > b.score || (a.score === b.score && (a.query < b.query || (a.query === b.query && a.index < b.index)));
    expect(ok, `pairs ${i - 1} and ${i} out of order`).toBe(true);
  }
}

/** The smallest float64 greater than x (x > 0). */
function nextUp(x: number): number {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  buf.setBigUint64(0, buf.getBigUint64(0) + 1n);
  return buf.getFloat64(0);
}
