/**
 * Runs one explicitly chosen Dice build in-process on a private shared
 * memory, with the same inputs and result shapes as wasm/reference/dice.ts,
 * so tests can compare them directly.
 */
import { createDiceMemory, type DiceExports, type DiceKernelKind, instantiateDice } from '../../../wasm/dice.js';
import { type Candidate, compareCandidates, comparePairs, type Pair } from '../../../wasm/reference/dice.js';

const align = (n: number): number => Math.ceil(n / 64) * 64;

/** A build and, for the SIMD build, its counting strategy. */
export type KernelVariant = 'simd-bytewise' | 'simd-lanes' | 'scalar';

export class KernelHarness {
  readonly kind: DiceKernelKind;
  readonly strategy: 'bytewise' | 'lanes' | undefined;

  constructor(readonly variant: KernelVariant | DiceKernelKind) {
    this.kind = variant === 'scalar' ? 'scalar' : 'simd';
    this.strategy = variant === 'simd-bytewise' ? 'bytewise' : variant === 'simd-lanes' ? 'lanes' : undefined;
  }

  private setup(queries: readonly Uint8Array[], base: readonly Uint8Array[], extraBytes: number) {
    const bytes = (queries[0] ?? base[0])!.length;
    const basePtr = 65536;
    const basePopsPtr = align(basePtr + base.length * bytes);
    const queriesPtr = align(basePopsPtr + base.length * 4);
    const queryPopsPtr = align(queriesPtr + queries.length * bytes);
    const scratchPtr = align(queryPopsPtr + queries.length * 4);
    const memory = createDiceMemory(scratchPtr + extraBytes);
    const u8 = new Uint8Array(memory.buffer);
    base.forEach((f, i) => {
      u8.set(f, basePtr + i * bytes);
    });
    queries.forEach((f, i) => {
      u8.set(f, queriesPtr + i * bytes);
    });
    const k = instantiateDice(this.kind, memory, undefined, this.strategy).exports;
    k.popcountFilters(basePtr, base.length, bytes, basePopsPtr);
    k.popcountFilters(queriesPtr, queries.length, bytes, queryPopsPtr);
    return { bytes, basePtr, basePopsPtr, queriesPtr, queryPopsPtr, scratchPtr, memory, k };
  }

  popcounts(filters: readonly Uint8Array[]): number[] {
    const s = this.setup([], filters, 0);
    return Array.from(new Uint32Array(s.memory.buffer, s.basePopsPtr, filters.length));
  }

  countAnd(a: Uint8Array, b: Uint8Array): number {
    const s = this.setup([a], [b], 0);
    return s.k.countAnd(s.queriesPtr, s.basePtr, s.bytes);
  }

  /** Top-k per query, optionally scanning [start, end) in several calls of `chunk` filters. */
  topK(
    queries: readonly Uint8Array[],
    base: readonly Uint8Array[],
    threshold: number,
    k: number,
    chunk = base.length,
  ): Candidate[][] {
    const heapBytes = queries.length * k * 12 + queries.length * 8; // counts + the kernel's floors
    const s = this.setup(queries, base, align(heapBytes));
    const scoresPtr = s.scratchPtr;
    const indicesPtr = scoresPtr + queries.length * k * 8;
    const countsPtr = indicesPtr + queries.length * k * 4;
    new Uint32Array(s.memory.buffer, countsPtr, queries.length).fill(0);
    for (let start = 0; start < base.length; start += Math.max(1, chunk)) {
      const end = Math.min(base.length, start + Math.max(1, chunk));
      s.k.topKAtThreshold(
        s.queriesPtr,
        s.queryPopsPtr,
        queries.length,
        s.basePtr,
        s.basePopsPtr,
        start,
        end,
        s.bytes,
        threshold,
        k,
        scoresPtr,
        indicesPtr,
        countsPtr,
      );
    }
    const counts = new Uint32Array(s.memory.buffer, countsPtr, queries.length);
    const scores = new Float64Array(s.memory.buffer, scoresPtr, queries.length * k);
    const indices = new Uint32Array(s.memory.buffer, indicesPtr, queries.length * k);
    return queries.map((_, q) => {
      const list: Candidate[] = [];
      for (let i = 0; i < counts[q]!; i++) list.push({ index: indices[q * k + i]!, score: scores[q * k + i]! });
      return list.sort(compareCandidates);
    });
  }

  /**
   * One query's top-k through the sketch-bounded kernel (wasm/assembly/dice.ts, topKSketched), the base
   * scanned in calls of `chunk` filters; with `alternate` every other call runs the plain topKAtThreshold on
   * the same heap, as the engine's worker does when a query's sketch stops skipping. Also returns how many
   * filters the sketched calls counted in full.
   */
  topKSketched(
    query: Uint8Array,
    base: readonly Uint8Array[],
    threshold: number,
    k: number,
    opts: { chunk?: number; alternate?: boolean } = {},
  ): { candidates: Candidate[]; counted: number } {
    const bytes = query.length;
    const sketch = (s: ReturnType<KernelHarness['setup']>) => s.k.sketchBytesFor(bytes);
    const probe = this.setup([query], [query], 0);
    const sketchSize = sketch(probe);
    const heapBytes = k * 12 + 8;
    const planes = 40 * Math.ceil(bytes / 128);
    const s = this.setup([query], base, align(base.length * sketchSize) + align(planes) + align(heapBytes));
    const sketchPtr = s.scratchPtr;
    const planesPtr = align(sketchPtr + base.length * sketchSize);
    const scoresPtr = align(planesPtr + planes);
    const indicesPtr = scoresPtr + k * 8;
    const countsPtr = indicesPtr + k * 4;
    s.k.sketchFilters(s.basePtr, base.length, bytes, sketchPtr);
    new Uint32Array(s.memory.buffer, countsPtr, 2).fill(0);
    const chunk = Math.max(1, opts.chunk ?? base.length);
    let counted = 0;
    let call = 0;
    for (let start = 0; start < base.length; start += chunk, call++) {
      const end = Math.min(base.length, start + chunk);
      if (opts.alternate && call % 2 === 1)
        s.k.topKAtThreshold(
          s.queriesPtr,
          s.queryPopsPtr,
          1,
          s.basePtr,
          s.basePopsPtr,
          start,
          end,
          bytes,
          threshold,
          k,
          scoresPtr,
          indicesPtr,
          countsPtr,
        );
      else
        counted += s.k.topKSketched(
          s.queriesPtr,
          planesPtr,
          s.basePtr,
          s.basePopsPtr,
          sketchPtr,
          start,
          end,
          bytes,
          threshold,
          k,
          scoresPtr,
          indicesPtr,
          countsPtr,
        );
    }
    const n = new Uint32Array(s.memory.buffer, countsPtr, 1)[0]!;
    const scores = new Float64Array(s.memory.buffer, scoresPtr, n);
    const indices = new Uint32Array(s.memory.buffer, indicesPtr, n);
    const candidates: Candidate[] = [];
    for (let i = 0; i < n; i++) candidates.push({ index: indices[i]!, score: scores[i]! });
    return { candidates: candidates.sort(compareCandidates), counted };
  }

  /**
   * All pairs >= threshold, draining an output area of `capacity` entries
   * (default: the minimum the kernel accepts) and resuming until done.
   * Returns the pairs in anonlink order and how many calls it took.
   */
  pairs(
    queries: readonly Uint8Array[],
    base: readonly Uint8Array[],
    threshold: number,
    capacity?: number,
  ): { pairs: Pair[]; calls: number } {
    const bytes = (queries[0] ?? base[0])!.length;
    const probe = this.setup([], [new Uint8Array(bytes)], 0).k as DiceExports;
    const cap = capacity ?? probe.pairsStepEntries(bytes);
    const s = this.setup(queries, base, 64 + cap * 16);
    const cursorPtr = s.scratchPtr;
    const outPtr = cursorPtr + 64;
    const cursor = new Uint32Array(s.memory.buffer, cursorPtr, 3);
    cursor.set([0, 0, 0]);
    const out: Pair[] = [];
    let calls = 0;
    do {
      const n = s.k.pairsAtThreshold(
        s.queriesPtr,
        s.queryPopsPtr,
        queries.length,
        s.basePtr,
        s.basePopsPtr,
        0,
        base.length,
        s.bytes,
        threshold,
        outPtr,
        cap,
        cursorPtr,
      );
      calls++;
      const view = new DataView(s.memory.buffer, outPtr, n * 16);
      for (let i = 0; i < n; i++)
        out.push({
          query: view.getUint32(i * 16, true),
          index: view.getUint32(i * 16 + 4, true),
          score: view.getFloat64(i * 16 + 8, true),
        });
      if (calls > 10_000) throw new Error('pairsAtThreshold made no progress');
    } while (cursor[2] !== 1);
    return { pairs: out.sort(comparePairs), calls };
  }
}

/**
 * A filter whose bits are set independently with probability `density`,
 * rounded to a multiple of 1/16: bits are built from 32-bit random words
 * (AND lowers the probability by half, OR raises it), 4 words per output
 * word instead of one random number per bit.
 */
export function randomFilter(rand: () => number, bytes: number, density: number): Uint8Array {
  const sixteenths = Math.round(Math.min(1, Math.max(0, density)) * 16);
  const f = new Uint8Array(bytes);
  if (sixteenths === 0) return f;
  if (sixteenths === 16) return f.fill(255);
  const words = new Uint32Array(f.buffer);
  for (let w = 0; w < words.length; w++) {
    // binary expansion of sixteenths/16, applied from the least significant bit
    let x = 0;
    for (let bit = 0; bit < 4; bit++) {
      const r = (rand() * 4294967296) >>> 0;
      x = (sixteenths >> bit) & 1 ? r | x : r & x;
    }
    words[w] = x >>> 0;
  }
  return f;
}

/** Random filters, each drawing its own density from `densities`. */
export function randomFilters(
  rand: () => number,
  count: number,
  bytes: number,
  densities: readonly number[],
): Uint8Array[] {
  return Array.from({ length: count }, () =>
    randomFilter(rand, bytes, densities[Math.floor(rand() * densities.length)]!),
  );
}

/** A copy of `f` with about `flips` random bits flipped: a near match. */
export function perturb(rand: () => number, f: Uint8Array, flips: number): Uint8Array {
  const g = f.slice();
  for (let i = 0; i < flips; i++) {
    const bit = Math.floor(rand() * g.length * 8);
    g[bit >> 3] ^= 1 << (bit & 7);
  }
  return g;
}

/** Deterministic PRNG (mulberry32) so a failing case can be replayed from its seed. */
export { seededRandom as rng } from '../../../common/seeded-random.js';
