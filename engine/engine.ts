/**
 * The matching engine: a Piscina pool running the Dice kernels over datasets
 * held once in shared WebAssembly memories (docs/decisions.md, "Pool"), plus batched
 * CLK encoding in the same workers.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { concatBytes } from '../common/bytes.js';
import { decodeFromWorkerBoundary, isPavilionError, PavilionError } from '../common/errors.js';
import { compileDiceModule, type DiceKernelKind, selectDiceKernel, TILE_LANES } from '../wasm/dice.js';
import { type Candidate, compareCandidates, comparePairs, type Pair } from '../wasm/ordering.js';
import type { CsvChunkResult, CsvChunkSpec } from './csv-encode.js';
import { type DatasetInfo, type DatasetInput, DatasetVersion } from './dataset.js';
import { encoderKey } from './encoder-key.js';
import {
  HEADER_CURSORS_OFFSET,
  HEADER_PROBE_IN,
  HEADER_PROBE_OUT,
  heapLayout,
  MAX_QUERIES_PER_TASK,
  PAIR_ENTRY_BYTES,
  queriesPerTopKTask,
  SLOT_OUTPUT_BYTES,
  type SlotLayout,
  slotLayout,
} from './layout.js';
import {
  linkParties,
  type PartyBlocking,
  type PartyLinkOptions,
  type PartyLinkResult,
  type PartySource,
} from './linkage/link-parties.js';
import { PackedRefsBuilder, type RefList } from './refs.js';
import type { EncodeTask, EngineTask, PairsResult, ProbeResult, TopKTask, UntileTask, WorkerInit } from './tasks.js';
import {
  DEFAULT_MATCH_TOP_K,
  validateClk,
  validateConcatenatedClks,
  validateThreshold,
  validateTopK,
} from './validation.js';

export type { DatasetInfo, DatasetInput } from './dataset.js';

export interface EngineOptions {
  /** Worker threads; default one per core (os.availableParallelism()). */
  threads?: number;
  /** Force the SIMD (true) or scalar (false) kernel (the ENGINE_SIMD setting); default: detection. */
  simd?: boolean;
  /** Most pairs one link may return before it fails with LINK_RESULT_TOO_LARGE (default MAX_LINK_PAIRS). */
  maxLinkPairs?: number;
}

export interface MatchCandidate {
  index: number;
  ref: string;
  score: number;
  claims?: Record<string, unknown>;
}

export interface MatchResult {
  version: number;
  candidates: MatchCandidate[];
}

export interface LinkOptions {
  threshold: number;
  /** Best k per query; default: every pair at or above the threshold. */
  topK?: number;
  /** Called after each finished task with comparisons done and total (queries × dataset size). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /**
   * Compare only candidates from blocking (engine/linkage/link-parties.ts):
   * the dataset is party 0, the queries party 1. Not with topK. Progress is
   * then in the blocking's units (bands, or blocks' comparisons).
   */
  blocking?: PartyBlocking;
}

export interface EncodeOptions {
  /** The position of rows[0] in the caller's input, so errors name the caller's row. */
  firstRow?: number;
  /**
   * Aborting it ends the encoding at once: its tasks still queued leave the queue, and a worker running one is
   * terminated (nothing else stops a synchronous regex) and replaced by the pool. encode rejects with the
   * signal's reason when that is a PavilionError.
   */
  signal?: AbortSignal;
  /**
   * Longest any of the encoding's tasks may run, in milliseconds, its wait in the queue not counted: past it
   * the encoding ends as by `signal`, with ENCODE_TIMEOUT. A schema's pattern can take exponential time on a
   * value it was not written for (docs/security.md, "Broker-side encoding").
   */
  taskDeadlineMs?: number;
}

export interface LinkPair {
  query: number;
  index: number;
  score: number;
}

export interface LinkResult {
  version: number;
  pairs: LinkPair[];
}

/**
 * A dataset version written in pieces straight into its shared memory (Engine.beginDataset): the caller
 * fills `filters` and pushes one ref per record, in the same order, then `finish()`es it.
 */
export interface DatasetLoad {
  /** Room for every filter: count × filterBits/8 bytes. */
  readonly filters: Uint8Array;
  readonly refs: PackedRefsBuilder;
  /** Popcounts and tiles, then the version serves `id` (as loadDataset). */
  finish(): Promise<DatasetInfo>;
  /** Gives the memory back; nothing was served from it. */
  abort(): void;
}

export interface Engine {
  readonly threads: number;
  readonly kernel: DiceKernelKind;
  loadDataset(id: string, data: DatasetInput): Promise<DatasetInfo>;
  /** loadDataset without a second copy of the filters: for versions read back in pieces (restart, 10M records). */
  beginDataset(id: string, opts: { filterBits: number; count: number }): DatasetLoad;
  dropDataset(id: string): Promise<void>;
  datasetInfo(id: string): DatasetInfo | undefined;
  /** The refs of the loaded version of `id`, packed (engine/refs.ts): the server answers with them. */
  datasetRefs(id: string): RefList | undefined;
  match(id: string, clk: Uint8Array, opts: { threshold: number; topK?: number }): Promise<MatchResult>;
  link(id: string, queries: Uint8Array, opts: LinkOptions): Promise<LinkResult>;
  /** Two or more parties' concatenated CLKs, with or without blocking, whole or one chunk (engine/linkage/). */
  linkParties(
    parties: readonly (Uint8Array | PartySource)[],
    opts: Omit<PartyLinkOptions, 'maxPairs'>,
  ): Promise<PartyLinkResult>;
  /**
   * A loaded dataset as a party of linkParties: its filters are copied into the linkage's memory straight
   * from the dataset's (the caller keeps the dataset loaded until the linkage has started).
   */
  datasetParty(id: string): PartySource;
  /** Copies of some records' filters of a loaded dataset (a sample: threshold guidance of a job without queries). */
  datasetFilters(id: string, rows: readonly number[]): Promise<Uint8Array>;
  encode(schema: unknown, secret: string | Uint8Array, rows: string[][], opts?: EncodeOptions): Promise<Uint8Array>;
  /**
   * Encodes a piece of a CSV file holding whole records into base64 CLK lines
   * (engine/csv-encode.ts). `bytes` is transferred to the worker (detached
   * here) when it spans a whole ArrayBuffer, copied otherwise.
   */
  encodeCsv(
    schema: unknown,
    secret: string | Uint8Array,
    bytes: Uint8Array,
    spec: CsvChunkSpec,
  ): Promise<CsvChunkResult>;
  close(): Promise<void>;
}

/** Base filters per slice below which a single-query match is not split further (~0.3 ms of work). */
const MIN_MATCH_SLICE = 32_768;
/**
 * Filters a one-query search's task takes from the shared cursor at a time: 64 tiles, ~0.2 ms of work at
 * FEBRL density, so 10M filters are ~300 chunks and a worker delayed by a few ms leaves them to the other.
 */
const MATCH_CHUNK = 32_768;
/**
 * Comparisons per link task: at least ~2.5 ms of work (a Piscina task costs
 * 26–34 µs, docs/decisions.md), at most ~20 ms so progress, cancellation and
 * interleaved single matches stay responsive.
 */
const MIN_TASK_COMPARISONS = 1 << 18;
const MAX_TASK_COMPARISONS = 1 << 21;
/**
 * Most pairs one link may return (~250 MB of result objects): a threshold of 0
 * without topK over a large dataset would otherwise exhaust the process.
 */
export const MAX_LINK_PAIRS = 5_000_000;
/**
 * Rows per encode task: ~3 ms at the ~350k records/s one worker encodes (bench:kernels), ≥ the ~1 ms a
 * task should carry.
 */
const ENCODE_ROWS_PER_TASK = 1024;

/**
 * The worker entry. Under vitest or tsx this module is TypeScript source, so
 * the worker is worker.ts and needs tsx's loader (`--import tsx`) in the
 * worker thread, which does not inherit the parent's loader hooks. From the
 * compiled dist/ tree it is plain worker.js and needs nothing.
 */
function workerEntry(): { filename: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url);
  return { filename: fileURLToPath(url), execArgv: fromSource ? ['--import', 'tsx'] : [] };
}

const closedError = (): PavilionError => new PavilionError('ENGINE_CLOSED', 'the engine is closed');

export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new PavilionError('ENGINE_OPTIONS_INVALID', 'threads must be an integer from 1 to 256');
  }
  const maxLinkPairs = opts.maxLinkPairs ?? MAX_LINK_PAIRS;
  if (!Number.isInteger(maxLinkPairs) || maxLinkPairs < 1) {
    throw new PavilionError('ENGINE_OPTIONS_INVALID', 'maxLinkPairs must be a positive integer');
  }
  const kind = selectDiceKernel(opts.simd);
  const engine = new PoolEngine(threads, kind, maxLinkPairs);
  await engine.warmUp();
  return engine;
}

export class PoolEngine implements Engine {
  private readonly pool: Piscina;
  private readonly datasets = new Map<string, DatasetVersion>();
  private readonly lastVersion = new Map<string, number>();
  private closed = false;

  constructor(
    readonly threads: number,
    readonly kernel: DiceKernelKind,
    private readonly maxLinkPairs: number = MAX_LINK_PAIRS,
  ) {
    const init: WorkerInit = { kind: this.kernel, module: compileDiceModule(this.kernel) };
    const entry = workerEntry();
    this.pool = new Piscina({
      filename: entry.filename,
      execArgv: entry.execArgv,
      minThreads: threads,
      maxThreads: threads,
      // Workers hold per-dataset instances; never let them idle out.
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      workerData: init,
    });
  }

  /** Starts every worker (loading tsx and the worker module) before the first real request. */
  async warmUp(): Promise<void> {
    const probe = DatasetVersion.build('warm-up', 0, { refs: [''], clks: new Uint8Array(8), filterBits: 64 }, 1);
    probe.use();
    try {
      await Promise.all(
        Array.from({ length: this.threads }, () =>
          this.run<ProbeResult>({
            type: 'probe',
            memoryId: probe.memoryId,
            memory: probe.memory,
            write: 0,
            holdMs: 5,
          }),
        ),
      );
    } finally {
      probe.release();
      probe.retire();
    }
  }

  /** `signal`: aborting it takes the task out of the queue, or terminates the worker running it (Piscina). */
  private async run<T>(task: EngineTask, transferList?: ArrayBuffer[], signal?: AbortSignal): Promise<T> {
    if (this.closed) throw closedError();
    try {
      const options = transferList || signal ? { ...(transferList ? { transferList } : {}), signal } : undefined;
      return (await this.pool.run(task, options)) as T;
    } catch (err) {
      if (this.closed) throw closedError();
      const decoded = decodeFromWorkerBoundary(err);
      if (isPavilionError(decoded)) throw decoded;
      throw new PavilionError('ENGINE_INTERNAL', 'a worker task failed', { cause: err });
    }
  }

  private current(id: string): DatasetVersion {
    if (this.closed) throw closedError();
    const ds = typeof id === 'string' ? this.datasets.get(id) : undefined;
    if (!ds) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
    return ds;
  }

  datasetInfo(id: string): DatasetInfo | undefined {
    return this.datasets.get(id)?.info;
  }

  datasetRefs(id: string): RefList | undefined {
    return this.datasets.get(id)?.refs;
  }

  async loadDataset(id: string, data: DatasetInput): Promise<DatasetInfo> {
    if (this.closed) throw closedError();
    const version = (this.lastVersion.get(id) ?? 0) + 1;
    const ds = DatasetVersion.build(id, version, data, this.threads * 2 + 2);
    this.lastVersion.set(id, version);
    return this.install(ds);
  }

  beginDataset(id: string, opts: { filterBits: number; count: number }): DatasetLoad {
    if (this.closed) throw closedError();
    const version = (this.lastVersion.get(id) ?? 0) + 1;
    const ds = DatasetVersion.allocate(id, version, opts?.filterBits, opts?.count, this.threads * 2 + 2);
    this.lastVersion.set(id, version);
    const refs = new PackedRefsBuilder(ds.size);
    let state: 'open' | 'finishing' | 'done' = 'open';
    return {
      filters: ds.filtersView(),
      refs,
      finish: async () => {
        if (state !== 'open') throw new PavilionError('DATASET_INVALID', 'this load was already finished or aborted');
        state = 'finishing';
        if (refs.length !== ds.size) {
          state = 'done';
          ds.retire();
          throw new PavilionError('DATASET_INVALID', `${refs.length} refs for ${ds.size} filters`);
        }
        ds.refs = refs.finish();
        state = 'done';
        return this.install(ds);
      },
      abort: () => {
        if (state !== 'open') return;
        state = 'done';
        ds.retire();
      },
    };
  }

  /** Popcounts and tiles of a version whose filters are in place as rows, then it serves `id`. */
  private async install(ds: DatasetVersion): Promise<DatasetInfo> {
    const { id } = ds;
    ds.use();
    try {
      await this.tileBase(ds);
    } catch (err) {
      ds.release();
      ds.retire();
      throw err;
    }
    ds.release();
    if (this.closed) {
      ds.retire();
      throw closedError();
    }
    const previous = this.datasets.get(id);
    if (previous && previous.version > ds.version) {
      // a later load of the same id finished first: this one is already stale
      ds.retire();
      return ds.info;
    }
    this.datasets.set(id, ds);
    previous?.retire();
    return ds.info;
  }

  /**
   * Rewrites the base, written as rows, as tiles of bit planes (wasm/assembly/dice.ts, "Tiled (bit-sliced)
   * base"): one task per worker over consecutive tiles, each through its own slot's scratch.
   */
  private async tileBase(ds: DatasetVersion): Promise<void> {
    const { layout } = ds;
    const per = Math.ceil(layout.tiles / this.threads);
    const jobs: Promise<unknown>[] = [];
    for (let firstTile = 0; firstTile < layout.tiles; firstTile += per) {
      jobs.push(
        this.withSlot(ds, (s) =>
          this.run<number>({
            type: 'tile',
            memoryId: ds.memoryId,
            memory: ds.memory,
            basePtr: layout.basePtr,
            popsPtr: layout.popsPtr,
            rangesPtr: layout.rangesPtr,
            firstTile,
            tileCount: Math.min(per, layout.tiles - firstTile),
            count: ds.size,
            bytes: layout.bytes,
            scratchPtr: s.scratchPtr,
          }),
        ),
      );
    }
    await Promise.all(jobs);
  }

  private async withSlot<T>(ds: DatasetVersion, work: (slot: SlotLayout) => Promise<T>): Promise<T> {
    const slot = await ds.slots.acquire();
    try {
      return await work(slotLayout(ds.layout, slot));
    } finally {
      ds.slots.release(slot);
    }
  }

  /**
   * Filters of a version as rows, in batches of at most TILE_LANES (a range of filters or a list of them)
   * through a slot's scratch, `threads` batches in flight; `take` gets each batch's rows with its position
   * in `batches`, before the slot is released.
   */
  private async readRows(
    ds: DatasetVersion,
    batches: readonly UntileTask['rows'][],
    take: (batch: number, rows: Uint8Array) => void,
  ): Promise<void> {
    const { layout } = ds;
    let next = 0;
    const runner = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = next++;
        const rows = batches[batch]!;
        await this.withSlot(ds, async (s) => {
          const count = await this.run<number>({
            type: 'untile',
            memoryId: ds.memoryId,
            memory: ds.memory,
            basePtr: layout.basePtr,
            rows,
            bytes: layout.bytes,
            outPtr: s.scratchPtr,
          });
          take(batch, new Uint8Array(ds.memory.buffer, s.scratchPtr, count * layout.bytes));
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.threads, batches.length) }, runner));
  }

  async dropDataset(id: string): Promise<void> {
    const ds = this.current(id);
    this.datasets.delete(id);
    ds.retire();
  }

  async match(id: string, clk: Uint8Array, opts: { threshold: number; topK?: number }): Promise<MatchResult> {
    const ds = this.current(id);
    validateClk(clk, ds.filterBits);
    const threshold = validateThreshold(opts?.threshold);
    const k = validateTopK(opts?.topK, DEFAULT_MATCH_TOP_K)!;
    ds.use();
    try {
      // Low latency: one task per worker (docs/decisions.md, "Pool"), unless the dataset is too small to be
      // worth splitting. The tasks take chunks of the base from one cursor, so a worker whose core is taken
      // by other work (the database, the event loop) scans less of it instead of finishing last.
      const tasks = Math.max(1, Math.min(this.threads, Math.floor(ds.size / MIN_MATCH_SLICE)));
      const parts: Promise<Candidate[][]>[] = [];
      const cursor = tasks > 1 ? await ds.cursors.acquire() : undefined;
      try {
        const shared =
          cursor === undefined ? undefined : { cursorPtr: HEADER_CURSORS_OFFSET + cursor * 4, chunk: MATCH_CHUNK };
        if (shared) new Uint32Array(ds.memory.buffer, shared.cursorPtr, 1)[0] = 0;
        for (let t = 0; t < tasks; t++) parts.push(this.topKTask(ds, clk, 1, 0, ds.size, threshold, k, shared));
        await Promise.allSettled(parts);
      } finally {
        if (cursor !== undefined) ds.cursors.release(cursor);
      }
      const merged = (await Promise.all(parts))
        .flatMap((p) => p[0]!)
        .sort(compareCandidates)
        .slice(0, k);
      return {
        version: ds.version,
        candidates: merged.map((c) => {
          const out: MatchCandidate = { index: c.index, ref: ds.refs.at(c.index)!, score: c.score };
          const claims = ds.claims?.[c.index];
          if (claims !== undefined) out.claims = claims;
          return out;
        }),
      };
    } finally {
      ds.release();
    }
  }

  /** Runs a top-k task for `queryCount` queries (concatenated in `queries`) against base [start, end). */
  private async topKTask(
    ds: DatasetVersion,
    queries: Uint8Array,
    queryCount: number,
    start: number,
    end: number,
    threshold: number,
    k: number,
    shared?: TopKTask['shared'],
  ): Promise<Candidate[][]> {
    return this.withSlot(ds, async (s) => {
      const heaps = heapLayout(s, queryCount, k);
      new Uint8Array(ds.memory.buffer, s.queriesPtr, queries.length).set(queries);
      await this.run<number>({
        type: 'topk',
        memoryId: ds.memoryId,
        memory: ds.memory,
        queriesPtr: s.queriesPtr,
        queryCount,
        basePtr: ds.layout.basePtr,
        basePopsPtr: ds.layout.popsPtr,
        baseStart: start,
        baseEnd: end,
        bytes: ds.layout.bytes,
        threshold,
        k,
        heapScoresPtr: heaps.scoresPtr,
        heapIndicesPtr: heaps.indicesPtr,
        heapCountsPtr: heaps.countsPtr,
        rangesPtr: ds.layout.rangesPtr,
        scratchPtr: s.scratchPtr,
        ...(shared ? { shared } : {}),
      });
      const counts = new Uint32Array(ds.memory.buffer, heaps.countsPtr, queryCount);
      const scores = new Float64Array(ds.memory.buffer, heaps.scoresPtr, queryCount * k);
      const indices = new Uint32Array(ds.memory.buffer, heaps.indicesPtr, queryCount * k);
      const out: Candidate[][] = [];
      for (let q = 0; q < queryCount; q++) {
        const list: Candidate[] = [];
        for (let i = 0; i < counts[q]!; i++) list.push({ index: indices[q * k + i]!, score: scores[q * k + i]! });
        out.push(list);
      }
      return out;
    });
  }

  /** Runs an all-pairs task; returned query numbers are relative to `queries`. */
  private async pairsTask(
    ds: DatasetVersion,
    queries: Uint8Array,
    queryCount: number,
    start: number,
    end: number,
    threshold: number,
  ): Promise<Pair[]> {
    return this.withSlot(ds, async (s) => {
      new Uint8Array(ds.memory.buffer, s.queriesPtr, queries.length).set(queries);
      const result = await this.run<PairsResult>({
        type: 'pairs',
        memoryId: ds.memoryId,
        memory: ds.memory,
        queriesPtr: s.queriesPtr,
        queryCount,
        basePtr: ds.layout.basePtr,
        basePopsPtr: ds.layout.popsPtr,
        baseStart: start,
        baseEnd: end,
        bytes: ds.layout.bytes,
        threshold,
        outPtr: s.outPtr,
        outCapacity: SLOT_OUTPUT_BYTES / PAIR_ENTRY_BYTES,
        cursorPtr: s.cursorPtr,
        scratchPtr: s.scratchPtr,
        rangesPtr: ds.layout.rangesPtr,
      });
      const view =
        typeof result === 'number'
          ? new DataView(ds.memory.buffer, s.outPtr, result * PAIR_ENTRY_BYTES)
          : new DataView(result);
      const count = view.byteLength / PAIR_ENTRY_BYTES;
      const pairs: Pair[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const o = i * PAIR_ENTRY_BYTES;
        pairs[i] = {
          query: view.getUint32(o, true),
          index: view.getUint32(o + 4, true),
          score: view.getFloat64(o + 8, true),
        };
      }
      return pairs;
    });
  }

  linkParties(
    parties: readonly (Uint8Array | PartySource)[],
    opts: Omit<PartyLinkOptions, 'maxPairs'>,
  ): Promise<PartyLinkResult> {
    if (this.closed) return Promise.reject(closedError());
    const done = linkParties(<T>(task: EngineTask) => this.run<T>(task), this.threads, parties, {
      ...opts,
      maxPairs: this.maxLinkPairs,
    });
    // A linkage's memory (6 × 1M CLKs: ~1 GB) is freed once every worker has dropped its instance; without
    // this they drop it at their next task, which may be long after. One release task per worker (idle ones
    // take one each).
    const release = () =>
      Promise.all(Array.from({ length: this.threads }, () => this.run<number>({ type: 'release' }))).catch(
        () => undefined,
      );
    return done.finally(release);
  }

  datasetParty(id: string): PartySource {
    return this.partySource(this.current(id));
  }

  private partySource(ds: DatasetVersion): PartySource {
    const bytes = ds.layout.bytes;
    const tiles = Array.from({ length: ds.layout.tiles }, (_, t) => ({
      first: t * TILE_LANES,
      count: Math.min(TILE_LANES, ds.size - t * TILE_LANES),
    }));
    return {
      records: ds.size,
      fill: async (target) => {
        ds.use();
        try {
          await this.readRows(ds, tiles, (t, rows) => target.set(rows, t * TILE_LANES * bytes));
        } finally {
          ds.release();
        }
      },
    };
  }

  async datasetFilters(id: string, rows: readonly number[]): Promise<Uint8Array> {
    const ds = this.current(id);
    const { bytes } = ds.layout;
    for (const row of rows) {
      if (!Number.isInteger(row) || row < 0 || row >= ds.size)
        throw new PavilionError('ENGINE_OPTIONS_INVALID', `row ${row} is not a record of the dataset`);
    }
    const batches: number[][] = [];
    for (let i = 0; i < rows.length; i += TILE_LANES) batches.push(rows.slice(i, i + TILE_LANES));
    const out = new Uint8Array(rows.length * bytes);
    ds.use();
    try {
      await this.readRows(ds, batches, (b, filters) => out.set(filters, b * TILE_LANES * bytes));
    } finally {
      ds.release();
    }
    return out;
  }

  /** link() with blocking: the dataset version's filters and the queries as two parties. */
  private async linkBlocked(ds: DatasetVersion, queries: Uint8Array, opts: LinkOptions): Promise<LinkResult> {
    ds.use();
    try {
      const { pairs } = await this.linkParties([this.partySource(ds), queries], {
        filterBits: ds.filterBits,
        threshold: opts.threshold,
        blocking: opts.blocking,
        onProgress: opts.onProgress,
        signal: opts.signal,
      });
      const out = Array.from({ length: pairs.length }, (_, i) => ({
        query: pairs.recordB[i]!,
        index: pairs.recordA[i]!,
        score: pairs.scores[i]!,
      }));
      out.sort(comparePairs);
      return { version: ds.version, pairs: out };
    } finally {
      ds.release();
    }
  }

  async link(id: string, queries: Uint8Array, opts: LinkOptions): Promise<LinkResult> {
    const ds = this.current(id);
    const queryCount = validateConcatenatedClks(queries, ds.filterBits);
    const threshold = validateThreshold(opts?.threshold);
    const k = validateTopK(opts?.topK, undefined);
    if (opts.blocking !== undefined) {
      if (k !== undefined) throw new PavilionError('TOPK_INVALID', 'topK cannot be combined with blocking');
      return this.linkBlocked(ds, queries, opts);
    }
    const signal = opts?.signal;
    const cancelled = (): PavilionError => new PavilionError('LINK_CANCELLED', 'the linkage was cancelled');
    if (signal?.aborted) throw cancelled();

    const bytes = ds.layout.bytes;
    const perTaskQueries = Math.min(queryCount, k === undefined ? MAX_QUERIES_PER_TASK : queriesPerTopKTask(k));
    const total = queryCount * ds.size;
    const taskComparisons = Math.min(
      MAX_TASK_COMPARISONS,
      Math.max(MIN_TASK_COMPARISONS, Math.ceil(total / (this.threads * 4))),
    );
    const sliceLen = Math.min(ds.size, Math.max(1024, Math.ceil(taskComparisons / perTaskQueries)));

    interface Job {
      q0: number;
      qn: number;
      start: number;
      end: number;
    }
    const jobs: Job[] = [];
    for (let start = 0; start < ds.size; start += sliceLen) {
      for (let q0 = 0; q0 < queryCount; q0 += perTaskQueries) {
        jobs.push({
          q0,
          qn: Math.min(perTaskQueries, queryCount - q0),
          start,
          end: Math.min(ds.size, start + sliceLen),
        });
      }
    }

    const perQuery: Candidate[][] | undefined =
      k === undefined ? undefined : Array.from({ length: queryCount }, () => []);
    const pairs: Pair[] = [];
    let done = 0;
    let aborted = false;

    ds.use();
    const work = (async (): Promise<void> => {
      // At most `threads` tasks of one link in flight, so the remaining slots
      // (and Piscina's queue) stay open for concurrent low-latency matches.
      let next = 0;
      const runner = async (): Promise<void> => {
        while (!aborted && next < jobs.length) {
          const job = jobs[next++]!;
          const qbytes = queries.subarray(job.q0 * bytes, (job.q0 + job.qn) * bytes);
          if (perQuery) {
            const lists = await this.topKTask(ds, qbytes, job.qn, job.start, job.end, threshold, k!);
            lists.forEach((list, i) => {
              const acc = perQuery[job.q0 + i]!;
              for (const c of list) acc.push(c);
              if (acc.length > 4 * k!) {
                acc.sort(compareCandidates);
                acc.length = k!;
              }
            });
          } else {
            const part = await this.pairsTask(ds, qbytes, job.qn, job.start, job.end, threshold);
            if (pairs.length + part.length > this.maxLinkPairs) {
              throw new PavilionError(
                'LINK_RESULT_TOO_LARGE',
                `the linkage would return more than ${this.maxLinkPairs} pairs: raise the threshold or set topK`,
              );
            }
            for (const p of part) pairs.push({ query: p.query + job.q0, index: p.index, score: p.score });
          }
          done += job.qn * (job.end - job.start);
          if (!aborted) opts?.onProgress?.(done, total);
        }
      };
      await Promise.all(
        Array.from({ length: Math.min(this.threads, jobs.length) }, () =>
          runner().catch((err: unknown) => {
            aborted = true; // the other runners stop taking jobs
            throw err;
          }),
        ),
      );
    })();
    work.finally(() => ds.release()).catch(() => undefined);

    if (signal) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          aborted = true;
          reject(cancelled());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        work
          .then(resolve, (err) => {
            aborted = true;
            reject(err);
          })
          .finally(() => signal.removeEventListener('abort', onAbort));
      });
    } else {
      try {
        await work;
      } catch (err) {
        aborted = true;
        throw err;
      }
    }

    if (perQuery) {
      perQuery.forEach((list, q) => {
        list.sort(compareCandidates);
        for (const c of list.slice(0, k)) pairs.push({ query: q, index: c.index, score: c.score });
      });
    }
    pairs.sort(comparePairs);
    return { version: ds.version, pairs };
  }

  async encode(
    schema: unknown,
    secret: string | Uint8Array,
    rows: string[][],
    opts: EncodeOptions = {},
  ): Promise<Uint8Array> {
    const firstRow = opts.firstRow ?? 0;
    if (!Number.isSafeInteger(firstRow) || firstRow < 0)
      throw new PavilionError('ROWS_INVALID', 'firstRow must be a non-negative integer');
    const deadline = opts.taskDeadlineMs;
    if (deadline !== undefined && !(Number.isFinite(deadline) && deadline > 0))
      throw new PavilionError('ENGINE_OPTIONS_INVALID', 'taskDeadlineMs must be a positive number');
    if (this.closed) throw closedError();
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
      throw new PavilionError('SECRET_INVALID', 'secret must be a string or bytes');
    }
    if (!Array.isArray(rows) || rows.some((r) => !Array.isArray(r) || r.some((v) => typeof v !== 'string'))) {
      throw new PavilionError('ROWS_INVALID', 'rows must be arrays of strings');
    }
    if (rows.length === 0) return new Uint8Array(0);
    const key = encoderKey(schema, secret);
    const { signal } = opts;
    if (signal === undefined && deadline === undefined) {
      const parts: Promise<Uint8Array>[] = [];
      for (let i = 0; i < rows.length; i += ENCODE_ROWS_PER_TASK)
        parts.push(this.run<Uint8Array>(this.encodeTask(key, schema, secret, rows, i, firstRow)));
      return concatBytes(await Promise.all(parts));
    }

    // One controller for the encoding's tasks, aborted by the caller's signal or the deadline.
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(signal!.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const tasks: { part: Promise<Uint8Array>; started?: BigInt64Array; settled: boolean }[] = [];
    for (let i = 0; i < rows.length; i += ENCODE_ROWS_PER_TASK) {
      const started = deadline === undefined ? undefined : new SharedArrayBuffer(8);
      const part = this.run<Uint8Array>(
        { ...this.encodeTask(key, schema, secret, rows, i, firstRow), ...(started ? { started } : {}) },
        undefined,
        stop.signal,
      );
      const entry = { part, settled: false, ...(started ? { started: new BigInt64Array(started) } : {}) };
      const settle = (): void => {
        entry.settled = true;
      };
      part.then(settle, settle);
      tasks.push(entry);
    }
    let timer: NodeJS.Timeout | undefined;
    if (deadline !== undefined) {
      // Looks at each running task's start when the first of them can have overrun (a queued one: 0).
      const watch = (): void => {
        const now = Date.now();
        let next = deadline;
        for (const task of tasks) {
          const at = Number(Atomics.load(task.started!, 0));
          if (at === 0 || task.settled) continue;
          const left = at + deadline - now;
          if (left <= 0) {
            stop.abort(new PavilionError('ENCODE_TIMEOUT', `an encode task ran past its deadline of ${deadline} ms`));
            return;
          }
          next = Math.min(next, left);
        }
        timer = setTimeout(watch, next);
      };
      timer = setTimeout(watch, deadline);
    }
    const parts = tasks.map((t) => t.part);
    // Watched until every task has settled, not only until the first fails: the others stay bounded too.
    void Promise.allSettled(parts).then(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
    try {
      return concatBytes(await Promise.all(parts));
    } catch (err) {
      if (!stop.signal.aborted) throw err;
      const reason: unknown = stop.signal.reason;
      if (isPavilionError(reason)) throw reason;
      throw new PavilionError('ENGINE_INTERNAL', 'the encoding was aborted', { cause: reason });
    }
  }

  /** The encode task of rows [from, from + ENCODE_ROWS_PER_TASK). */
  private encodeTask(
    encoderKey: string,
    schema: unknown,
    secret: string | Uint8Array,
    rows: string[][],
    from: number,
    firstRow: number,
  ): EncodeTask {
    const slice = rows.slice(from, from + ENCODE_ROWS_PER_TASK);
    return { type: 'encode', encoderKey, schema, secret, rows: slice, firstRow: firstRow + from };
  }

  async encodeCsv(
    schema: unknown,
    secret: string | Uint8Array,
    bytes: Uint8Array,
    spec: CsvChunkSpec,
  ): Promise<CsvChunkResult> {
    if (this.closed) throw closedError();
    if (!(bytes instanceof Uint8Array)) throw new PavilionError('ROWS_INVALID', 'bytes must be a Uint8Array');
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
      throw new PavilionError('SECRET_INVALID', 'secret must be a string or bytes');
    }
    // Transfer the bytes when they are the whole of a plain ArrayBuffer; anything else (a pooled
    // Buffer, a view into a larger buffer, shared memory) is copied, so no other data is detached.
    const whole =
      bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const piece = whole ? bytes : bytes.slice();
    return this.run<CsvChunkResult>(
      { type: 'encode-csv', encoderKey: encoderKey(schema, secret), schema, secret, bytes: piece, spec },
      [piece.buffer as ArrayBuffer],
    );
  }

  /**
   * Test and diagnostics hook: runs `count` concurrent probe tasks against a
   * dataset's memory. Each worker reads the word the main thread wrote and
   * writes one back, proving the memory is the same, not a copy.
   */
  async probeSharedMemory(
    id: string,
    count: number,
    holdMs = 50,
  ): Promise<{ results: ProbeResult[]; lastWrite: number; seenByMain: number }> {
    const ds = this.current(id);
    ds.use();
    try {
      const header = new Int32Array(ds.memory.buffer, 0, 16);
      const token = (Math.random() * 0x7fffffff) | 0;
      Atomics.store(header, HEADER_PROBE_IN, token);
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          this.run<ProbeResult>({
            type: 'probe',
            memoryId: ds.memoryId,
            memory: ds.memory,
            write: token + 1 + i,
            holdMs,
          }),
        ),
      );
      return { results, lastWrite: token, seenByMain: Atomics.load(header, HEADER_PROBE_OUT) };
    } finally {
      ds.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ds of this.datasets.values()) ds.retire();
    this.datasets.clear();
    await this.pool.destroy();
  }
}
