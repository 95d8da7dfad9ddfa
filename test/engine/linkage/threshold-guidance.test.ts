/**
 * Threshold guidance against the truth of the seeded generator
 * (demo/population): the estimated precision and recall of the links (each
 * query's best candidate) are within 0.05 of the true ones at every
 * threshold from the floor to 0.99, and from 0.85 on those of the greedy 1:1
 * solution too.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../../common/paths.js';
import { Population } from '../../../demo/population/generator.js';
import { createEngine, type Engine } from '../../../engine/index.js';
import {
  estimateThresholds,
  linksAndStrangers,
  sampleIndices,
  thresholdGuidance,
} from '../../../engine/linkage/threshold-guidance.js';
import { greedySolve } from '../../../engine/solvers/greedy.js';

const schema = JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'clkhash', 'febrl_schema_v3_final.json'), 'utf8'));

describe('threshold guidance', () => {
  let engine: Engine;
  const n = 5000;
  const pop = new Population({ seed: 4, parties: 2, size: n, overlap: 0.5 });
  let queries: Uint8Array;
  beforeAll(async () => {
    engine = await createEngine({ threads: 2 });
    const dataset = await engine.encode(schema, 'guidance-test', pop.records(0));
    queries = await engine.encode(schema, 'guidance-test', pop.records(1));
    await engine.loadDataset('people', { refs: pop.records(0).map((r) => r[0]!), clks: dataset, filterBits: 1024 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it("estimates the links' precision and recall within 0.05 of the truth", async () => {
    const g = await estimateThresholds(engine, 'people', queries, {
      filterBits: 1024,
      floor: 0.7,
      sample: 2000,
      policyMinimum: 0.9,
    });
    const { pairs } = await engine.link('people', queries, { threshold: 0.7, topK: 1 });
    const solution = greedySolve((await engine.link('people', queries, { threshold: 0.7, topK: 2 })).pairs);
    const truth = new Set(pop.truePairs(0, 1).map(([i, j]) => `${j},${i}`));
    const check = (links: { query: number; index: number; score: number }[], from: number) => {
      let checked = 0;
      for (const point of g.curve) {
        if (point.threshold > 0.99 || point.threshold < from - 1e-9) continue;
        const above = links.filter((p) => p.score >= point.threshold);
        const tp = above.filter((p) => truth.has(`${p.query},${p.index}`)).length;
        expect(Math.abs(point.precision - tp / above.length)).toBeLessThanOrEqual(0.05);
        expect(Math.abs(point.recall - tp / truth.size)).toBeLessThanOrEqual(0.05);
        checked++;
      }
      return checked;
    };
    expect(check(pairs, 0.7)).toBe(30);
    expect(check(solution, 0.85)).toBe(15);
    expect(g.model.converged).toBe(true);
    // the policy's floor is respected, and its cost reported
    expect(g.suggested.threshold).toBeGreaterThanOrEqual(0.9);
    expect(g.atPolicyMinimum!.threshold).toBe(0.9);
    expect(g.histogram.links.reduce((s, c) => s + c, 0)).toBe(2000);
  });

  it('samples deterministically, without repeats', () => {
    const a = sampleIndices(1_000_000, 5000, 3);
    expect(a).toEqual(sampleIndices(1_000_000, 5000, 3));
    expect(new Set(a).size).toBe(5000);
    expect(a.every((x, i) => i === 0 || x > a[i - 1]!)).toBe(true);
    expect(sampleIndices(10, 50)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses to guess from too few scores', () => {
    const { links, strangers } = linksAndStrangers(
      [
        { query: 0, index: 0, score: 0.99 },
        { query: 0, index: 1, score: 0.8 },
      ],
      0.95,
    );
    expect(links).toEqual([0.99]);
    expect(strangers).toEqual([0.8]);
    expect(() => thresholdGuidance(links, strangers, { floor: 0.7 })).toThrow(
      expect.objectContaining({ code: 'GUIDANCE_TOO_FEW_SCORES' }),
    );
    expect(() => thresholdGuidance(links, strangers, { floor: 1 })).toThrow(
      expect.objectContaining({ code: 'GUIDANCE_INVALID' }),
    );
  });
});
