/**
 * The engine end to end: real Piscina workers, real wasm kernels, datasets in
 * shared memory. Results are compared with the TypeScript reference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatBytes } from '../../common/bytes.js';
import type { PoolEngine } from '../../engine/engine.js';
import { createEngine, decodeClkBase64, type Engine } from '../../engine/index.js';
import { pairsReference, splitFilters, topKReference } from '../../wasm/reference/dice.js';
import { perturb, randomFilter, randomFilters, rng } from '../wasm/dice/harness.js';

const BYTES = 128;
const refsFor = (n: number, prefix = 'r'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe.each(['simd', 'scalar'] as const)('engine with the %s kernel', (kind) => {
  let engine: Engine;
  // 70k filters: enough that a single match is split across both workers
  const rand = rng(kind === 'simd' ? 1 : 2);
  const base = randomFilters(rand, 70_000, BYTES, [0.3, 0.5]);
  const queries = [
    perturb(rand, base[123]!, 120),
    perturb(rand, base[69_999]!, 200),
    randomFilter(rand, BYTES, 0.4),
    base[40_000]!.slice(),
  ];

  beforeAll(async () => {
    engine = await createEngine({ threads: 2, simd: kind === 'simd' });
    expect(engine.kernel).toBe(kind);
    expect(engine.threads).toBe(2);
    await engine.loadDataset('people', {
      refs: refsFor(base.length),
      clks: concatBytes(base),
      filterBits: 1024,
      claims: base.map((_, i) => (i % 2 ? { even: false } : undefined)),
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('match returns the reference top-k with refs and claims', async () => {
    for (const q of queries) {
      for (const [threshold, topK] of [
        [0.5, 5],
        [0.2, 3],
        [0.9, undefined],
      ] as const) {
        const res = await engine.match('people', q, { threshold, topK });
        const ref = topKReference(q, base, threshold, topK ?? 10);
        expect(res.version).toBe(1);
        expect(res.candidates.map((c) => ({ index: c.index, score: c.score }))).toEqual(ref);
        for (const c of res.candidates) {
          expect(c.ref).toBe(`r${c.index}`);
          expect(c.claims).toEqual(c.index % 2 ? { even: false } : undefined);
        }
      }
    }
  });

  it('a sparse dataset matches exactly as the reference (both slices)', async () => {
    const sparse = randomFilters(rand, 70_000, BYTES, [1 / 16, 4 / 16, 5 / 16]);
    await engine.loadDataset('sparse', {
      refs: refsFor(sparse.length, 's'),
      clks: concatBytes(sparse),
      filterBits: 1024,
    });
    const probes = [
      perturb(rand, sparse[5]!, 20),
      perturb(rand, sparse[69_000]!, 60),
      sparse[35_000]!.slice(),
      randomFilter(rand, BYTES, 4 / 16),
      randomFilter(rand, BYTES, 0.6),
    ];
    for (const q of probes)
      for (const [threshold, topK] of [
        [0.85, 2],
        [0.6, 4],
        [0.1, 3],
      ] as const) {
        const res = await engine.match('sparse', q, { threshold, topK });
        expect(res.candidates.map((c) => ({ index: c.index, score: c.score }))).toEqual(
          topKReference(q, sparse, threshold, topK),
        );
        for (const c of res.candidates) expect(c.ref).toBe(`s${c.index}`);
      }
    // Each search over two tasks holds one of the version's 1,024 scan cursors (layout.ts) while it runs:
    // more searches than that, eight at a time, all answer, so every cursor comes back.
    const query = sparse[35_000]!;
    for (let round = 0; round < 130; round++) {
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => engine.match('sparse', query, { threshold: 0.9, topK: 1 })),
      );
      for (const a of answers) expect(a.candidates[0]?.index).toBe(35_000);
    }
    await engine.dropDataset('sparse');
  });

  it('datasetFilters gives back the loaded rows from any tile, in the order asked, refusing others', async () => {
    const rows = [base.length - 1, 0, 511, 512, 3, 3, 40_000];
    expect(await engine.datasetFilters('people', rows)).toEqual(concatBytes(rows.map((r) => base[r]!)));
    // more rows than one read-back task takes (512)
    const many = Array.from({ length: 1300 }, (_, i) => (i * 7919) % base.length);
    expect(await engine.datasetFilters('people', many)).toEqual(concatBytes(many.map((r) => base[r]!)));
    for (const bad of [base.length, -1, 1.5])
      await expect(engine.datasetFilters('people', [0, bad])).rejects.toMatchObject({ code: 'ENGINE_OPTIONS_INVALID' });
  });

  it('link returns the reference pairs in anonlink order, with progress', async () => {
    const qs = concatBytes(base.slice(0, 24).map((f, i) => perturb(rand, f, 60 + 5 * i)));
    const progress: [number, number][] = [];
    const res = await engine.link('people', qs, { threshold: 0.7, onProgress: (d, t) => progress.push([d, t]) });
    expect(res.pairs).toEqual(pairsReference(splitFilters(qs, BYTES), base, 0.7));
    expect(res.pairs.length).toBeGreaterThanOrEqual(24);
    expect(progress.length).toBeGreaterThan(1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThan(progress[i - 1]![0]);
    expect(progress.at(-1)).toEqual([24 * base.length, 24 * base.length]);
  });

  it('link with topK equals the reference top-k per query', async () => {
    const qs = concatBytes(base.slice(500, 512).map((f) => perturb(rand, f, 150)));
    const res = await engine.link('people', qs, { threshold: 0.3, topK: 4 });
    expect(res.pairs).toEqual(pairsReference(splitFilters(qs, BYTES), base, 0.3, 4));
  });
});

describe('engine behaviour', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ threads: 2 });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('loads, replaces and drops datasets', async () => {
    const rand = rng(3);
    const a = randomFilters(rand, 100, BYTES, [0.5]);
    expect(await engine.loadDataset('d', { refs: refsFor(100), clks: a, filterBits: 1024 })).toEqual({
      id: 'd',
      version: 1,
      size: 100,
      filterBits: 1024,
    });
    expect(engine.datasetInfo('d')).toEqual({ id: 'd', version: 1, size: 100, filterBits: 1024 });
    const b = randomFilters(rand, 50, BYTES, [0.5]);
    expect(
      (await engine.loadDataset('d', { refs: refsFor(50, 'b'), clks: concatBytes(b), filterBits: 1024 })).version,
    ).toBe(2);
    const m = await engine.match('d', b[7]!, { threshold: 1 });
    expect(m).toEqual({ version: 2, candidates: [{ index: 7, ref: 'b7', score: 1 }] });
    await engine.dropDataset('d');
    expect(engine.datasetInfo('d')).toBeUndefined();
    await expect(engine.match('d', b[7]!, { threshold: 1 })).rejects.toMatchObject({
      code: 'DATASET_NOT_FOUND',
      status: 404,
    });
    await expect(engine.dropDataset('d')).rejects.toMatchObject({ code: 'DATASET_NOT_FOUND' });
    // versions keep increasing after a drop, so caches keyed by version never confuse them
    expect((await engine.loadDataset('d', { refs: refsFor(50), clks: b, filterBits: 1024 })).version).toBe(3);
  });

  it('replacing under concurrent matches: no failure, each result from exactly one version', async () => {
    const rand = rng(4);
    const q = randomFilter(rand, BYTES, 0.5);
    // version v holds the query's exact copy at index 1000 + v, nowhere else
    const datasetFor = (v: number) => {
      const filters = randomFilters(rng(100 + v), 80_000, BYTES, [0.5]);
      filters[1000 + v] = q.slice();
      return { refs: refsFor(filters.length, `v${v}-`), clks: concatBytes(filters), filterBits: 1024 };
    };
    const versions = [1, 2, 3, 4, 5].map(datasetFor);
    await engine.loadDataset('swap', versions[0]!);
    const results: { version: number; index: number; ref: string }[] = [];
    const matches: Promise<void>[] = [];
    let loading = true;
    const loader = (async () => {
      for (let v = 2; v <= 5; v++) {
        await new Promise((r) => setTimeout(r, 15));
        const info = await engine.loadDataset('swap', versions[v - 1]!);
        expect(info.version).toBe(v);
      }
      loading = false;
    })();
    while (loading) {
      matches.push(
        engine.match('swap', q, { threshold: 0.99, topK: 2 }).then((r) => {
          expect(r.candidates).toHaveLength(1);
          results.push({ version: r.version, index: r.candidates[0]!.index, ref: r.candidates[0]!.ref });
        }),
      );
      await new Promise((r) => setTimeout(r, 1));
    }
    await loader;
    await Promise.all(matches);
    expect(results.length).toBeGreaterThan(5);
    for (const r of results) {
      expect(r.index).toBe(1000 + r.version);
      expect(r.ref).toBe(`v${r.version}-${1000 + r.version}`);
    }
    expect(new Set(results.map((r) => r.version)).size).toBeGreaterThan(1);
    expect((await engine.match('swap', q, { threshold: 0.99 })).version).toBe(5);
    await engine.dropDataset('swap');
  });

  it('link is cancellable and the pool keeps working', async () => {
    const rand = rng(5);
    const base = randomFilters(rand, 100_000, BYTES, [0.5]);
    await engine.loadDataset('big', { refs: refsFor(base.length), clks: concatBytes(base), filterBits: 1024 });
    const qs = concatBytes(randomFilters(rand, 512, BYTES, [0.5]));
    const controller = new AbortController();
    let progressCalls = 0;
    const started = performance.now();
    const p = engine.link('big', qs, {
      threshold: 0.9,
      signal: controller.signal,
      onProgress: () => {
        if (++progressCalls === 2) controller.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ code: 'LINK_CANCELLED' });
    // 512 × 100k would take ~0.5 s or more; cancellation answers at once
    expect(performance.now() - started).toBeLessThan(2_000);
    const callsAtCancel = progressCalls;
    await new Promise((r) => setTimeout(r, 100));
    expect(progressCalls).toBe(callsAtCancel); // no progress after cancellation
    const aborted = new AbortController();
    aborted.abort();
    await expect(engine.link('big', qs, { threshold: 0.9, signal: aborted.signal })).rejects.toMatchObject({
      code: 'LINK_CANCELLED',
    });
    const m = await engine.match('big', base[99_999]!, { threshold: 1 });
    expect(m.candidates.map((c) => c.index)).toEqual([99_999]);
  });

  it('link output larger than a slot (worker drains and transfers) stays exact', async () => {
    const rand = rng(6);
    const base = randomFilters(rand, 3000, 8, [0.5]);
    await engine.loadDataset('small64', { refs: refsFor(base.length), clks: base, filterBits: 64 });
    const qs = randomFilters(rand, 64, 8, [0.5]);
    const res = await engine.link('small64', concatBytes(qs), { threshold: 0 });
    expect(res.pairs.length).toBe(64 * 3000);
    expect(res.pairs).toEqual(pairsReference(qs, base, 0));
  });

  it('datasets are shared, not copied: workers see main-thread writes and vice versa', async () => {
    const rand = rng(7);
    await engine.loadDataset('shared', {
      refs: refsFor(10),
      clks: randomFilters(rand, 10, BYTES, [0.5]),
      filterBits: 1024,
    });
    const probe = await (engine as PoolEngine).probeSharedMemory('shared', 2, 100);
    expect(new Set(probe.results.map((r) => r.threadId)).size).toBe(2);
    for (const r of probe.results) expect(r.seen).toBe(probe.lastWrite);
    expect([probe.lastWrite + 1, probe.lastWrite + 2]).toContain(probe.seenByMain);
  });

  it('a version written in place by beginDataset answers as the same rows given to loadDataset', async () => {
    const rand = rng(11);
    const base = randomFilters(rand, 3000, BYTES, [0.3, 0.5]);
    const refs = refsFor(base.length, 'ü');
    await engine.loadDataset('whole', { refs, clks: concatBytes(base), filterBits: 1024 });
    const load = engine.beginDataset('pieces', { filterBits: 1024, count: base.length });
    expect(load.filters.length).toBe(base.length * BYTES);
    // in pieces, as DatasetStore.readVersionInto hands them over
    for (let at = 0; at < base.length; at += 700) {
      const piece = base.slice(at, at + 700);
      load.filters.set(concatBytes(piece), at * BYTES);
      load.refs.pushAll(refs.slice(at, at + 700));
    }
    expect(await load.finish()).toEqual({ id: 'pieces', version: 1, size: base.length, filterBits: 1024 });
    for (const q of [perturb(rand, base[5]!, 100), base[2999]!, randomFilter(rand, BYTES, 0.4)]) {
      const whole = await engine.match('whole', q, { threshold: 0.6, topK: 5 });
      const pieces = await engine.match('pieces', q, { threshold: 0.6, topK: 5 });
      expect(pieces.candidates).toEqual(whole.candidates);
    }
    expect((await engine.match('pieces', base[2999]!, { threshold: 1 })).candidates[0]?.ref).toBe('ü2999');
    await expect(load.finish()).rejects.toMatchObject({ code: 'DATASET_INVALID' });
    await engine.dropDataset('whole');
    await engine.dropDataset('pieces');
  });

  it('beginDataset refuses to serve a load whose refs do not match its filters, and abort serves nothing', async () => {
    const short = engine.beginDataset('short', { filterBits: 1024, count: 3 });
    short.refs.pushAll(['a', 'b']);
    await expect(short.finish()).rejects.toMatchObject({ code: 'DATASET_INVALID' });
    expect(engine.datasetInfo('short')).toBeUndefined();
    const aborted = engine.beginDataset('aborted', { filterBits: 1024, count: 1 });
    aborted.abort();
    await expect(aborted.finish()).rejects.toMatchObject({ code: 'DATASET_INVALID' });
    expect(engine.datasetInfo('aborted')).toBeUndefined();
    expect(() => engine.beginDataset('x', { filterBits: 1024, count: 0 })).toThrow(
      expect.objectContaining({ code: 'DATASET_EMPTY' }),
    );
    expect(() => engine.beginDataset('x', { filterBits: 1000, count: 2 })).toThrow(
      expect.objectContaining({ code: 'FILTER_BITS_INVALID' }),
    );
  });

  it('resident memory grows by about one copy of a dataset, not one per worker', async () => {
    const rand = rng(8);
    const n = 400_000; // 51 MB of filters
    const clks = new Uint8Array(n * BYTES);
    for (let i = 0; i < clks.length; i += 4096)
      clks.set(randomFilter(rand, 4096, 0.5).subarray(0, Math.min(4096, clks.length - i)), i);
    const refs = refsFor(n);
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    await engine.loadDataset('rss', { refs, clks, filterBits: 1024 });
    // make both workers scan the whole dataset
    await Promise.all(
      [0, 1, 2, 3].map((i) => engine.match('rss', clks.subarray(i * BYTES, (i + 1) * BYTES), { threshold: 0.99 })),
    );
    const grown = process.memoryUsage().rss - before;
    // one copy is ~53 MB (filters + popcounts + slots); a copy per worker would be ≥ 3×
    expect(grown).toBeLessThan(1.7 * clks.length);
    await engine.dropDataset('rss');
  });

  it('bad inputs get stable codes and never take the pool down', async () => {
    const rand = rng(9);
    const good = randomFilters(rand, 20, BYTES, [0.5]);
    await engine.loadDataset('ok', { refs: refsFor(20), clks: good, filterBits: 1024 });
    const cases: [() => Promise<unknown>, string][] = [
      [
        () => engine.loadDataset('x', { refs: refsFor(2), clks: new Uint8Array(256), filterBits: 1000 }),
        'FILTER_BITS_INVALID',
      ],
      [
        () => engine.loadDataset('x', { refs: refsFor(2), clks: new Uint8Array(256), filterBits: 0 }),
        'FILTER_BITS_INVALID',
      ],
      [
        () => engine.loadDataset('x', { refs: refsFor(2), clks: new Uint8Array(256), filterBits: -64 }),
        'FILTER_BITS_INVALID',
      ],
      [
        () => engine.loadDataset('x', { refs: refsFor(3), clks: new Uint8Array(256), filterBits: 1024 }),
        'DATASET_INVALID',
      ],
      [() => engine.loadDataset('x', { refs: [], clks: new Uint8Array(0), filterBits: 1024 }), 'DATASET_EMPTY'],
      [
        () => engine.loadDataset('x', { refs: refsFor(2), clks: new Uint8Array(255), filterBits: 1024 }),
        'CLK_LENGTH_MISMATCH',
      ],
      [
        () =>
          engine.loadDataset('x', {
            refs: refsFor(2),
            clks: [new Uint8Array(128), new Uint8Array(64)],
            filterBits: 1024,
          }),
        'CLK_LENGTH_MISMATCH',
      ],
      [
        () =>
          engine.loadDataset('x', { refs: [1, 2] as unknown as string[], clks: new Uint8Array(256), filterBits: 1024 }),
        'DATASET_INVALID',
      ],
      [
        () => engine.loadDataset('x', { refs: refsFor(2), clks: new Uint8Array(256), filterBits: 1024, claims: [{}] }),
        'DATASET_INVALID',
      ],
      [() => engine.match('ok', new Uint8Array(64), { threshold: 0.5 }), 'CLK_LENGTH_MISMATCH'],
      [() => engine.match('ok', 'abc' as unknown as Uint8Array, { threshold: 0.5 }), 'CLK_LENGTH_MISMATCH'],
      [() => engine.match('ok', good[0]!, { threshold: 1.5 }), 'THRESHOLD_INVALID'],
      [() => engine.match('ok', good[0]!, { threshold: Number.NaN }), 'THRESHOLD_INVALID'],
      [() => engine.match('ok', good[0]!, { threshold: -0.1 }), 'THRESHOLD_INVALID'],
      [() => engine.match('ok', good[0]!, { threshold: 0.5, topK: 0 }), 'TOPK_INVALID'],
      [() => engine.match('ok', good[0]!, { threshold: 0.5, topK: 2.5 }), 'TOPK_INVALID'],
      [() => engine.match('ok', good[0]!, { threshold: 0.5, topK: 1e9 }), 'TOPK_INVALID'],
      [() => engine.match('missing', good[0]!, { threshold: 0.5 }), 'DATASET_NOT_FOUND'],
      [() => engine.link('ok', new Uint8Array(100), { threshold: 0.5 }), 'CLK_LENGTH_MISMATCH'],
      [() => engine.link('ok', new Uint8Array(0), { threshold: 0.5 }), 'CLK_LENGTH_MISMATCH'],
      [() => engine.link('ok', concatBytes(good), { threshold: 2 }), 'THRESHOLD_INVALID'],
      [() => engine.link('ok', concatBytes(good), { threshold: 0.5, topK: -1 }), 'TOPK_INVALID'],
      [() => engine.encode({}, 'secret', [[1 as unknown as string]]), 'ROWS_INVALID'],
    ];
    for (const [call, code] of cases) await expect(call(), code).rejects.toMatchObject({ code, name: 'PavilionError' });
    const m = await engine.match('ok', good[3]!, { threshold: 1 });
    expect(m.candidates.map((c) => c.index)).toEqual([3]);
  });

  it('decodeClkBase64 checks alphabet and length', () => {
    const clk = randomFilter(rng(10), BYTES, 0.5);
    const b64 = Buffer.from(clk).toString('base64');
    expect(decodeClkBase64(b64, 1024)).toEqual(clk);
    expect(() => decodeClkBase64(b64.slice(0, -4), 1024)).toThrow(
      expect.objectContaining({ code: 'CLK_LENGTH_MISMATCH' }),
    );
    expect(() => decodeClkBase64(`${b64.slice(0, 10)}!${b64.slice(11)}`, 1024)).toThrow(
      expect.objectContaining({ code: 'CLK_BASE64_INVALID' }),
    );
    expect(() => decodeClkBase64('abc', 1024)).toThrow(expect.objectContaining({ code: 'CLK_BASE64_INVALID' }));
    expect(() => decodeClkBase64(b64, 1000)).toThrow(expect.objectContaining({ code: 'FILTER_BITS_INVALID' }));
  });

  it('rejects bad engine options', async () => {
    await expect(createEngine({ threads: 0 })).rejects.toMatchObject({ code: 'ENGINE_OPTIONS_INVALID' });
    await expect(createEngine({ threads: 1.5 })).rejects.toMatchObject({ code: 'ENGINE_OPTIONS_INVALID' });
  });
});

it('a link whose result would be too large fails with LINK_RESULT_TOO_LARGE and the engine keeps working', async () => {
  const engine = await createEngine({ threads: 2, maxLinkPairs: 1000 });
  try {
    const rand = rng(12);
    const base = randomFilters(rand, 5000, 8, [0.5]);
    await engine.loadDataset('many', { refs: refsFor(base.length), clks: base, filterBits: 64 });
    const qs = concatBytes(randomFilters(rand, 64, 8, [0.5]));
    await expect(engine.link('many', qs, { threshold: 0 })).rejects.toMatchObject({
      code: 'LINK_RESULT_TOO_LARGE',
      status: 413,
    });
    // topK bounds the result, so the same linkage succeeds with it
    expect((await engine.link('many', qs, { threshold: 0, topK: 5 })).pairs).toHaveLength(64 * 5);
    expect((await engine.match('many', base[9]!, { threshold: 1 })).candidates[0]!.index).toBeLessThanOrEqual(9);
    await expect(createEngine({ maxLinkPairs: 0 })).rejects.toMatchObject({ code: 'ENGINE_OPTIONS_INVALID' });
  } finally {
    await engine.close();
  }
});

it('workers release a replaced version once its last request has finished', async () => {
  const engine = await createEngine({ threads: 1 });
  try {
    const rand = rng(13);
    const v1 = randomFilters(rand, 100, BYTES, [0.5]);
    const v2 = randomFilters(rand, 100, BYTES, [0.5]);
    await engine.loadDataset('x', { refs: refsFor(100), clks: v1, filterBits: 1024 });
    const inFlight = engine.match('x', v1[0]!, { threshold: 0.5 });
    await engine.loadDataset('x', { refs: refsFor(100), clks: v2, filterBits: 1024 });
    expect((await inFlight).version).toBe(1); // started on version 1, finished on it
    expect((await engine.match('x', v2[0]!, { threshold: 1 })).version).toBe(2);
    // the worker now holds only version 2's instance (version 1 and the warm-up memory are retired)
    const probe = await (engine as PoolEngine).probeSharedMemory('x', 1, 0);
    expect(probe.results[0]!.cachedInstances).toBe(1);
  } finally {
    await engine.close();
  }
});

it('a closed engine answers ENGINE_CLOSED', async () => {
  const engine = await createEngine({ threads: 1 });
  expect(engine.threads).toBe(1);
  const f = randomFilter(rng(11), BYTES, 0.5);
  await engine.loadDataset('a', { refs: ['a'], clks: f, filterBits: 1024 });
  await engine.close();
  await expect(engine.match('a', f, { threshold: 0.5 })).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  await expect(engine.loadDataset('a', { refs: ['a'], clks: f, filterBits: 1024 })).rejects.toMatchObject({
    code: 'ENGINE_CLOSED',
  });
  await expect(engine.encode({}, 's', [['x']])).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  await engine.close(); // idempotent
});
