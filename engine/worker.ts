/**
 * Piscina worker: runs Dice kernels against dataset memories shared with the
 * main thread, and CLK encoding.
 *
 * Each worker instantiates the Dice module (compiled once on the main thread,
 * received through workerData) once per dataset version and caches the
 * instance by memoryId; the memory itself is never copied. When the main
 * thread retires a version it sets the header's RETIRED flag, and the next
 * task on this worker drops the cached instance so the memory can be freed.
 *
 * A worker may be terminated in the middle of a task (an encode past its deadline or whose caller went away,
 * Engine.encode in engine.ts) and the pool starts another: everything this module keeps is a cache that the
 * replacement rebuilds on demand from its tasks.
 */
import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { concatBytes } from '../common/bytes.js';
import { encodeForWorkerBoundary, isPavilionError, PavilionError } from '../common/errors.js';
import { adoptDiceModule, type DiceKernel, instantiateDice, TILE_LANES } from '../wasm/dice.js';
import { ClkEncoder } from './clk/encoder.js';
import { type CsvChunkResult, encodeCsvChunk } from './csv-encode.js';
import { HEADER_PROBE_IN, HEADER_PROBE_OUT, HEADER_RETIRED, PAIR_ENTRY_BYTES } from './layout.js';
import type {
  BlockRunsTask,
  EncodeCsvTask,
  EncodeTask,
  EngineTask,
  LshBandTask,
  PairsResult,
  PairsTask,
  PopcountTask,
  ProbeResult,
  ProbeTask,
  RunsResult,
  TileTask,
  TopKTask,
  UntileTask,
  WorkerInit,
} from './tasks.js';

const init = workerData as WorkerInit;
adoptDiceModule(init.kind, init.module);

interface CachedInstance {
  kernel: DiceKernel;
  header: Int32Array;
}

const instances = new Map<number, CachedInstance>();

function dropRetired(): void {
  for (const [id, cached] of instances) {
    if (Atomics.load(cached.header, HEADER_RETIRED) !== 0) instances.delete(id);
  }
}

function kernelFor(task: { memoryId: number; memory: WebAssembly.Memory }): DiceKernel {
  dropRetired();
  let cached = instances.get(task.memoryId);
  if (!cached) {
    const kernel = instantiateDice(init.kind, task.memory, init.module);
    cached = { kernel, header: new Int32Array(task.memory.buffer, 0, 16) };
    instances.set(task.memoryId, cached);
  }
  return cached.kernel;
}

function runPopcount(task: PopcountTask): number {
  kernelFor(task).exports.popcountFilters(task.filtersPtr, task.count, task.bytes, task.popsPtr);
  return task.count;
}

function runTile(task: TileTask): number {
  const k = kernelFor(task).exports;
  const first = task.firstTile * TILE_LANES;
  const rows = Math.min(task.count, first + task.tileCount * TILE_LANES) - first;
  k.popcountFilters(task.basePtr + first * task.bytes, rows, task.bytes, task.popsPtr + first * 4);
  k.tileFilters(
    task.basePtr,
    task.popsPtr,
    task.rangesPtr,
    task.firstTile,
    task.tileCount,
    task.count,
    task.bytes,
    task.scratchPtr,
  );
  return task.tileCount;
}

function runUntile(task: UntileTask): number {
  const k = kernelFor(task).exports;
  const { rows, basePtr, bytes, outPtr } = task;
  if (!Array.isArray(rows)) k.untileFilters(basePtr, rows.first, rows.count, bytes, outPtr);
  else for (let i = 0; i < rows.length; i++) k.untileFilters(basePtr, rows[i]!, 1, bytes, outPtr + i * bytes);
  return Array.isArray(rows) ? rows.length : rows.count;
}

/** Each query reads the planes it needs from the tiles (wasm/assembly/dice.ts, "Tiled (bit-sliced) base"). */
function runTopK(task: TopKTask): number {
  const k = kernelFor(task).exports;
  new Uint32Array(task.memory.buffer, task.heapCountsPtr, task.queryCount).fill(0);
  const scan = (q: number, start: number, end: number): void =>
    k.topKTiled(
      task.queriesPtr + q * task.bytes,
      task.scratchPtr,
      task.basePtr,
      task.basePopsPtr,
      task.rangesPtr,
      start,
      end,
      task.bytes,
      task.threshold,
      task.k,
      task.queryCount,
      q,
      task.heapScoresPtr,
      task.heapIndicesPtr,
      task.heapCountsPtr,
    );
  if (task.shared) {
    const { cursorPtr, chunk } = task.shared;
    const cursor = new Uint32Array(task.memory.buffer, cursorPtr, 1);
    for (;;) {
      const start = task.baseStart + Atomics.add(cursor, 0, 1) * chunk;
      if (start >= task.baseEnd) break;
      scan(0, start, Math.min(task.baseEnd, start + chunk));
    }
  } else {
    for (let q = 0; q < task.queryCount; q++) scan(q, task.baseStart, task.baseEnd);
  }
  return task.queryCount;
}

/**
 * All pairs at a threshold, one query at a time through the tiled search (pairsTiled), into the slot's
 * output area; when it fills up, each fill is copied out and the scan resumes where it stopped.
 */
function runPairs(task: PairsTask): PairsResult {
  const k = kernelFor(task).exports;
  const cursor = new Uint32Array(task.memory.buffer, task.cursorPtr, 1);
  const chunks: Uint8Array[] = [];
  let used = 0;
  const drain = (): void => {
    chunks.push(new Uint8Array(task.memory.buffer, task.outPtr, used * PAIR_ENTRY_BYTES).slice());
    used = 0;
  };
  for (let q = 0; q < task.queryCount; q++) {
    for (let start = task.baseStart; start < task.baseEnd; start = cursor[0]!) {
      if (used === task.outCapacity) drain();
      used += k.pairsTiled(
        task.queriesPtr + q * task.bytes,
        task.scratchPtr,
        task.basePtr,
        task.basePopsPtr,
        task.rangesPtr,
        start,
        task.baseEnd,
        task.bytes,
        task.threshold,
        q,
        task.outPtr + used * PAIR_ENTRY_BYTES,
        task.outCapacity - used,
        task.cursorPtr,
      );
    }
  }
  if (chunks.length === 0) return used;
  if (used > 0) drain();
  return move(concatBytes(chunks).buffer) as unknown as PairsResult;
}

// --- blocked and multi-party linkage (engine/linkage/) ----------------------

/**
 * Calls runPairsAtThreshold until its cursor says done, copying each fill of
 * the output area out, and returns every entry in one transferred buffer.
 */
function drainRuns(
  task: LshBandTask | BlockRunsTask,
  orderPtr: number,
  runsPtr: number,
  runCount: number,
  posPtr: number,
  k: number,
  band: number,
  comparisons: number,
): ArrayBuffer {
  const exports = kernelFor(task).exports;
  const cursor = new Uint32Array(task.memory.buffer, task.cursorPtr, 4);
  cursor.fill(0);
  // the first 8 bytes carry the comparison count (see RunsResult)
  const chunks: Uint8Array[] = [new Uint8Array(8)];
  while (cursor[3] !== 1) {
    const n = exports.runPairsAtThreshold(
      task.filtersPtr,
      task.popsPtr,
      task.partiesPtr,
      task.bytes,
      orderPtr,
      runsPtr,
      runCount,
      task.threshold,
      posPtr,
      k,
      band,
      task.outPtr,
      task.outCapacity,
      task.cursorPtr,
    );
    if (n > 0) chunks.push(new Uint8Array(task.memory.buffer, task.outPtr, n * PAIR_ENTRY_BYTES).slice());
  }
  const out = concatBytes(chunks);
  new DataView(out.buffer).setFloat64(0, comparisons, true);
  return out.buffer;
}

function runLshBand(task: LshBandTask): RunsResult {
  const exports = kernelFor(task).exports;
  const posPtr = task.posPtr + task.band * task.k * 2;
  // runs go to tmpKeys, free once the keys are sorted (wasm/assembly/dice.ts lshRuns)
  const runCount = exports.lshRuns(
    task.filtersPtr,
    task.count,
    task.bytes,
    task.partiesPtr,
    posPtr,
    task.k,
    task.keysPtr,
    task.orderPtr,
    task.tmpKeysPtr,
    task.tmpOrderPtr,
    task.countsPtr,
    task.tmpKeysPtr,
    task.comparisonsPtr,
  );
  const comparisons = new Float64Array(task.memory.buffer, task.comparisonsPtr, 1)[0]!;
  return move(
    drainRuns(task, task.orderPtr, task.tmpKeysPtr, runCount, task.posPtr, task.k, task.band, comparisons),
  ) as unknown as RunsResult;
}

function runBlockRuns(task: BlockRunsTask): RunsResult {
  const exports = kernelFor(task).exports;
  let comparisons = 0;
  const runs = new Uint32Array(task.memory.buffer, task.runsPtr, task.runCount * 2);
  for (let r = 0; r < task.runCount; r++)
    comparisons += exports.crossPartyPairs(task.partiesPtr, task.orderPtr, runs[2 * r]!, runs[2 * r + 1]!);
  return move(
    drainRuns(task, task.orderPtr, task.runsPtr, task.runCount, 0, 0, 0, comparisons),
  ) as unknown as RunsResult;
}

// --- CLK encoding -----------------------------------------------------------

// Encoders are cached per (schema, secret) hash; a handful at most are live
// (one per linkage project), so the cache is small and bounded. Building one
// derives keys and sets up hash state; reusing it also keeps its
// token -> bit-position cache warm (docs/decisions.md, "Encoding").
const MAX_ENCODERS = 8;
const encoders = new Map<string, ClkEncoder>();

function encoderFor(task: EncodeTask | EncodeCsvTask): ClkEncoder {
  let enc = encoders.get(task.encoderKey);
  if (!enc) {
    // create() is synchronous and throws (bad schema, empty secret) before
    // anything is cached, so a failed build never occupies an entry.
    enc = ClkEncoder.create(task.schema, task.secret);
    encoders.set(task.encoderKey, enc);
    if (encoders.size > MAX_ENCODERS) {
      const oldest = encoders.keys().next().value!;
      encoders.get(oldest)!.dispose();
      encoders.delete(oldest);
    }
  }
  return enc;
}

function runEncode(task: EncodeTask): Uint8Array {
  if (task.started) Atomics.store(new BigInt64Array(task.started), 0, BigInt(Date.now()));
  const encoder = encoderFor(task);
  const out = encoder.encodeMany(task.rows, task.firstRow);
  // copy into a buffer of exactly this size so it can be transferred
  const copy = new Uint8Array(out.length);
  copy.set(out);
  return move(copy) as unknown as Uint8Array;
}

function runEncodeCsv(task: EncodeCsvTask): CsvChunkResult {
  const result = encodeCsvChunk(encoderFor(task), task.bytes, task.spec);
  // The output travels back transferred (Piscina moves only a top-level transferable).
  return move({
    [transferableSymbol]: [result.output.buffer],
    [valueSymbol]: result,
  }) as unknown as CsvChunkResult;
}

function runProbe(task: ProbeTask): ProbeResult {
  kernelFor(task);
  const header = new Int32Array(task.memory.buffer, 0, 16);
  const seen = Atomics.load(header, HEADER_PROBE_IN);
  Atomics.store(header, HEADER_PROBE_OUT, task.write);
  const hold = Math.min(Math.max(task.holdMs, 0), 200);
  if (hold > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, hold);
  return { seen, threadId, cachedInstances: instances.size, kind: init.kind };
}

export default async function runTask(task: EngineTask): Promise<unknown> {
  try {
    switch (task.type) {
      case 'popcount':
        return runPopcount(task);
      case 'tile':
        return runTile(task);
      case 'untile':
        return runUntile(task);
      case 'topk':
        return runTopK(task);
      case 'pairs':
        return runPairs(task);
      case 'encode':
        return runEncode(task);
      case 'encode-csv':
        return runEncodeCsv(task);
      case 'probe':
        return runProbe(task);
      case 'lshBand':
        return runLshBand(task);
      case 'release':
        dropRetired();
        return instances.size;
      case 'blockRuns':
        return runBlockRuns(task);
      default:
        throw new PavilionError('ENGINE_INTERNAL', 'unknown task type');
    }
  } catch (err) {
    if (isPavilionError(err)) throw encodeForWorkerBoundary(err as PavilionError);
    // Anything else may carry record values in its message (an encoder
    // complaining about a row): report only the kind of failure.
    const encoding = task.type === 'encode' || task.type === 'encode-csv';
    throw encodeForWorkerBoundary(
      new PavilionError(encoding ? 'ENCODE_FAILED' : 'ENGINE_INTERNAL', `${task.type} task failed in a worker`),
    );
  }
}
