/**
 * The datasets the broker is serving right now: for each dataset id, the
 * active version loaded in the engine, with the refs and claims the answers
 * need.
 *
 * Each version is loaded into the engine under its own engine id
 * (`<dataset>@<version>#<load>`: a version served again after a rollback is
 * a new load, so dropping the old load, once its last request ends, never
 * drops the one serving), and the active pointer moves only once the new
 * version is fully loaded. Requests take a lease on the version they started
 * with, so a swap never changes the data under an in-flight request: the old
 * version is dropped from the engine when its last lease ends. This keeps the
 * dataset version reported in answers, cache keys and audit events exactly
 * the one the search ran on.
 */
import { PavilionError } from '../../common/errors.js';
import type { DatasetLoad, Engine, RefList } from '../../engine/index.js';
import { ClaimColumn, ClaimColumnBuilder, type ClaimList } from './claim-column.js';
import type { Claims, DatasetRecord, VersionSink } from './store.js';

/** A version's rows in memory (a fresh upload), or a reader that streams them (DatasetStore.readVersionInto). */
export type VersionSource =
  | { refs: string[]; clks: Uint8Array; claims: Claims[] }
  | ((sink: VersionSink) => Promise<number>);

export interface LoadedVersion {
  readonly datasetId: string;
  readonly version: number;
  readonly engineId: string;
  readonly filterBits: number;
  readonly size: number;
  /** Packed (engine/refs.ts) and a claim column (claim-column.ts): 10M records' worth stays small. */
  readonly refs: RefList;
  readonly claims: ClaimList;
}

interface Slot {
  loaded: LoadedVersion;
  leases: number;
  retired: boolean;
}

/** A version loaded in the engine but not serving yet (ActiveDatasets.stage). */
export interface StagedVersion {
  readonly loaded: LoadedVersion;
  /** Makes it the version that answers; the previous one is dropped once its last request ends. */
  serve(): Promise<void>;
  /** Drops it from the engine; nothing ever answered from it. */
  discard(): Promise<void>;
}

export interface Lease {
  readonly version: LoadedVersion;
  release(): void;
}

export class ActiveDatasets {
  private readonly active = new Map<string, Slot>();
  /** Loads so far, numbering engine ids. */
  private loads = 0;
  /** Definitions (schema, claims, flags) cached from the store; refreshed on every change. */
  private readonly definitions = new Map<string, DatasetRecord>();

  constructor(
    private readonly engine: Engine,
    private readonly onDropped?: (datasetId: string, version: number) => void,
  ) {}

  setDefinition(record: DatasetRecord): void {
    this.definitions.set(record.id, record);
  }

  definition(id: string): DatasetRecord | undefined {
    return this.definitions.get(id);
  }

  /** Ids with a definition here (served, or defined without a version yet). */
  ids(): string[] {
    return [...this.definitions.keys()];
  }

  current(id: string): LoadedVersion | undefined {
    return this.active.get(id)?.loaded;
  }

  /** Sizes of every active version, for metrics. */
  sizes(): { id: string; version: number; size: number }[] {
    return [...this.active.values()].map((s) => ({
      id: s.loaded.datasetId,
      version: s.loaded.version,
      size: s.loaded.size,
    }));
  }

  /**
   * Leases the active version of `id`. DATASET_NOT_FOUND (404) for an
   * unknown dataset, DATASET_NOT_READY (409) when it has no version yet.
   */
  acquire(id: string): Lease {
    const slot = this.active.get(id);
    if (!slot) {
      if (this.definitions.has(id))
        throw new PavilionError('DATASET_NOT_READY', 'the dataset has no active version yet');
      throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
    }
    slot.leases++;
    let released = false;
    return {
      version: slot.loaded,
      release: () => {
        if (released) return;
        released = true;
        slot.leases--;
        if (slot.retired && slot.leases === 0) void this.drop(slot);
      },
    };
  }

  /**
   * Loads `rows` as version `version` of `id` into the engine without serving it: the answer to "which
   * version serves" must follow what the database committed, so the caller commits the version there
   * first and only then `serve()`s it, or `discard()`s it when the commit failed. Until `serve()` the
   * previous version answers every request.
   */
  async stage(id: string, version: number, filterBits: number, rows: VersionSource): Promise<StagedVersion> {
    const engineId = `${id}@${version}#${++this.loads}`;
    const { size, claims } =
      typeof rows === 'function'
        ? await this.loadStreamed(engineId, filterBits, rows)
        : {
            size: (await this.engine.loadDataset(engineId, { refs: rows.refs, clks: rows.clks, filterBits })).size,
            claims: ClaimColumn.from(rows.claims),
          };
    // The engine holds the refs, packed (engine/refs.ts); answers read them from there.
    const refs = this.engine.datasetRefs(engineId)!;
    const loaded: LoadedVersion = { datasetId: id, version, engineId, filterBits, size, refs, claims };
    let settled = false;
    return {
      loaded,
      serve: async () => {
        if (settled) return;
        settled = true;
        const previous = this.active.get(id);
        this.active.set(id, { loaded, leases: 0, retired: false });
        if (previous) {
          previous.retired = true;
          if (previous.leases === 0) await this.drop(previous);
        }
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await this.drop({ loaded, leases: 0, retired: true });
      },
    };
  }

  /**
   * A version read chunk by chunk straight into the engine's shared memory (Engine.beginDataset), refs
   * packed and claims in a column as they come: a 10M-record version never exists twice in memory.
   */
  private async loadStreamed(
    engineId: string,
    filterBits: number,
    read: (sink: VersionSink) => Promise<number>,
  ): Promise<{ size: number; claims: ClaimList }> {
    let load: DatasetLoad | undefined;
    let claims = new ClaimColumnBuilder();
    try {
      await read({
        begin: (total) => {
          load = this.engine.beginDataset(engineId, { filterBits, count: total });
          claims = new ClaimColumnBuilder(total);
          return load.filters;
        },
        rows: (refs, rowClaims) => {
          load!.refs.pushAll(refs);
          for (let i = 0; i < refs.length; i++) claims.push(rowClaims[i] ?? null);
        },
      });
      if (!load) throw new PavilionError('DATASET_EMPTY', 'the version has no rows');
      const info = await load.finish();
      return { size: info.size, claims: claims.finish() };
    } catch (err) {
      load?.abort();
      throw err;
    }
  }

  /** Loads and serves at once: for versions the database already says are active (start, other brokers). */
  async activate(id: string, version: number, filterBits: number, rows: VersionSource): Promise<LoadedVersion> {
    const staged = await this.stage(id, version, filterBits, rows);
    await staged.serve();
    return staged.loaded;
  }

  /** Stops serving `id`: new requests get DATASET_NOT_FOUND; in-flight ones finish on their lease. */
  remove(id: string): void {
    this.definitions.delete(id);
    const slot = this.active.get(id);
    if (!slot) return;
    this.active.delete(id);
    slot.retired = true;
    if (slot.leases === 0) void this.drop(slot);
  }

  private async drop(slot: Slot): Promise<void> {
    try {
      await this.engine.dropDataset(slot.loaded.engineId);
    } catch {
      /* the engine may already be closing; nothing else holds the memory */
    }
    this.onDropped?.(slot.loaded.datasetId, slot.loaded.version);
  }

  async close(): Promise<void> {
    this.active.clear();
  }
}
