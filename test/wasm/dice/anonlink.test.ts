/**
 * Known-answer test against anonlink 0.15.3 itself: the fixture holds
 * anonlink's results on seeded random filters (see test/fixtures/dice/README.md for how
 * it was generated). The reference and both builds must reproduce them
 * exactly: same pairs, same float64 scores, same order.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type DiceKernelKind, wasmSimdSupported } from '../../../wasm/dice.js';
import { comparePairs, type Pair, pairsReference } from '../../../wasm/reference/dice.js';
import { KernelHarness } from './harness.js';

interface Fixture {
  anonlink: string;
  filterBits: number;
  queries: string[];
  base: string[];
  cases: {
    threshold: number;
    k: number | null;
    pairs: [number, number, number][];
    pythonImplementationAgrees: boolean;
  }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/dice/anonlink-dice.json', import.meta.url), 'utf8'),
) as Fixture;
const decode = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, 'base64'));
const queries = fixture.queries.map(decode);
const base = fixture.base.map(decode);
const expected = (c: Fixture['cases'][number]): Pair[] =>
  c.pairs.map(([score, query, index]) => ({ query, index, score }));

it('fixture is anonlink 0.15.3 output over 1024-bit filters', () => {
  expect(fixture.anonlink).toBe('0.15.3');
  expect(queries.every((q) => q.length * 8 === fixture.filterBits)).toBe(true);
  expect(fixture.cases.every((c) => c.pairs.length > 0)).toBe(true);
});

describe.each(fixture.cases.map((c) => [`t=${c.threshold} k=${c.k ?? 'all'}`, c] as const))(
  'anonlink case %s',
  (_name, c) => {
    const k = c.k ?? undefined;

    it('TypeScript reference matches anonlink', () => {
      expect(pairsReference(queries, base, c.threshold, k)).toEqual(expected(c));
    });

    const kinds: DiceKernelKind[] = wasmSimdSupported() ? ['simd', 'scalar'] : ['scalar'];
    it.each(kinds)('%s build matches anonlink', (kind) => {
      const h = new KernelHarness(kind);
      let got: Pair[];
      if (k === undefined) {
        got = h.pairs(queries, base, c.threshold).pairs;
      } else {
        got = h
          .topK(queries, base, c.threshold, k)
          .flatMap((list, query) => list.map((x) => ({ query, index: x.index, score: x.score })));
        got.sort(comparePairs);
      }
      expect(got).toEqual(expected(c));
    });
  },
);
