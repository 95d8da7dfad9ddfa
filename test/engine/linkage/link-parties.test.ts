/**
 * Blocked and multi-party linkage on the real pool and wasm kernels, against
 * anonlink 0.15.3 and blocklib 0.1.11 (test/fixtures/linkage/generate.py):
 * candidate pairs of 4 parties with no blocking and with blocklib's
 * lambda-fold blocks, anonlink's multi-party greedy groups, and chunks that
 * merge into the whole result.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatBytes } from '../../../common/bytes.js';
import { fromRoot } from '../../../common/paths.js';
import { parseRecordBlocks } from '../../../engine/blocking/blocks.js';
import { lshConfig, lshPositions, parseLambdaFold } from '../../../engine/blocking/config.js';
import { PythonRandom } from '../../../engine/blocking/python-random.js';
import { createEngine, decodeClkBase64, type Engine } from '../../../engine/index.js';
import { CandidatePairs, mergeCandidatePairs, type PartyPair } from '../../../engine/linkage/link-parties.js';
import { canonicalGroups, multipartyGreedySolve } from '../../../engine/solvers/multiparty-greedy.js';
import { perturb, randomFilters, rng } from '../../wasm/dice/harness.js';

interface Fixture {
  filterBits: number;
  threshold: number;
  parties: string[][];
  candidates: [number, number, number, number, number][];
  groupsNative: [number, number][][];
  groupsPython: [number, number][][];
  lambdaFold: unknown;
  lambdaFoldBlocks: Record<string, string[]>[];
  lambdaFoldCandidates: [number, number, number, number, number][];
}

const fixture = JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'linkage', 'multiparty.json'), 'utf8')) as Fixture;
const parties = fixture.parties.map((clks) => concatBytes(clks.map((c) => decodeClkBase64(c, fixture.filterBits))));
const asTuples = (pairs: CandidatePairs) =>
  pairs.toArray().map((p) => [p.score, p.partyA, p.partyB, p.recordA, p.recordB]);

describe('python-random (blocklib draws its LSH bits with it)', () => {
  it('reproduces CPython 3.11 random.sample(range(n), k) for both of its strategies', () => {
    // python3 -c "import random; random.seed(42); print(random.sample(range(1024), 16), random.sample(range(10), 5))"
    const r = new PythonRandom(42);
    expect(r.sampleRange(1024, 16)).toEqual([
      228, 51, 563, 501, 457, 285, 209, 178, 864, 65, 61, 191, 447, 476, 54, 407,
    ]);
    r.sampleRange(1024, 16);
    expect(r.sampleRange(10, 5)).toEqual([5, 4, 0, 9, 3]);
    // a seed wider than 32 bits is keyed by all its words
    expect(new PythonRandom(2 ** 40 + 7).sampleRange(2048, 3)).toEqual([1949, 1027, 519]);
  });
});

describe.each(['simd', 'scalar'] as const)('linkParties with the %s kernel', (kind) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ threads: 2, simd: kind === 'simd' });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it("finds anonlink's multi-party candidate pairs, in anonlink's order", async () => {
    const r = await engine.linkParties(parties, { filterBits: fixture.filterBits, threshold: fixture.threshold });
    expect(asTuples(r.pairs)).toEqual(fixture.candidates);
    const sizes = parties.map((p) => p.length / 128);
    let full = 0;
    for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) full += sizes[a]! * sizes[b]!;
    expect(r.comparisons).toBe(full);
    expect(r.fullComparisons).toBe(full);
    // parties written straight into the linkage's memory (PartySource) give the same pairs
    const sources = parties.map((clks) => ({
      records: clks.length / 128,
      fill: async (target: Uint8Array) => {
        target.set(clks);
      },
    }));
    const viaSources = await engine.linkParties(sources, { filterBits: 1024, threshold: fixture.threshold });
    expect(viaSources.pairs).toEqual(r.pairs);
  });

  it("with blocklib's lambda-fold config, finds what anonlink finds with blocklib's blocks", async () => {
    const config = parseLambdaFold(fixture.lambdaFold);
    const r = await engine.linkParties(parties, {
      filterBits: fixture.filterBits,
      threshold: fixture.threshold,
      blocking: { type: 'lsh', config },
    });
    expect(asTuples(r.pairs)).toEqual(fixture.lambdaFoldCandidates);
    expect(r.comparisons).toBeLessThan(r.fullComparisons / 5);
    // the blocks blocklib computed, handed over in anonlink-client's form, give the same pairs
    const blocks = fixture.lambdaFoldBlocks.map((b, p) => parseRecordBlocks({ blocks: b }, parties[p]!.length / 128));
    const viaBlocks = await engine.linkParties(parties, {
      filterBits: fixture.filterBits,
      threshold: fixture.threshold,
      blocking: { type: 'blocks', parties: blocks },
    });
    expect(asTuples(viaBlocks.pairs)).toEqual(fixture.lambdaFoldCandidates);
  });

  it("the bit positions are blocklib's: our bands put records in blocklib's blocks", () => {
    const config = parseLambdaFold(fixture.lambdaFold);
    const positions = lshPositions(config, fixture.filterBits);
    const bit = (clk: Uint8Array, p: number) => (clk[p >> 3]! >> (7 - (p & 7))) & 1;
    fixture.parties.forEach((clks, party) => {
      clks.forEach((b64, i) => {
        const clk = decodeClkBase64(b64, fixture.filterBits);
        const keys = positions.map((band, t) => `${t}${band.map((p) => bit(clk, p)).join('')}`);
        expect(keys).toEqual(fixture.lambdaFoldBlocks[party]![String(i)]);
      });
    });
  });

  it('chunks of a job merge into the whole result, for LSH bands and for explicit blocks', async () => {
    const opts = { filterBits: 1024, threshold: 0.6 };
    const lsh = { type: 'lsh' as const, config: lshConfig(9, 8, 3) };
    const whole = await engine.linkParties(parties, { ...opts, blocking: lsh });
    const chunks = await Promise.all(
      [0, 1, 2, 3].map((index) => engine.linkParties(parties, { ...opts, blocking: lsh, chunk: { index, count: 4 } })),
    );
    expect(mergeCandidatePairs(chunks.map((c) => c.pairs))).toEqual(whole.pairs);
    expect(chunks.reduce((s, c) => s + c.comparisons, 0)).toBe(whole.comparisons);
    // each pair is found by exactly one band, so the chunks are disjoint
    expect(chunks.reduce((s, c) => s + c.pairs.length, 0)).toBe(whole.pairs.length);

    const blocks = fixture.lambdaFoldBlocks.map((b, p) => parseRecordBlocks({ blocks: b }, parties[p]!.length / 128));
    const explicit = { type: 'blocks' as const, parties: blocks };
    const wholeBlocks = await engine.linkParties(parties, { ...opts, blocking: explicit });
    const blockChunks = await Promise.all(
      [0, 1, 2].map((index) =>
        engine.linkParties(parties, { ...opts, blocking: explicit, chunk: { index, count: 3 } }),
      ),
    );
    expect(mergeCandidatePairs(blockChunks.map((c) => c.pairs))).toEqual(wholeBlocks.pairs);
  });
});

describe("multi-party greedy solver (anonlink's greedy_solve)", () => {
  const candidates: PartyPair[] = fixture.candidates.map(([score, partyA, partyB, recordA, recordB]) => ({
    score,
    partyA,
    partyB,
    recordA,
    recordB,
  }));

  it('gives the groups anonlink gives (native and pure-Python solvers agree on the fixture)', () => {
    expect(fixture.groupsNative).toEqual(fixture.groupsPython);
    expect(multipartyGreedySolve(candidates)).toEqual(fixture.groupsNative);
    // records indexed in a typed array when the party sizes are known: the same groups
    expect(
      multipartyGreedySolve(
        candidates,
        fixture.parties.map((p) => p.length),
      ),
    ).toEqual(fixture.groupsNative);
    expect(fixture.groupsNative.some((g) => g.length >= 3)).toBe(true);
  });

  it("agrees with a line-by-line port of anonlink's pure-Python solver on random candidate sets", () => {
    // anonlink/solving/_multiparty_solving_python.py with merge_threshold 1, deduplicated false
    function reference(pairs: PartyPair[]): [number, number][][] {
      const matches = new Map<string, string[]>();
      const matchable = new Map<string[], Map<string[], number>>();
      const bump = (a: string[], b: string[], n: number) => {
        if (!matchable.has(a)) matchable.set(a, new Map());
        matchable.get(a)!.set(b, (matchable.get(a)!.get(b) ?? 0) + n);
      };
      for (const p of pairs) {
        let i0 = `${p.partyA},${p.recordA}`;
        let i1 = `${p.partyB},${p.recordB}`;
        if (i0 === i1) continue;
        if (matches.has(i0) && matches.has(i1)) {
          let m0 = matches.get(i0)!;
          let m1 = matches.get(i1)!;
          if (m0 === m1) continue;
          const overlap = (matchable.get(m0)?.get(m1) ?? 0) + 1;
          if (overlap >= m0.length * m1.length) {
            if (m0.length < m1.length) [m0, m1] = [m1, m0];
            m0.push(...m1);
            for (const r of m1) matches.set(r, m0);
            matchable.get(m0)?.delete(m1);
            matchable.get(m1)?.delete(m0);
            for (const [j, c] of matchable.get(m1) ?? []) {
              bump(m0, j, c);
              bump(j, m0, c);
              matchable.get(j)!.delete(m1);
            }
            matchable.delete(m1);
          } else {
            bump(m0, m1, 1);
            bump(m1, m0, 1);
          }
          continue;
        }
        if (!matches.has(i0) && matches.has(i1)) [i0, i1] = [i1, i0];
        if (matches.has(i0) && !matches.has(i1)) {
          const m0 = matches.get(i0)!;
          if (1 >= m0.length) {
            m0.push(i1);
            matches.set(i1, m0);
          } else {
            const m1 = [i1];
            matches.set(i1, m1);
            matchable.set(m1, new Map([[m0, 1]]));
            bump(m0, m1, 1);
          }
          continue;
        }
        const g = [i0, i1];
        matches.set(i0, g);
        matches.set(i1, g);
      }
      const groups = [...new Set(matches.values())].filter((g) => g.length > 1);
      return canonicalGroups(groups.map((g) => g.map((r) => r.split(',').map(Number) as [number, number])));
    }
    const rand = rng(31);
    for (let trial = 0; trial < 200; trial++) {
      const list: PartyPair[] = [];
      for (let k = 0; k < 80; k++) {
        const partyA = Math.floor(rand() * 4);
        const partyB = partyA + 1 + Math.floor(rand() * (4 - partyA));
        list.push({
          partyA,
          partyB,
          recordA: Math.floor(rand() * 6),
          recordB: Math.floor(rand() * 6),
          score: Math.round(rand() * 10) / 10,
        });
      }
      const ordered = CandidatePairs.from(list).toArray();
      expect(multipartyGreedySolve(ordered)).toEqual(reference(ordered));
      expect(multipartyGreedySolve(ordered, [6, 6, 6, 6, 6])).toEqual(reference(ordered));
    }
  });

  it('refuses a pair naming a record beyond its party, and infers the sizes when not given', () => {
    const pair: PartyPair = { partyA: 0, recordA: 0, partyB: 1, recordB: 7, score: 0.9 };
    expect(() => multipartyGreedySolve([pair], [2, 2])).toThrow(expect.objectContaining({ code: 'PARTIES_INVALID' }));
    expect(() => multipartyGreedySolve([{ ...pair, partyB: 2 }], [2, 8])).toThrow(
      expect.objectContaining({ code: 'PARTIES_INVALID' }),
    );
    expect(multipartyGreedySolve([pair])).toEqual([
      [
        [0, 0],
        [1, 7],
      ],
    ]);
  });

  it('two parties: the groups are the pairs of the greedy 1:1 solution', () => {
    const two = candidates.filter((p) => p.partyA === 0 && p.partyB === 1);
    const groups = multipartyGreedySolve(two);
    const used = new Set<string>();
    for (const g of groups) {
      expect(g.length).toBe(2);
      for (const r of g) {
        expect(used.has(r.join())).toBe(false);
        used.add(r.join());
      }
    }
  });

  it('a record joins a group only once its links cover the whole group', () => {
    const p = (partyA: number, recordA: number, partyB: number, recordB: number, score: number): PartyPair => ({
      partyA,
      recordA,
      partyB,
      recordB,
      score,
    });
    // A0-B0 form a group; C0 links to A0 only: a group of its own; then C0-B0 covers {A0, B0}: C0 joins.
    expect(multipartyGreedySolve([p(0, 0, 1, 0, 0.99), p(0, 0, 2, 0, 0.95)])).toEqual([
      [
        [0, 0],
        [1, 0],
      ],
    ]);
    expect(multipartyGreedySolve([p(0, 0, 1, 0, 0.99), p(0, 0, 2, 0, 0.95), p(1, 0, 2, 0, 0.9)])).toEqual([
      [
        [0, 0],
        [1, 0],
        [2, 0],
      ],
    ]);
    expect(
      canonicalGroups([
        [
          [2, 1],
          [0, 3],
        ],
      ]),
    ).toEqual([
      [
        [0, 3],
        [2, 1],
      ],
    ]);
  });
});

describe('linkParties errors and cancellation', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ threads: 2 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('rejects bad input with stable codes', async () => {
    const one = new Uint8Array(128);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );
    expect(await code(engine.linkParties([one], { filterBits: 1024, threshold: 0.5 }))).toBe('PARTIES_INVALID');
    expect(await code(engine.linkParties([one, new Uint8Array(100)], { filterBits: 1024, threshold: 0.5 }))).toBe(
      'CLK_LENGTH_MISMATCH',
    );
    expect(await code(engine.linkParties([one, one], { filterBits: 1024, threshold: 2 }))).toBe('THRESHOLD_INVALID');
    expect(
      await code(engine.linkParties([one, one], { filterBits: 1024, threshold: 0.5, chunk: { index: 2, count: 2 } })),
    ).toBe('CHUNK_INVALID');
    expect(
      await code(
        engine.linkParties([one, one], {
          filterBits: 1024,
          threshold: 0.5,
          blocking: { type: 'blocks', parties: [[['k']]] },
        }),
      ),
    ).toBe('BLOCKS_INVALID');
    expect(() => parseLambdaFold({ type: 'lambda-fold', version: 1, config: {} })).toThrow(
      expect.objectContaining({ code: 'BLOCKING_CONFIG_INVALID' }),
    );
    expect(() => parseRecordBlocks({ blocks: { '7': ['a'] } }, 3)).toThrow(
      expect.objectContaining({ code: 'BLOCKS_INVALID' }),
    );
    expect(() => parseRecordBlocks({ clknblocks: [['clk', 'k']] }, 2)).toThrow(
      expect.objectContaining({ code: 'BLOCKS_INVALID' }),
    );
    expect(parseRecordBlocks({ clknblocks: [['clk', 'k1', 'k2'], ['clk']] }, 2)).toEqual([['k1', 'k2'], []]);
  });

  it('a cancelled linkage rejects with LINK_CANCELLED and the engine goes on working', async () => {
    const rand = rng(9);
    const base = randomFilters(rand, 20_000, 128, [0.4]);
    const other = concatBytes(base.map((f) => perturb(rand, f, 40)));
    const controller = new AbortController();
    const progress: number[] = [];
    const run = engine.linkParties([concatBytes(base), other], {
      filterBits: 1024,
      threshold: 0.7,
      blocking: { type: 'lsh', config: lshConfig(400, 12, 1) },
      signal: controller.signal,
      onProgress: (done) => {
        progress.push(done);
        if (done === 3) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'LINK_CANCELLED' });
    expect(progress.at(-1)).toBeLessThan(400);
    const r = await engine.linkParties([concatBytes(base.slice(0, 50)), concatBytes(base.slice(0, 50))], {
      filterBits: 1024,
      threshold: 1,
    });
    expect(r.pairs.length).toBeGreaterThanOrEqual(50);
  });
});
