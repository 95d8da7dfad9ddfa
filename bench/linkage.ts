/**
 * `npm run bench:linkage [-- --json] [-- --quick] [-- --only two-party,million,multiparty,guidance]
 * [-- --million N] [-- --parties PxN]`:
 * linkage beyond brute force on the seeded FEBRL-like population
 * (demo/population), CLKs from clkhash's FEBRL schema:
 *
 * - two-party (100k × 100k; --quick 10k): brute force, Hamming LSH blocking,
 *   and anonlink 0.15 on the same CLKs (when `$PYTHON`, default python3,
 *   imports anonlink), with comparisons avoided, pairs/s, recall against
 *   brute force and against the truth, peak RSS and wall time;
 * - million (1M × 1M blocked; --quick 50k): the same figures, recall against
 *   brute force on a 200k × 200k subset (--quick 20k);
 * - multiparty (6 × 1M; --quick 3 × 20k): LSH over all parties, then
 *   anonlink's multi-party greedy solver; groups against the truth;
 * - guidance (100k; --quick 20k): the threshold estimate's error against the
 *   truth.
 *
 * The machine, Node version and load average are printed with the figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRoot } from '../common/paths.js';
import { Population } from '../demo/population/generator.js';
import { createEngine, type Engine, greedySolve, lshConfig } from '../engine/index.js';
import { estimateThresholds } from '../engine/linkage/threshold-guidance.js';
import { multipartyGreedySolve } from '../engine/solvers/multiparty-greedy.js';
import { flag, integer, names, parseBenchArgs, toInteger, value } from './options.js';
import { type BenchRow, type BenchSection, describeMachine, machineLine, printSection } from './report.js';

const SECTIONS = ['two-party', 'million', 'multiparty', 'guidance'] as const;
const { values: o } = parseBenchArgs({
  name: 'bench:linkage',
  run: 'npm run bench:linkage --',
  about: 'Linkage beyond brute force on the seeded FEBRL-like population: LSH, anonlink, multi-party, guidance.',
  options: {
    quick: flag('smaller sizes (10k pairs, 50k blocked, 3 × 20k parties, 20k guidance)'),
    only: names('A,B', SECTIONS, 'sections to run (default: all)'),
    million: integer('N', "the million section's records per party (default 1,000,000; 50,000 with --quick)"),
    parties: value(
      'PxN',
      'the multiparty section: P parties of N records (default 6x1000000; 3x20000 with --quick)',
      (v) => {
        const m = /^(\d+)x(\d+)$/.exec(v);
        if (!m) throw new Error('is not PxN, e.g. 3x20000');
        return [toInteger(m[1]!, 2), toInteger(m[2]!, 1)] as const;
      },
    ),
    json: flag('one JSON object on stdout instead of the tables'),
  },
});
const { json, quick } = o;
const only = o.only && new Set<string>(o.only);
const wanted = (name: string) => !only || only.has(name);

const THRESHOLD = 0.85;
/** 100 bands of 20 bits: at 0.85 on this schema ≥ 99% of brute force's pairs at 20k (docs/linkage.md). */
const LSH = lshConfig(100, 20, 1);
const FILTER_BITS = 1024;
const BYTES = FILTER_BITS / 8;
const SECRET = 'bench-linkage';
const sizes = quick
  ? { pair: 10_000, million: 50_000, subset: 20_000, parties: 3, partySize: 20_000, guidance: 20_000 }
  : { pair: 100_000, million: 1_000_000, subset: 200_000, parties: 6, partySize: 1_000_000, guidance: 100_000 };
// sizes can be set by hand: --million N, --parties PxN (e.g. a rehearsal before the full run)
if (o.million) sizes.million = o.million;
if (o.parties) [sizes.parties, sizes.partySize] = o.parties;
const schema = JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'clkhash', 'febrl_schema_v3_final.json'), 'utf8'));
const python = process.env.PYTHON ?? 'python3';

/** Peak RSS while `fn` runs, sampled every 100 ms (workers are threads: one process). */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakMiB: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 100);
  const t0 = performance.now();
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, seconds: (performance.now() - t0) / 1000, peakMiB: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** Encodes records [start, end) of a party into `target`, in batches (the rows are never all in memory). */
async function encodeInto(
  engine: Engine,
  pop: Population,
  party: number,
  target: Uint8Array,
  start = 0,
): Promise<void> {
  const count = target.length / BYTES;
  const batch = 16_384;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const rows = pop.records(party, start + i, start + i + n);
    inFlight.push(
      engine.encode(schema, SECRET, rows).then((clks) => {
        target.set(clks, i * BYTES);
      }),
    );
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

async function encodeParty(
  engine: Engine,
  pop: Population,
  party: number,
  count: number,
  start = 0,
): Promise<Uint8Array> {
  const out = new Uint8Array(count * BYTES);
  await encodeInto(engine, pop, party, out, start);
  return out;
}

const pairKey = (a: number, b: number): number => a * 2 ** 21 + b;

function anonlinkBaseline(
  dataset: Uint8Array,
  queries: Uint8Array,
): { seconds: number; solveSeconds: number; pairs: number } | string {
  const dir = mkdtempSync(join(tmpdir(), 'pavilion-bench-'));
  try {
    writeFileSync(join(dir, 'a.bin'), dataset);
    writeFileSync(join(dir, 'b.bin'), queries);
    const res = spawnSync(
      python,
      [
        fromRoot('bench', 'anonlink-linkage.py'),
        join(dir, 'a.bin'),
        join(dir, 'b.bin'),
        String(BYTES),
        String(THRESHOLD),
      ],
      { encoding: 'utf8', timeout: 3_600_000, maxBuffer: 1 << 20 },
    );
    if (res.status !== 0) return res.error ? `${python} not found` : 'anonlink not importable (set PYTHON)';
    return JSON.parse(res.stdout) as { seconds: number; solveSeconds: number; pairs: number };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const row = (
  name: string,
  value: number,
  unit: string,
  note?: string,
  baseline?: string,
  ratio?: number,
): BenchRow => ({
  name,
  value: Number(value.toPrecision(6)),
  unit,
  ...(baseline ? { baseline, ratio: Number(ratio!.toFixed(3)) } : {}),
  ...(note ? { note } : {}),
});

async function twoParty(engine: Engine): Promise<BenchSection> {
  const n = sizes.pair;
  const pop = new Population({ seed: 1, parties: 2, size: n, overlap: 0.5 });
  const enc = await withPeakRss(async () => [
    await encodeParty(engine, pop, 0, n),
    await encodeParty(engine, pop, 1, n),
  ]);
  const [a, b] = enc.value as [Uint8Array, Uint8Array];
  await engine.loadDataset('bench-a', {
    refs: Array.from({ length: n }, (_, i) => String(i)),
    clks: a,
    filterBits: FILTER_BITS,
  });
  const brute = await withPeakRss(() => engine.link('bench-a', b, { threshold: THRESHOLD }));
  await engine.dropDataset('bench-a');
  const blocked = await withPeakRss(() =>
    engine.linkParties([a, b], {
      filterBits: FILTER_BITS,
      threshold: THRESHOLD,
      blocking: { type: 'lsh', config: LSH },
    }),
  );
  const truth = new Set(pop.truePairs(0, 1).map(([i, j]) => pairKey(i, j)));
  const brutePairs = new Set(brute.value.pairs.map((p) => pairKey(p.index, p.query)));
  const bp = blocked.value.pairs;
  const blockedPairs = Array.from({ length: bp.length }, (_, i) => pairKey(bp.recordA[i]!, bp.recordB[i]!));
  const foundOfBrute = blockedPairs.filter((k) => brutePairs.has(k)).length;
  const bruteTrue = [...brutePairs].filter((k) => truth.has(k)).length;
  const blockedTrue = blockedPairs.filter((k) => truth.has(k)).length;
  const full = n * n;
  const solve = await withPeakRss(async () =>
    greedySolve(
      Array.from({ length: bp.length }, (_, i) => ({
        query: bp.recordB[i]!,
        index: bp.recordA[i]!,
        score: bp.scores[i]!,
      })),
    ),
  );
  const anon = anonlinkBaseline(a, b);
  const rows: BenchRow[] = [
    row('encode 2 parties (FEBRL schema)', (2 * n) / enc.seconds, 'records/s', `${enc.seconds.toFixed(1)} s`),
    row(
      'brute force: wall',
      brute.seconds,
      's',
      `${brute.value.pairs.length} pairs; peak RSS ${brute.peakMiB.toFixed(0)} MiB`,
    ),
    row('brute force: comparisons/s', full / brute.seconds / 1e6, 'M cmp/s'),
    row(
      'LSH blocked: wall',
      blocked.seconds,
      's',
      `peak RSS ${blocked.peakMiB.toFixed(0)} MiB`,
      'brute force',
      brute.seconds / blocked.seconds,
    ),
    row(
      'LSH blocked: comparisons avoided',
      100 * (1 - blocked.value.comparisons / full),
      '%',
      `${blocked.value.comparisons.toExponential(3)} of ${full.toExponential(3)}`,
    ),
    row('LSH blocked: pairs/s (full product / wall)', full / blocked.seconds / 1e6, 'M pairs/s'),
    row(
      'LSH blocked: recall vs brute force',
      100 * (foundOfBrute / brutePairs.size),
      '%',
      `${foundOfBrute} of ${brutePairs.size}`,
    ),
    row(
      'LSH blocked: true matches found',
      100 * (blockedTrue / truth.size),
      '%',
      `brute force: ${((100 * bruteTrue) / truth.size).toFixed(2)}% (${blockedTrue} vs ${bruteTrue} of ${truth.size})`,
    ),
    row('greedy 1:1 solve of the blocked pairs', solve.seconds * 1000, 'ms', `${solve.value.length} links`),
  ];
  if (typeof anon === 'string') rows.push(row('anonlink 0.15 brute force', Number.NaN, 's', anon));
  else {
    rows.push(
      row(
        'anonlink 0.15 brute force (1 thread): wall',
        anon.seconds,
        's',
        `${anon.pairs} pairs (ours ${brute.value.pairs.length})`,
        'ours blocked',
        anon.seconds / blocked.seconds,
      ),
      row('anonlink 0.15 greedy_solve', anon.solveSeconds * 1000, 'ms'),
    );
  }
  return {
    title:
      `two parties, ${n.toLocaleString('en-US')} × ${n.toLocaleString('en-US')}, threshold ${THRESHOLD}, ` +
      `LSH ${LSH.config.Lambda} bands × ${LSH.config.K} bits`,
    rows,
  };
}

async function million(engine: Engine): Promise<BenchSection> {
  const n = sizes.million;
  const pop = new Population({ seed: 2, parties: 2, size: n, overlap: 0.5 });
  let encodeSeconds = 0;
  const source = (party: number) => ({
    records: n,
    fill: async (target: Uint8Array) => {
      const t0 = performance.now();
      await encodeInto(engine, pop, party, target);
      encodeSeconds += (performance.now() - t0) / 1000;
    },
  });
  const blocked = await withPeakRss(() =>
    engine.linkParties([source(0), source(1)], {
      filterBits: FILTER_BITS,
      threshold: THRESHOLD,
      blocking: { type: 'lsh', config: LSH },
    }),
  );
  const linkSeconds = blocked.seconds - encodeSeconds;
  const truth = new Set(pop.truePairs(0, 1).map(([i, j]) => pairKey(i, j)));
  const mp = blocked.value.pairs;
  let found = 0;
  for (let i = 0; i < mp.length; i++) if (truth.has(pairKey(mp.recordA[i]!, mp.recordB[i]!))) found++;
  const full = n * n;
  const rows: BenchRow[] = [
    row(
      'LSH blocked: wall (linkage, without encoding)',
      linkSeconds,
      's',
      `encoding ${encodeSeconds.toFixed(0)} s; ${blocked.value.pairs.length} pairs`,
    ),
    row('LSH blocked: peak RSS', blocked.peakMiB, 'MiB', 'CLKs, workspace, pairs; while encoding too'),
    row(
      'LSH blocked: comparisons avoided',
      100 * (1 - blocked.value.comparisons / full),
      '%',
      `${blocked.value.comparisons.toExponential(3)} of ${full.toExponential(3)}`,
    ),
    row('LSH blocked: pairs/s (full product / wall)', full / linkSeconds / 1e6, 'M pairs/s'),
    row('LSH blocked: true matches found', (100 * found) / truth.size, '%', `${found} of ${truth.size}`),
  ];

  // recall against brute force on a subset (a full 1M × 1M brute force is ~45 min here)
  const s = sizes.subset;
  const a = await encodeParty(engine, pop, 0, s);
  const b = await encodeParty(engine, pop, 1, s);
  await engine.loadDataset('bench-sub', {
    refs: Array.from({ length: s }, (_, i) => String(i)),
    clks: a,
    filterBits: FILTER_BITS,
  });
  const brute = await withPeakRss(() => engine.link('bench-sub', b, { threshold: THRESHOLD }));
  await engine.dropDataset('bench-sub');
  const sub = await engine.linkParties([a, b], {
    filterBits: FILTER_BITS,
    threshold: THRESHOLD,
    blocking: { type: 'lsh', config: LSH },
  });
  const subSet = new Set(
    Array.from({ length: sub.pairs.length }, (_, i) => pairKey(sub.pairs.recordA[i]!, sub.pairs.recordB[i]!)),
  );
  const kept = brute.value.pairs.filter((p) => subSet.has(pairKey(p.index, p.query))).length;
  const bruteRate = (s * s) / brute.seconds;
  rows.push(
    row(
      `recall vs brute force on ${s.toLocaleString('en-US')} × ${s.toLocaleString('en-US')}`,
      (100 * kept) / brute.value.pairs.length,
      '%',
      `${kept} of ${brute.value.pairs.length}; brute force ${brute.seconds.toFixed(0)} s`,
    ),
    row(
      'brute force 1M × 1M, estimated from the subset run',
      full / bruteRate / 60,
      'min',
      `${(bruteRate / 1e6).toFixed(0)} M cmp/s`,
      'LSH blocked',
      full / bruteRate / linkSeconds,
    ),
  );
  return {
    title: `two parties, ${n.toLocaleString('en-US')} × ${n.toLocaleString('en-US')} blocked, threshold ${THRESHOLD}`,
    rows,
  };
}

async function multiparty(engine: Engine): Promise<BenchSection> {
  const { parties, partySize } = sizes;
  const pop = new Population({ seed: 3, parties, size: partySize, overlap: 0.5 });
  let encodeSeconds = 0;
  const sources = Array.from({ length: parties }, (_, p) => ({
    records: partySize,
    fill: async (target: Uint8Array) => {
      const t0 = performance.now();
      await encodeInto(engine, pop, p, target);
      encodeSeconds += (performance.now() - t0) / 1000;
    },
  }));
  const run = await withPeakRss(async () => {
    const r = await engine.linkParties(sources, {
      filterBits: FILTER_BITS,
      threshold: THRESHOLD,
      blocking: { type: 'lsh', config: LSH },
    });
    const t0 = performance.now();
    const groups = multipartyGreedySolve(
      r.pairs,
      sources.map((x) => x.records),
    );
    return { r, groups, solveSeconds: (performance.now() - t0) / 1000 };
  });
  const { r, groups, solveSeconds } = run.value;
  // The sampler cannot see inside synchronous steps (sorting the pairs, solving): the process's high-water
  // mark can, taken before the truth below allocates anything.
  const highWaterMiB = process.resourceUsage().maxRSS / 1024;
  // truth: pairs of records in one group that are one person, against all such pairs
  let grouped = 0;
  let correct = 0;
  for (const g of groups) {
    for (let x = 0; x < g.length; x++) {
      for (let y = x + 1; y < g.length; y++) {
        grouped++;
        if (pop.entities(g[x]![0])[g[x]![1]] === pop.entities(g[y]![0])[g[y]![1]]) correct++;
      }
    }
  }
  // true cross-party pairs: a person in c parties makes c(c − 1)/2 (counted per person, no list of pairs)
  const partiesOf = new Map<number, number>();
  for (let p = 0; p < parties; p++) for (const e of pop.entities(p)) partiesOf.set(e, (partiesOf.get(e) ?? 0) + 1);
  let truePairs = 0;
  for (const c of partiesOf.values()) truePairs += (c * (c - 1)) / 2;
  const linkSeconds = run.seconds - encodeSeconds;
  const rows: BenchRow[] = [
    row(
      'LSH blocked + greedy groups: wall (without encoding)',
      linkSeconds / 60,
      'min',
      `encoding ${encodeSeconds.toFixed(0)} s; solve ${solveSeconds.toFixed(1)} s`,
    ),
    row(
      'peak RSS',
      highWaterMiB,
      'MiB',
      `process high-water mark (sampled every 100 ms: ${run.peakMiB.toFixed(0)} MiB)`,
    ),
    row(
      'comparisons avoided',
      100 * (1 - r.comparisons / r.fullComparisons),
      '%',
      `${r.comparisons.toExponential(3)} of ${r.fullComparisons.toExponential(3)}`,
    ),
    row('candidate pairs', r.pairs.length, 'pairs', `${groups.length} groups of 2+ records`),
    row('grouped pairs that are one person', grouped ? (100 * correct) / grouped : 0, '%', `${correct} of ${grouped}`),
    row('true cross-party pairs grouped', (100 * correct) / truePairs, '%', `of ${truePairs}`),
  ];
  return {
    title: `${parties} parties × ${partySize.toLocaleString('en-US')}, multi-party greedy, threshold ${THRESHOLD}`,
    rows,
  };
}

async function guidance(engine: Engine): Promise<BenchSection> {
  const n = sizes.guidance;
  const pop = new Population({ seed: 4, parties: 2, size: n, overlap: 0.5 });
  const a = await encodeParty(engine, pop, 0, n);
  const b = await encodeParty(engine, pop, 1, n);
  await engine.loadDataset('bench-g', {
    refs: Array.from({ length: n }, (_, i) => String(i)),
    clks: a,
    filterBits: FILTER_BITS,
  });
  const floor = 0.7;
  const est = await withPeakRss(() =>
    estimateThresholds(engine, 'bench-g', b, { filterBits: FILTER_BITS, floor, sample: 5000, policyMinimum: 0.9 }),
  );
  // the truth: every query's best candidate (what the estimate describes), and the whole greedy 1:1 solution
  const best = (await engine.link('bench-g', b, { threshold: floor, topK: 1 })).pairs;
  const solution = greedySolve((await engine.link('bench-g', b, { threshold: floor, topK: 2 })).pairs);
  await engine.dropDataset('bench-g');
  const truth = new Set(pop.truePairs(0, 1).map(([i, j]) => pairKey(i, j)));
  const errors = (links: { query: number; index: number; score: number }[], from: number) => {
    let p = 0;
    let r = 0;
    for (const pt of est.value.curve) {
      if (pt.threshold < from - 1e-9 || pt.threshold > 0.99) continue;
      const above = links.filter((x) => x.score >= pt.threshold);
      const tp = above.filter((x) => truth.has(pairKey(x.index, x.query))).length;
      p = Math.max(p, Math.abs(pt.precision - tp / above.length));
      r = Math.max(r, Math.abs(pt.recall - tp / truth.size));
    }
    return { p, r };
  };
  const perQuery = errors(best, floor);
  const greedyHigh = errors(solution, 0.85);
  const greedyAll = errors(solution, floor);
  const g = est.value;
  return {
    title:
      `threshold guidance, ${n.toLocaleString('en-US')} × ${n.toLocaleString('en-US')}, ` +
      `5,000 sampled queries, floor ${floor}`,
    rows: [
      row('estimate: wall', est.seconds, 's'),
      row('worst |precision error|, best candidate per query, 0.70–0.99', perQuery.p, '', 'against the truth'),
      row('worst |recall error|, best candidate per query, 0.70–0.99', perQuery.r, ''),
      row('worst |precision error|, greedy 1:1 solution, 0.85–0.99', greedyHigh.p, ''),
      row('worst |recall error|, greedy 1:1 solution, 0.85–0.99', greedyHigh.r, ''),
      row(
        'worst |precision error|, greedy 1:1 solution, 0.70–0.99',
        greedyAll.p,
        '',
        'its conflicts below ~0.85 are not estimated',
      ),
      row('worst |recall error|, greedy 1:1 solution, 0.70–0.99', greedyAll.r, ''),
      row(
        'suggested threshold (policy minimum 0.9)',
        g.suggested.threshold,
        '',
        `P ${g.suggested.precision.toFixed(3)} R ${g.suggested.recall.toFixed(3)}`,
      ),
      row(
        'recall at the policy minimum 0.9',
        g.atPolicyMinimum!.recall,
        '',
        `P ${g.atPolicyMinimum!.precision.toFixed(3)}`,
      ),
      row(
        'recall at 0.8',
        g.curve.find((p) => Math.abs(p.threshold - 0.8) < 1e-9)!.recall,
        '',
        `P ${g.curve.find((p) => Math.abs(p.threshold - 0.8) < 1e-9)!.precision.toFixed(3)}`,
      ),
    ],
  };
}

const machine = describeMachine();
const started = performance.now();
// 6 × 1M records at 0.85 give ~7M candidate pairs (18 bytes each in columns): above the engine's default cap
const engine = await createEngine({ threads: 2, maxLinkPairs: 30_000_000 });
const sections: BenchSection[] = [];
try {
  for (const [name, fn] of [
    ['two-party', twoParty],
    ['guidance', guidance],
    ['million', million],
    ['multiparty', multiparty],
  ] as const) {
    if (!wanted(name)) continue;
    const section = await fn(engine);
    sections.push(section);
    if (!json) printSection(section);
  }
} finally {
  await engine.close();
}
const seconds = (performance.now() - started) / 1000;
const maxRssMiB = Number((process.resourceUsage().maxRSS / 1024).toFixed(0));
if (json)
  console.log(JSON.stringify({ machine, quick, seconds: Number(seconds.toFixed(1)), maxRssMiB, sections }, null, 2));
else console.log(`\n${machineLine(machine)}; ${seconds.toFixed(1)} s; process max RSS ${maxRssMiB} MiB`);
