/**
 * Byte layout of one dataset version's shared WebAssembly.Memory, computed
 * identically on the main thread and in workers:
 *
 *   [0, 64 KiB)          header page (Int32 words, see HEADER_*); the kernels
 *                        have no static data, so nothing else uses it
 *   slots                `slotCount` scratch slots, one per in-flight task:
 *                        queries | query popcounts | cursor | output area
 *   base filters         count × bytes, contiguous
 *   base popcounts       count × u32
 *   base sketches        count × sketchBytes(bytes): block-count sketches for the sketch-bounded 1:N
 *                        kernel (wasm/assembly/dice.ts); written only for sparse datasets
 *                        (engine/engine.ts), so for the others the pages are never touched and
 *                        never resident
 *
 * Slots are handed out by the main thread (engine/slots.ts), so two tasks
 * never share scratch, whatever worker runs them.
 */
import { sketchBytes, WASM_PAGE_BYTES } from '../wasm/dice.js';
import { MAX_TOP_K } from './validation.js';

/** Int32 index of the "retired" flag: 1 once no task uses this version; workers then drop their instance. */
export const HEADER_RETIRED = 0;
/** Int32 indices used by the shared-memory probe task (tests). */
export const HEADER_PROBE_IN = 1;
export const HEADER_PROBE_OUT = 2;

/** Queries per task at most (docs/decisions.md, "Pool": 64 queries × 250k filters per task kept 2 workers at 1.7×). */
export const MAX_QUERIES_PER_TASK = 64;
/** Output area per slot: 65,536 pair entries of 16 bytes; also holds top-k heaps. */
export const SLOT_OUTPUT_BYTES = 1 << 20;
/** One pairsAtThreshold result entry: u32 query, u32 base index, f64 score (wasm/assembly/dice.ts). */
export const PAIR_ENTRY_BYTES = 16;

export interface SlotLayout {
  queriesPtr: number;
  queryPopsPtr: number;
  cursorPtr: number;
  outPtr: number;
}

export interface DatasetLayout {
  bytes: number;
  count: number;
  slotCount: number;
  slotBytes: number;
  basePtr: number;
  popsPtr: number;
  sketchPtr: number;
  sketchBytes: number;
  totalBytes: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function computeLayout(filterBits: number, count: number, slotCount: number): DatasetLayout {
  const bytes = filterBits / 8;
  const slotBytes = align(MAX_QUERIES_PER_TASK * bytes + MAX_QUERIES_PER_TASK * 4 + 16, 64) + SLOT_OUTPUT_BYTES;
  const basePtr = align(WASM_PAGE_BYTES + slotCount * slotBytes, 64);
  const popsPtr = align(basePtr + count * bytes, 64);
  const sketchPtr = align(popsPtr + count * 4, 64);
  const perSketch = sketchBytes(bytes);
  const totalBytes = sketchPtr + count * perSketch;
  return { bytes, count, slotCount, slotBytes, basePtr, popsPtr, sketchPtr, sketchBytes: perSketch, totalBytes };
}

export function slotLayout(layout: DatasetLayout, slot: number): SlotLayout {
  const start = WASM_PAGE_BYTES + slot * layout.slotBytes;
  const queriesPtr = start;
  const queryPopsPtr = queriesPtr + MAX_QUERIES_PER_TASK * layout.bytes;
  const cursorPtr = queryPopsPtr + MAX_QUERIES_PER_TASK * 4;
  const outPtr = align(cursorPtr + 16, 64);
  return { queriesPtr, queryPopsPtr, cursorPtr, outPtr };
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
