/**
 * Piscina worker: runs Dice kernels against dataset memories shared with the
 * main thread, and CLK encoding.
 *
 * Each worker instantiates the Dice module (compiled once on the main thread,
 * received through workerData) once per dataset version and caches the
 * instance by memoryId; the memory itself is never copied. When the main
 * thread retires a version it sets the header's RETIRED flag, and the next
 * task on this worker drops the cached instance so the memory can be freed.
 */
import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { concatBytes } from '../common/bytes.js';
import { encodeForWorkerBoundary, isPavilionError, PavilionError } from '../common/errors.js';
import { adoptDiceModule, type DiceKernel, instantiateDice } from '../wasm/dice.js';
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
  SketchTask,
  TopKTask,
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

function runSketch(task: SketchTask): number {
  kernelFor(task).exports.sketchFilters(task.filtersPtr, task.count, task.bytes, task.sketchPtr);
  return task.count;
}

/**
 * Filters a one-query scan first reads through the sketch-bounded kernel; it keeps using it for the rest
 * of the range only when at most one in SKETCH_KEEP_RATIO of them had to be counted in full (for dense
 * filters the bound rarely skips anything, and the plain kernel is then about twice as fast).
 */
const SKETCH_PROBE = 8192;
const SKETCH_KEEP_RATIO = 8;

function runTopK(task: TopKTask): number {
  const k = kernelFor(task).exports;
  k.popcountFilters(task.queriesPtr, task.queryCount, task.bytes, task.queryPopsPtr);
  new Uint32Array(task.memory.buffer, task.heapCountsPtr, task.queryCount).fill(0);
  let start = task.baseStart;
  if (task.baseSketchPtr !== undefined && task.queryCount === 1) {
    // The query's planes go just after it in the slot's query area (room for 63 more filters there).
    const sketched = (from: number, to: number): number =>
      k.topKSketched(
        task.queriesPtr,
        task.queriesPtr + task.bytes,
        task.basePtr,
        task.basePopsPtr,
        task.baseSketchPtr!,
        from,
        to,
        task.bytes,
        task.threshold,
        task.k,
        task.heapScoresPtr,
        task.heapIndicesPtr,
        task.heapCountsPtr,
      );
    const probeEnd = Math.min(task.baseEnd, start + SKETCH_PROBE);
    const counted = sketched(start, probeEnd);
    if (counted * SKETCH_KEEP_RATIO <= probeEnd - start) {
      sketched(probeEnd, task.baseEnd);
      return task.queryCount;
    }
    // Both kernels keep the heap and its floor in the same place: the plain one carries on from here.
    start = probeEnd;
  }
  k.topKAtThreshold(
    task.queriesPtr,
    task.queryPopsPtr,
    task.queryCount,
    task.basePtr,
    task.basePopsPtr,
    start,
    task.baseEnd,
    task.bytes,
    task.threshold,
    task.k,
    task.heapScoresPtr,
    task.heapIndicesPtr,
    task.heapCountsPtr,
  );
  return task.queryCount;
}

function runPairs(task: PairsTask): PairsResult {
  const k = kernelFor(task).exports;
  k.popcountFilters(task.queriesPtr, task.queryCount, task.bytes, task.queryPopsPtr);
  const cursor = new Uint32Array(task.memory.buffer, task.cursorPtr, 3);
  cursor[0] = task.baseStart;
  cursor[1] = 0;
  cursor[2] = 0;
  const call = (): number =>
    k.pairsAtThreshold(
      task.queriesPtr,
      task.queryPopsPtr,
      task.queryCount,
      task.basePtr,
      task.basePopsPtr,
      task.baseStart,
      task.baseEnd,
      task.bytes,
      task.threshold,
      task.outPtr,
      task.outCapacity,
      task.cursorPtr,
    );
  const first = call();
  if (cursor[2] === 1) return first;
  // The output area filled up: copy each fill out, resume, and join the copies.
  const chunks: Uint8Array[] = [];
  let n = first;
  for (;;) {
    if (n > 0) chunks.push(new Uint8Array(task.memory.buffer, task.outPtr, n * PAIR_ENTRY_BYTES).slice());
    if (cursor[2] === 1) break;
    const before = cursor[0]! * 1e6 + cursor[1]!;
    n = call();
    if (n === 0 && cursor[2] !== 1 && cursor[0]! * 1e6 + cursor[1]! === before) {
      throw new PavilionError('ENGINE_INTERNAL', 'pair output area smaller than one kernel step');
    }
  }
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
      case 'sketch':
        return runSketch(task);
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
