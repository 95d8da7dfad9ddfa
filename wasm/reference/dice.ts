/**
 * Plain TypeScript reference for the Dice kernels: the definition the wasm
 * builds are tested against, written for clarity, not speed.
 *
 * Semantics follow anonlink 0.15 (similarities/_dice_python.py):
 * - dice(a, b) = 2·popcount(a & b) / (popcount(a) + popcount(b)) in float64,
 *   0 when both filters are empty;
 * - a pair is a candidate when dice >= threshold;
 * - top-k per query keeps the k best by score descending, ties broken by the
 *   lower base index (anonlink sorts each query's candidates, in index order,
 *   with a stable sort on -score);
 * - all pairs are ordered by score descending, then query index, then base
 *   index (anonlink's final stable mergesort on -score over pairs appended
 *   query by query, base index ascending).
 */
import { type Candidate, compareCandidates, comparePairs, type Pair } from '../ordering.js';

export { type Candidate, compareCandidates, comparePairs, type Pair } from '../ordering.js';

/** Bits set in each byte value. */
const BYTE_POPCOUNT = Uint8Array.from({ length: 256 }, (_, v) => {
  let c = 0;
  for (let x = v; x; x &= x - 1) c++;
  return c;
});

/** popcount of one filter (any byte length). */
export function popcountFilter(filter: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < filter.length; i++) c += BYTE_POPCOUNT[filter[i]!]!;
  return c;
}

/** popcount(a & b) for two filters of the same length. */
export function popcountAnd(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError('filters differ in length');
  let c = 0;
  for (let i = 0; i < a.length; i++) c += BYTE_POPCOUNT[a[i]! & b[i]!]!;
  return c;
}

/** anonlink's score from the three popcounts: float64 2c/(pa+pb), 0 when both are empty. */
export function diceFromCounts(c: number, pa: number, pb: number): number {
  const sum = pa + pb;
  return sum === 0 ? 0 : (2 * c) / sum;
}

/** Dice coefficient as anonlink computes it (float64; 0 when both are empty). */
export function dice(a: Uint8Array, b: Uint8Array): number {
  return diceFromCounts(popcountAnd(a, b), popcountFilter(a), popcountFilter(b));
}

/** Top-k base filters with dice >= threshold for one query (k undefined: all). */
export function topKReference(
  query: Uint8Array,
  base: readonly Uint8Array[],
  threshold: number,
  k?: number,
  basePopcounts?: readonly number[],
): Candidate[] {
  const pops = basePopcounts ?? base.map(popcountFilter);
  const pa = popcountFilter(query);
  const out: Candidate[] = [];
  for (let j = 0; j < base.length; j++) {
    const score = diceFromCounts(popcountAnd(query, base[j]!), pa, pops[j]!);
    if (score >= threshold) out.push({ index: j, score });
  }
  out.sort(compareCandidates);
  return k === undefined ? out : out.slice(0, k);
}

/** N:M pairs with dice >= threshold, optionally top-k per query, in anonlink's order. */
export function pairsReference(
  queries: readonly Uint8Array[],
  base: readonly Uint8Array[],
  threshold: number,
  k?: number,
): Pair[] {
  const out: Pair[] = [];
  const pops = base.map(popcountFilter);
  for (let q = 0; q < queries.length; q++) {
    for (const c of topKReference(queries[q]!, base, threshold, k, pops))
      out.push({ query: q, index: c.index, score: c.score });
  }
  return out.sort(comparePairs);
}

/** Splits concatenated filters into views of `bytes` each. */
export function splitFilters(concatenated: Uint8Array, bytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off + bytes <= concatenated.length; off += bytes) out.push(concatenated.subarray(off, off + bytes));
  return out;
}
