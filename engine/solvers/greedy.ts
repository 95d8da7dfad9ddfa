/**
 * Greedy 1:1 solution of a set of candidate pairs, as anonlink's
 * `greedy_solve` defines it: visit pairs from the most to the least similar
 * (ties: lower query index, then lower dataset index, so the result is
 * deterministic) and keep a pair when neither its query nor its dataset
 * record has been taken by an earlier pair.
 */
export interface ScoredPair {
  query: number;
  index: number;
  score: number;
}

export function greedySolve<P extends ScoredPair>(pairs: readonly P[]): P[] {
  const order = [...pairs].sort((a, b) => b.score - a.score || a.query - b.query || a.index - b.index);
  const queries = new Set<number>();
  const records = new Set<number>();
  const out: P[] = [];
  for (const p of order) {
    if (queries.has(p.query) || records.has(p.index)) continue;
    queries.add(p.query);
    records.add(p.index);
    out.push(p);
  }
  return out;
}
