/**
 * Messages between the engine (main thread) and its Piscina workers. Shared
 * memories travel as WebAssembly.Memory handles (structured clone shares the
 * backing store; nothing is copied). Results of top-k and small pair tasks
 * stay in the task's slot, where the main thread reads them.
 */
import type { DiceKernelKind } from '../wasm/dice.js';
import type { CsvChunkSpec } from './csv-encode.js';

export interface WorkerInit {
  kind: DiceKernelKind;
  /** Compiled once on the main thread; WebAssembly.Module is shareable with workers. */
  module: WebAssembly.Module;
}

/** Identifies a dataset version's memory; workers cache one instance per memoryId. */
interface MemoryRef {
  memoryId: number;
  memory: WebAssembly.Memory;
}

export interface PopcountTask extends MemoryRef {
  type: 'popcount';
  filtersPtr: number;
  popsPtr: number;
  count: number;
  bytes: number;
}

/**
 * Popcounts of tiles [firstTile, firstTile + tileCount) of a base written as rows, then those tiles
 * rewritten as bit planes with their popcount ranges (wasm/assembly/dice.ts tileFilters).
 */
export interface TileTask extends MemoryRef {
  type: 'tile';
  basePtr: number;
  popsPtr: number;
  rangesPtr: number;
  firstTile: number;
  tileCount: number;
  /** Filters in the whole base (the last tile's lanes from here on are padding). */
  count: number;
  bytes: number;
  scratchPtr: number;
}

/**
 * Filters of a tiled base as rows, written one after another at outPtr (a slot's scratch): a range, or a
 * list of indices; at most TILE_LANES of them.
 */
export interface UntileTask extends MemoryRef {
  type: 'untile';
  basePtr: number;
  rows: { first: number; count: number } | number[];
  bytes: number;
  outPtr: number;
}

interface SearchTask extends MemoryRef {
  queriesPtr: number;
  queryCount: number;
  basePtr: number;
  basePopsPtr: number;
  baseStart: number;
  baseEnd: number;
  bytes: number;
  threshold: number;
  /** The slot's scratch (engine/layout.ts). */
  scratchPtr: number;
  /** Popcount ranges of the base's tiles. */
  rangesPtr: number;
}

export interface TopKTask extends SearchTask {
  type: 'topk';
  k: number;
  heapScoresPtr: number;
  heapIndicesPtr: number;
  heapCountsPtr: number;
  /**
   * One query whose tasks share the scan: each takes the next `chunk` filters of [baseStart, baseEnd)
   * from the u32 cursor at cursorPtr (Atomics.add) until none are left.
   */
  shared?: { cursorPtr: number; chunk: number };
}

export interface PairsTask extends SearchTask {
  type: 'pairs';
  outPtr: number;
  outCapacity: number;
  cursorPtr: number;
}

/**
 * A number: that many entries are in the slot's output area. An ArrayBuffer:
 * the output area filled up at least once, so the worker returns every entry
 * (16-byte records) in a buffer that is transferred, not copied.
 */
export type PairsResult = number | ArrayBuffer;

export interface EncodeTask {
  type: 'encode';
  /** Hash of schema and secret: the worker's encoder cache key (never the secret itself). */
  encoderKey: string;
  schema: unknown;
  secret: string | Uint8Array;
  rows: string[][];
  /** Index of rows[0] in the caller's list, so an error names the caller's row. */
  firstRow: number;
  /**
   * With a deadline (Engine.encode's taskDeadlineMs): 8 bytes where the worker stores Date.now() as it starts
   * the task, so the deadline counts the task's running time and not its wait in the queue.
   */
  started?: SharedArrayBuffer;
}

/** A piece of a CSV file (whole records) to encode into base64 CLK lines (engine/csv-encode.ts). */
export interface EncodeCsvTask {
  type: 'encode-csv';
  encoderKey: string;
  schema: unknown;
  secret: string | Uint8Array;
  /** Transferred, not copied. */
  bytes: Uint8Array;
  spec: CsvChunkSpec;
}

/** Test hook: proves workers see the same memory as the main thread. */
export interface ProbeTask extends MemoryRef {
  type: 'probe';
  /** Value the worker writes to HEADER_PROBE_OUT after reading HEADER_PROBE_IN. */
  write: number;
  /** Keep the worker busy this long (≤ 200 ms) so concurrent probes land on different workers. */
  holdMs: number;
}

export interface ProbeResult {
  seen: number;
  threadId: number;
  cachedInstances: number;
  kind: DiceKernelKind;
}

/** Comparisons within runs of a linkage workspace (engine/linkage/workspace.ts). */
interface RunsTask extends MemoryRef {
  filtersPtr: number;
  popsPtr: number;
  partiesPtr: number;
  bytes: number;
  threshold: number;
  cursorPtr: number;
  outPtr: number;
  outCapacity: number;
}

/** One LSH band: sort every record by its band key into runs, then compare within runs. */
export interface LshBandTask extends RunsTask {
  type: 'lshBand';
  count: number;
  posPtr: number;
  k: number;
  band: number;
  keysPtr: number;
  orderPtr: number;
  tmpKeysPtr: number;
  tmpOrderPtr: number;
  countsPtr: number;
  comparisonsPtr: number;
}

/** Explicit blocks: compare within runs [runsPtr, runsPtr + 8·runCount) of the block order. */
export interface BlockRunsTask extends RunsTask {
  type: 'blockRuns';
  orderPtr: number;
  runsPtr: number;
  runCount: number;
}

/**
 * A transferred buffer: f64 comparisons made, then 16-byte entries {u32 id,
 * u32 id, f64 score} (lower global id first).
 */
export type RunsResult = ArrayBuffer;

/** Drop the instances of retired memories now (a finished linkage's workspace), not at the next real task. */
export interface ReleaseTask {
  type: 'release';
}

export type EngineTask =
  | PopcountTask
  | TileTask
  | UntileTask
  | TopKTask
  | PairsTask
  | EncodeTask
  | EncodeCsvTask
  | ProbeTask
  | LshBandTask
  | BlockRunsTask
  | ReleaseTask;
