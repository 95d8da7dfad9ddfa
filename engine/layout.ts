/**
 * Byte layout of one dataset version's shared WebAssembly.Memory, computed
 * identically on the main thread and in workers:
 *
 *   [0, 64 KiB)          header page (Int32 words, see HEADER_*; then one u32 scan cursor per
 *                        one-query search in flight, HEADER_CURSORS of them); the kernels have
 *                        no static data, so nothing else uses it
 *   slots                `slotCount` scratch slots, one per in-flight task:
 *                        queries | cursor | output area | scratch
 *   base filters         tiles of 512 filters (wasm/assembly/dice.ts, "Tiled (bit-sliced) base"): written
 *                        as rows, one filter after another, then rewritten tile by tile as bit planes when
 *                        the version is installed (engine/engine.ts); the last tile is padded with zeros
 *   base popcounts       count × u32
 *   tile ranges          tiles × (u32 min, u32 max) popcount of each tile's filters
 *
 * A slot's scratch holds one tile of filters as rows (read back by an `untile` task) or a tiled
 * search's plane list and counters, whichever is larger. Slots are handed out by the main thread
 * (engine/slots.ts), so two tasks never share scratch, whatever worker runs them.
 */
import { TILE_LANES, tileBytes, tiledScratchBytes, WASM_PAGE_BYTES } from '../wasm/dice.js';
import { MAX_TOP_K } from './validation.js';

/** Int32 index of the "retired" flag: 1 once no task uses this version; workers then drop their instance. */
export const HEADER_RETIRED = 0;
/** Int32 indices used by the shared-memory probe task (tests). */
export const HEADER_PROBE_IN = 1;
export const HEADER_PROBE_OUT = 2;
/** Byte offset and number of the scan cursors a one-query search's tasks share (engine/engine.ts match). */
export const HEADER_CURSORS_OFFSET = 64;
export const HEADER_CURSORS = 1024;

/** Queries per task at most (docs/decisions.md, "Pool": 64 queries × 250k filters per task kept 2 workers at 1.7×). */
export const MAX_QUERIES_PER_TASK = 64;
/** Output area per slot: 65,536 pair entries of 16 bytes; also holds top-k heaps. */
export const SLOT_OUTPUT_BYTES = 1 << 20;
/** One pairsTiled result entry: u32 query, u32 base index, f64 score (wasm/assembly/dice.ts). */
export const PAIR_ENTRY_BYTES = 16;

export interface SlotLayout {
  queriesPtr: number;
  cursorPtr: number;
  outPtr: number;
  scratchPtr: number;
}

export interface DatasetLayout {
  bytes: number;
  count: number;
  tiles: number;
  tileBytes: number;
  slotCount: number;
  slotBytes: number;
  scratchBytes: number;
  basePtr: number;
  popsPtr: number;
  rangesPtr: number;
  totalBytes: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function computeLayout(filterBits: number, count: number, slotCount: number): DatasetLayout {
  const bytes = filterBits / 8;
  const tiles = Math.ceil(count / TILE_LANES);
  const scratchBytes = align(Math.max(tileBytes(bytes), tiledScratchBytes(bytes)), 64);
  const queryBytes = align(MAX_QUERIES_PER_TASK * bytes + 16, 64);
  const slotBytes = queryBytes + SLOT_OUTPUT_BYTES + scratchBytes;
  const basePtr = align(WASM_PAGE_BYTES + slotCount * slotBytes, 64);
  const popsPtr = align(basePtr + tiles * tileBytes(bytes), 64);
  const rangesPtr = align(popsPtr + count * 4, 64);
  const totalBytes = rangesPtr + tiles * 8;
  return {
    bytes,
    count,
    tiles,
    tileBytes: tileBytes(bytes),
    slotCount,
    slotBytes,
    scratchBytes,
    basePtr,
    popsPtr,
    rangesPtr,
    totalBytes,
  };
}

export function slotLayout(layout: DatasetLayout, slot: number): SlotLayout {
  const start = WASM_PAGE_BYTES + slot * layout.slotBytes;
  const queriesPtr = start;
  const cursorPtr = queriesPtr + MAX_QUERIES_PER_TASK * layout.bytes;
  const outPtr = align(cursorPtr + 16, 64);
  const scratchPtr = outPtr + SLOT_OUTPUT_BYTES;
  return { queriesPtr, cursorPtr, outPtr, scratchPtr };
}

/** Bytes of top-k heap state per query: k × (f64 score + u32 index), a count and the kernel's floor (u32 each). */
export const heapBytesPerQuery = (k: number): number => k * 12 + 8;

/** Queries per top-k task so that their heaps fit the output area. */
export function queriesPerTopKTask(k: number): number {
  return Math.max(1, Math.min(MAX_QUERIES_PER_TASK, Math.floor(SLOT_OUTPUT_BYTES / heapBytesPerQuery(k))));
}

/** Heap arrays of a top-k task inside a slot's output area (countsPtr: counts, then the kernel's floors). */
export function heapLayout(
  slot: SlotLayout,
  queryCount: number,
  k: number,
): { scoresPtr: number; indicesPtr: number; countsPtr: number } {
  const scoresPtr = slot.outPtr;
  const indicesPtr = scoresPtr + queryCount * k * 8;
  const countsPtr = indicesPtr + queryCount * k * 4;
  return { scoresPtr, indicesPtr, countsPtr };
}

// MAX_TOP_K must leave room for at least one query's heap.
if (heapBytesPerQuery(MAX_TOP_K) > SLOT_OUTPUT_BYTES) throw new Error('MAX_TOP_K does not fit a slot');
