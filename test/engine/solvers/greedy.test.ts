/** The greedy 1:1 solution (engine/solvers/greedy.ts) against a brute-force reference. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../demo/people.js';
import { greedySolve, type ScoredPair } from '../../../engine/solvers/greedy.js';

describe('greedy 1:1 solution', () => {
  /** Reference: repeatedly take the globally best remaining pair whose sides are both free. */
  function reference(pairs: ScoredPair[]): ScoredPair[] {
    const left = [...pairs];
    const out: ScoredPair[] = [];
    const q = new Set<number>();
    const r = new Set<number>();
    for (;;) {
      let best: ScoredPair | undefined;
      for (const p of left) {
        if (q.has(p.query) || r.has(p.index)) continue;
        if (
          !best ||
          p.score > best.score ||
          (p.score === best.score && (p.query < best.query || (p.query === best.query && p.index < best.index)))
        )
          best = p;
      }
      if (!best) return out;
      out.push(best);
      q.add(best.query);
      r.add(best.index);
    }
  }
  it('agrees with the brute-force reference on random pair sets', () => {
    const rnd = seededRandom(42);
    for (let trial = 0; trial < 50; trial++) {
      const pairs: ScoredPair[] = [];
      for (let k = 0; k < 60; k++)
        pairs.push({
          query: Math.floor(rnd() * 15),
          index: Math.floor(rnd() * 15),
          score: Math.round(rnd() * 20) / 20,
        });
      const g = greedySolve(pairs);
      expect(g).toEqual(reference(pairs));
      expect(new Set(g.map((p) => p.query)).size).toBe(g.length);
      expect(new Set(g.map((p) => p.index)).size).toBe(g.length);
    }
  });
  it('known answer', () => {
    const pairs = [
      { query: 0, index: 0, score: 0.9 },
      { query: 0, index: 1, score: 0.95 },
      { query: 1, index: 1, score: 0.97 },
      { query: 1, index: 0, score: 0.5 },
    ];
    expect(greedySolve(pairs)).toEqual([pairs[2], pairs[0]]);
  });
});
