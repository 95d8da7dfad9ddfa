/**
 * The order of results the kernels and the engine promise: anonlink's. The kernels (wasm/assembly/dice.ts), their
 * plain TypeScript reference (wasm/reference/dice.ts) and the engine's merging of worker slices all
 * follow it, so equal inputs give byte-identical outputs whatever the number of workers.
 */
export interface Candidate {
  index: number;
  score: number;
}

export interface Pair {
  query: number;
  index: number;
  score: number;
}

/** Orders candidates of one query: score descending, then index ascending. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return b.score - a.score || a.index - b.index;
}

/** anonlink's pair order: score descending, then query index, then base index. */
export function comparePairs(a: Pair, b: Pair): number {
  return b.score - a.score || a.query - b.query || a.index - b.index;
}
