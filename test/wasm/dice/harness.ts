/**
 * Runs one explicitly chosen Dice build in-process on a private shared
 * memory, with the same inputs and result shapes as wasm/reference/dice.ts,
 * so tests can compare them directly.
 */
import {
  createDiceMemory,
  type DiceKernelKind,
  instantiateDice,
  TILE_LANES,
  tileBytes,
  tiledScratchBytes,
} from '../../../wasm/dice.js';
import { type Candidate, compareCandidates, comparePairs, type Pair } from '../../../wasm/reference/dice.js';

const align = (n: number): number => Math.ceil(n / 64) * 64;

/** Each query's top-k heap (k slots from scoresPtr and indicesPtr, counts at countsPtr), best first. */
function readHeaps(
  memory: WebAssembly.Memory,
  queryCount: number,
  k: number,
  scoresPtr: number,
  indicesPtr: number,
  countsPtr: number,
): Candidate[][] {
  const counts = new Uint32Array(memory.buffer, countsPtr, queryCount);
  const scores = new Float64Array(memory.buffer, scoresPtr, queryCount * k);
  const indices = new Uint32Array(memory.buffer, indicesPtr, queryCount * k);
  return Array.from({ length: queryCount }, (_, q) => {
    const list: Candidate[] = [];
    for (let i = 0; i < counts[q]!; i++) list.push({ index: indices[q * k + i]!, score: scores[q * k + i]! });
    return list.sort(compareCandidates);
  });
}

/** Appends `n` pair entries ({u32 query, u32 index, f64 score}, 16 bytes each) at outPtr to `out`. */
function readPairs(memory: WebAssembly.Memory, outPtr: number, n: number, out: Pair[]): void {
  const view = new DataView(memory.buffer, outPtr, n * 16);
  for (let i = 0; i < n; i++)
    out.push({
      query: view.getUint32(i * 16, true),
      index: view.getUint32(i * 16 + 4, true),
      score: view.getFloat64(i * 16 + 8, true),
    });
}

export class KernelHarness {
  constructor(readonly kind: DiceKernelKind) {}

  private setup(queries: readonly Uint8Array[], base: readonly Uint8Array[], extraBytes: number) {
    const bytes = (queries[0] ?? base[0])!.length;
    const basePtr = 65536;
    const basePopsPtr = align(basePtr + base.length * bytes);
    const queriesPtr = align(basePopsPtr + base.length * 4);
    const scratchPtr = align(queriesPtr + queries.length * bytes);
    const memory = createDiceMemory(scratchPtr + extraBytes);
    const u8 = new Uint8Array(memory.buffer);
    base.forEach((f, i) => {
      u8.set(f, basePtr + i * bytes);
    });
    queries.forEach((f, i) => {
      u8.set(f, queriesPtr + i * bytes);
    });
    const k = instantiateDice(this.kind, memory).exports;
    k.popcountFilters(basePtr, base.length, bytes, basePopsPtr);
    return { bytes, basePtr, basePopsPtr, queriesPtr, scratchPtr, memory, k };
  }

  /**
   * setup with the base padded to whole tiles (zero filters) and tiled by tileFilters: its ranges at
   * rangesPtr, a scratch for tiling and then for the tiled search at scratchPtr, `extraBytes` free at extraPtr.
   */
  private tiled(queries: readonly Uint8Array[], base: readonly Uint8Array[], extraBytes: number) {
    const bytes = (queries[0] ?? base[0])!.length;
    const tiles = Math.ceil(base.length / TILE_LANES);
    const scratch = align(Math.max(tileBytes(bytes), tiledScratchBytes(bytes)));
    const padded = [...base, ...Array.from({ length: tiles * TILE_LANES - base.length }, () => new Uint8Array(bytes))];
    const s = this.setup(queries, padded, align(tiles * 8) + scratch + extraBytes);
    const rangesPtr = s.scratchPtr;
    const scratchPtr = align(rangesPtr + tiles * 8);
    s.k.tileFilters(s.basePtr, s.basePopsPtr, rangesPtr, 0, tiles, base.length, bytes, scratchPtr);
    return { ...s, rangesPtr, scratchPtr, extraPtr: scratchPtr + scratch };
  }

  popcounts(filters: readonly Uint8Array[]): number[] {
    const s = this.setup([], filters, 0);
    return Array.from(new Uint32Array(s.memory.buffer, s.basePopsPtr, filters.length));
  }

  countAnd(a: Uint8Array, b: Uint8Array): number {
    const s = this.setup([a], [b], 0);
    return s.k.countAnd(s.queriesPtr, s.basePtr, s.bytes);
  }

  /**
   * Top-k per query through topKTiled (wasm/assembly/dice.ts): the base rewritten as tiles by tileFilters,
   * each query scanned in calls of `chunk` filters on its own heap.
   */
  topK(
    queries: readonly Uint8Array[],
    base: readonly Uint8Array[],
    threshold: number,
    k: number,
    chunk = base.length,
  ): Candidate[][] {
    const s = this.tiled(queries, base, queries.length * k * 12 + queries.length * 8);
    const { bytes, rangesPtr, scratchPtr } = s;
    const scoresPtr = s.extraPtr;
    const indicesPtr = scoresPtr + queries.length * k * 8;
    const countsPtr = indicesPtr + queries.length * k * 4;
    new Uint32Array(s.memory.buffer, countsPtr, queries.length).fill(0);
    const step = Math.max(1, chunk);
    queries.forEach((_, q) => {
      for (let start = 0; start < base.length; start += step) {
        s.k.topKTiled(
          s.queriesPtr + q * bytes,
          scratchPtr,
          s.basePtr,
          s.basePopsPtr,
          rangesPtr,
          start,
          Math.min(base.length, start + step),
          bytes,
          threshold,
          k,
          queries.length,
          q,
          scoresPtr,
          indicesPtr,
          countsPtr,
        );
      }
    });
    return readHeaps(s.memory, queries.length, k, scoresPtr, indicesPtr, countsPtr);
  }

  /**
   * All pairs >= threshold through pairsTiled, one query at a time over [0, base.length), into an output
   * area of `capacity` entries drained whenever the kernel stops; the pairs in anonlink order and the calls.
   */
  pairs(
    queries: readonly Uint8Array[],
    base: readonly Uint8Array[],
    threshold: number,
    capacity = 1 << 16,
  ): { pairs: Pair[]; calls: number } {
    const s = this.tiled(queries, base, 64 + capacity * 16);
    const { bytes, rangesPtr, scratchPtr } = s;
    const cursorPtr = s.extraPtr;
    const outPtr = cursorPtr + 64;
    const cursor = new Uint32Array(s.memory.buffer, cursorPtr, 1);
    const out: Pair[] = [];
    let calls = 0;
    queries.forEach((_, q) => {
      for (let start = 0; start < base.length; start = cursor[0]!, calls++) {
        const n = s.k.pairsTiled(
          s.queriesPtr + q * bytes,
          scratchPtr,
          s.basePtr,
          s.basePopsPtr,
          rangesPtr,
          start,
          base.length,
          bytes,
          threshold,
          q,
          outPtr,
          capacity,
          cursorPtr,
        );
        readPairs(s.memory, outPtr, n, out);
      }
    });
    return { pairs: out.sort(comparePairs), calls };
  }

  /** The base tiled by tileFilters, then filters [first, first + count) read back by untileFilters. */
  untiled(base: readonly Uint8Array[], first: number, count: number): Uint8Array {
    const s = this.tiled([], base, count * base[0]!.length);
    const { bytes, extraPtr: outPtr } = s;
    s.k.untileFilters(s.basePtr, first, count, bytes, outPtr);
    return new Uint8Array(s.memory.buffer, outPtr, count * bytes).slice();
  }

  /** The kernel's own figures for the sizes the JS side mirrors (wasm/dice.ts). */
  sizes(bytes: number): { tileBytes: number; scratchBytes: number } {
    const { k } = this.setup([], [new Uint8Array(bytes)], 0);
    return { tileBytes: k.tileBytesFor(bytes), scratchBytes: k.tiledScratchBytes(bytes) };
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
