/**
 * Linkage of two or more parties' CLKs on the engine's pool, with or without
 * blocking. Every record of every party is loaded once into a shared
 * workspace (workspace.ts); the work is a list of independent units:
 *
 * - LSH (blocklib lambda-fold on CLKs): one unit per band. A band sorts every
 *   record by its band key and compares records of different parties that
 *   share a key; a pair that already shares the key of an earlier band is
 *   dropped there, so each pair is found by exactly one band.
 * - explicit blocks (p-sig, blocklib/anonlink-client blocks): the blocks, in
 *   key order, each a unit; duplicates (records sharing several blocks) are
 *   removed when results merge.
 * - no blocking: every cross-party pair, as tiles of the party pairs.
 *
 * A job can be split into `chunk.count` chunks, each a contiguous range of
 * units fixed by the input alone, so any process holding the same CLKs and
 * options computes the same chunk; `mergeCandidatePairs` of all chunks' pairs is
 * the unsplit result (tested in test/engine/linkage/link-parties.test.ts).
 */
import { PavilionError } from '../../common/errors.js';
import { type BlockRuns, blockRuns, type RecordBlocks } from '../blocking/blocks.js';
import { type LambdaFoldConfig, lshPositions } from '../blocking/config.js';
import { PAIR_ENTRY_BYTES } from '../layout.js';
import type { BlockRunsTask, EngineTask, LshBandTask, RunsResult } from '../tasks.js';
import { validateFilterBits, validateThreshold } from '../validation.js';
import { type CandidatePairs, CandidatePairsBuilder } from './candidate-pairs.js';
import { Workspace } from './workspace.js';

export { CandidatePairs, mergeCandidatePairs, type PartyPair } from './candidate-pairs.js';

export type PartyBlocking =
  | { type: 'lsh'; config: LambdaFoldConfig }
  | { type: 'blocks'; parties: readonly RecordBlocks[] };

export interface ChunkSelector {
  /** This chunk, 0 ≤ index < count. */
  index: number;
  /** How many chunks the job is split into. */
  count: number;
}

export interface PartyLinkOptions {
  filterBits: number;
  threshold: number;
  /** Default: no blocking, every cross-party pair is compared. */
  blocking?: PartyBlocking;
  /** Run one chunk of the job only (default: the whole job). */
  chunk?: ChunkSelector;
  /** Called as units finish: units done and total (bands, or blocks' comparisons). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Most pairs before LINK_RESULT_TOO_LARGE. */
  maxPairs: number;
}

export interface PartyLinkResult {
  /** Pairs at or above the threshold, in anonlink's order (score descending, then parties, then records). */
  pairs: CandidatePairs;
  /** Pairs of records actually compared (a pair met in several bands or blocks counts each time). */
  comparisons: number;
  /** Every cross-party pair: what brute force compares. */
  fullComparisons: number;
  chunk: ChunkSelector;
}

export type TaskRunner = <T>(task: EngineTask) => Promise<T>;

/**
 * A party too large to hold twice: its CLKs are written straight into the
 * linkage's shared memory by `fill` (e.g. encoded batch by batch), instead of
 * being copied there from an array.
 */
export interface PartySource {
  records: number;
  fill(target: Uint8Array): Promise<void>;
}

/** Brute force tiles: each run is one tile of one party pair (TILE × TILE records at most). */
const TILE = 2048;
/** Comparisons per explicit-block task (about the engine's link task size, engine/engine.ts). */
const BLOCK_TASK_COMPARISONS = 1 << 21;

function validateChunk(chunk: ChunkSelector | undefined): ChunkSelector {
  if (chunk === undefined) return { index: 0, count: 1 };
  const { index, count } = chunk;
  if (
    !Number.isInteger(count) ||
    count < 1 ||
    count > 1 << 20 ||
    !Number.isInteger(index) ||
    index < 0 ||
    index >= count
  ) {
    throw new PavilionError('CHUNK_INVALID', 'chunk needs an integer count ≥ 1 and an index from 0 to count − 1');
  }
  return chunk;
}

/** Runs of every cross-party pair, tiled. */
function bruteForceRuns(offsets: readonly number[]): BlockRuns {
  const order: number[] = [];
  const runs: number[] = [];
  const comparisons: number[] = [];
  const parties = offsets.length - 1;
  for (let a = 0; a < parties; a++) {
    for (let b = a + 1; b < parties; b++) {
      for (let i = offsets[a]!; i < offsets[a + 1]!; i += TILE) {
        const iEnd = Math.min(offsets[a + 1]!, i + TILE);
        for (let j = offsets[b]!; j < offsets[b + 1]!; j += TILE) {
          const jEnd = Math.min(offsets[b + 1]!, j + TILE);
          runs.push(order.length);
          for (let g = i; g < iEnd; g++) order.push(g);
          for (let g = j; g < jEnd; g++) order.push(g);
          runs.push(order.length);
          comparisons.push((iEnd - i) * (jEnd - j));
        }
      }
    }
  }
  return { order: Uint32Array.from(order), runs: Uint32Array.from(runs), comparisons: Float64Array.from(comparisons) };
}

/** Splits [0, weights.length) into `count` contiguous ranges of about equal total weight; returns range `index`. */
function weightedRange(weights: Float64Array, count: number, index: number): [number, number] {
  let total = 0;
  for (const w of weights) total += w;
  const lo = (total * index) / count;
  const hi = (total * (index + 1)) / count;
  let acc = 0;
  let start = weights.length;
  let end = weights.length;
  for (let u = 0; u < weights.length; u++) {
    const mid = acc + weights[u]! / 2; // a unit belongs to the chunk holding its midpoint
    if (start === weights.length && mid >= lo) start = u;
    if (mid >= hi && index < count - 1) {
      end = u;
      break;
    }
    acc += weights[u]!;
  }
  return [Math.min(start, end), end];
}

export async function linkParties(
  run: TaskRunner,
  threads: number,
  parties: readonly (Uint8Array | PartySource)[],
  opts: PartyLinkOptions,
): Promise<PartyLinkResult> {
  const filterBits = validateFilterBits(opts.filterBits);
  const threshold = validateThreshold(opts.threshold);
  const chunk = validateChunk(opts.chunk);
  const bytes = filterBits / 8;
  if (!Array.isArray(parties) || parties.length < 2 || parties.length > 255) {
    throw new PavilionError('PARTIES_INVALID', 'a linkage needs 2 to 255 parties');
  }
  const sizes = parties.map((p, i) => {
    if (p instanceof Uint8Array && p.length > 0 && p.length % bytes === 0) return p.length / bytes;
    const source = p as PartySource;
    const isSource = !(p instanceof Uint8Array) && typeof source?.fill === 'function';
    if (isSource && Number.isSafeInteger(source.records) && source.records > 0) return source.records;
    throw new PavilionError(
      'CLK_LENGTH_MISMATCH',
      `party ${i} must be a non-empty concatenation of ${filterBits}-bit CLKs`,
    );
  });
  const offsets = [0];
  for (const n of sizes) offsets.push(offsets.at(-1)! + n);
  if (offsets.at(-1)! > 0xffffffff) throw new PavilionError('DATASET_TOO_LARGE', 'too many records for one linkage');
  let fullComparisons = 0;
  for (let a = 0; a < sizes.length; a++)
    for (let b = a + 1; b < sizes.length; b++) fullComparisons += sizes[a]! * sizes[b]!;

  const blocking = opts.blocking;
  let positions: number[][] = [];
  let runs: BlockRuns | undefined;
  if (blocking?.type === 'lsh') {
    positions = lshPositions(blocking.config, filterBits);
  } else if (blocking?.type === 'blocks') {
    if (blocking.parties.length !== parties.length) {
      throw new PavilionError(
        'BLOCKS_INVALID',
        `blocks for ${blocking.parties.length} parties, CLKs for ${parties.length}`,
      );
    }
    blocking.parties.forEach((b, p) => {
      if (b.length !== sizes[p])
        throw new PavilionError('BLOCKS_INVALID', `party ${p}: blocks for ${b.length} records, ${sizes[p]} CLKs`);
    });
    runs = blockRuns(blocking.parties, offsets);
  } else {
    runs = bruteForceRuns(offsets);
  }

  const k = positions[0]?.length ?? 0;
  const ws = new Workspace(sizes, filterBits, {
    positionCount: positions.length * k,
    blockOrderLength: runs?.order.length ?? 0,
    blockRunCount: runs ? runs.runs.length / 2 : 0,
    lshSlots: positions.length > 0,
    slotCount: threads,
  });
  const { layout } = ws;
  new Uint16Array(ws.memory.buffer, layout.posPtr, positions.length * k).set(positions.flat());
  if (runs) {
    new Uint32Array(ws.memory.buffer, layout.blockOrderPtr, runs.order.length).set(runs.order);
    new Uint32Array(ws.memory.buffer, layout.blockRunsPtr, runs.runs.length).set(runs.runs);
  }

  const cancelled = (): PavilionError => new PavilionError('LINK_CANCELLED', 'the linkage was cancelled');
  let aborted = false;
  const pairs = new CandidatePairsBuilder();
  let comparisons = 0;
  let retireAfter: Promise<unknown> = Promise.resolve();
  try {
    for (let p = 0; p < parties.length; p++) {
      const party = parties[p]!;
      if (party instanceof Uint8Array) ws.partyFilters(p).set(party);
      else await party.fill(ws.partyFilters(p));
    }
    // popcounts, one slice per worker
    const per = Math.ceil(layout.count / threads);
    const popcounts = Promise.all(
      Array.from({ length: Math.ceil(layout.count / per) }, (_, s) =>
        run<number>({
          type: 'popcount',
          memoryId: ws.memoryId,
          memory: ws.memory,
          filtersPtr: layout.filtersPtr + s * per * bytes,
          popsPtr: layout.popsPtr + s * per * 4,
          count: Math.min(per, layout.count - s * per),
          bytes,
        }),
      ),
    );
    retireAfter = popcounts;
    await popcounts;

    // the units of this chunk, then tasks of them
    const tasks: { weight: number; make: (slot: number) => EngineTask }[] = [];
    const base = (slot: number) => {
      const s = ws.slot(slot);
      return {
        memoryId: ws.memoryId,
        memory: ws.memory,
        filtersPtr: layout.filtersPtr,
        popsPtr: layout.popsPtr,
        partiesPtr: layout.partiesPtr,
        bytes,
        threshold,
        cursorPtr: s.cursorPtr,
        outPtr: s.outPtr,
        outCapacity: s.outCapacity,
      };
    };
    if (positions.length > 0) {
      const [b0, b1] = weightedRange(new Float64Array(positions.length).fill(1), chunk.count, chunk.index);
      for (let band = b0; band < b1; band++) {
        tasks.push({
          weight: 1,
          make: (slot): LshBandTask => {
            const s = ws.slot(slot);
            return {
              ...base(slot),
              type: 'lshBand',
              count: layout.count,
              posPtr: layout.posPtr,
              k,
              band,
              keysPtr: s.keysPtr,
              orderPtr: s.orderPtr,
              tmpKeysPtr: s.tmpKeysPtr,
              tmpOrderPtr: s.tmpOrderPtr,
              countsPtr: s.countsPtr,
              comparisonsPtr: s.comparisonsPtr,
            };
          },
        });
      }
    } else if (runs) {
      const [r0, r1] = weightedRange(runs.comparisons, chunk.count, chunk.index);
      for (let r = r0; r < r1; ) {
        let weight = 0;
        const start = r;
        while (r < r1 && (r === start || weight + runs.comparisons[r]! <= BLOCK_TASK_COMPARISONS))
          weight += runs.comparisons[r++]!;
        const runCount = r - start;
        tasks.push({
          weight,
          make: (slot): BlockRunsTask => ({
            ...base(slot),
            type: 'blockRuns',
            orderPtr: layout.blockOrderPtr,
            runsPtr: layout.blockRunsPtr + start * 8,
            runCount,
          }),
        });
      }
    }

    const total = tasks.reduce((s, t) => s + t.weight, 0);
    let done = 0;
    let next = 0;
    const runner = async (): Promise<void> => {
      while (!aborted && next < tasks.length) {
        const task = tasks[next++]!;
        if (opts.signal?.aborted) throw cancelled();
        const slot = await ws.slots.acquire();
        let buffer: RunsResult;
        try {
          buffer = await run<RunsResult>(task.make(slot));
        } finally {
          ws.slots.release(slot);
        }
        const view = new DataView(buffer);
        comparisons += view.getFloat64(0, true);
        const n = (buffer.byteLength - 8) / PAIR_ENTRY_BYTES;
        if (pairs.length + n > opts.maxPairs) {
          throw new PavilionError(
            'LINK_RESULT_TOO_LARGE',
            `the linkage would return more than ${opts.maxPairs} pairs: raise the threshold`,
          );
        }
        for (let e = 0; e < n; e++) {
          const o = 8 + e * PAIR_ENTRY_BYTES;
          const [partyA, recordA] = ws.locate(view.getUint32(o, true));
          const [partyB, recordB] = ws.locate(view.getUint32(o + 4, true));
          pairs.push(partyA, recordA, partyB, recordB, view.getFloat64(o + 8, true));
        }
        done += task.weight;
        if (!aborted) opts.onProgress?.(done, total);
      }
    };
    const work = Promise.all(
      Array.from({ length: Math.min(threads, tasks.length) }, () =>
        runner().catch((err: unknown) => {
          aborted = true;
          throw err;
        }),
      ),
    );
    // tasks still running after a failure or a cancellation finish in the background; the memory goes after them
    retireAfter = work;
    if (opts.signal) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          aborted = true;
          reject(cancelled());
        };
        if (opts.signal!.aborted) onAbort();
        opts.signal!.addEventListener('abort', onAbort, { once: true });
        work.then(() => resolve(), reject).finally(() => opts.signal!.removeEventListener('abort', onAbort));
      });
    } else {
      await work;
    }
  } catch (err) {
    aborted = true;
    throw err;
  } finally {
    retireAfter.finally(() => ws.retire()).catch(() => undefined);
  }
  return { pairs: pairs.build(), comparisons, fullComparisons, chunk };
}
