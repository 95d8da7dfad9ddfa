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
import type { Engine } from '../../engine/index.js';
import type { Claims, DatasetRecord } from './store.js';

export interface LoadedVersion {
  readonly datasetId: string;
  readonly version: number;
  readonly engineId: string;
  readonly filterBits: number;
  readonly size: number;
  readonly refs: readonly string[];
  readonly claims: readonly Claims[];
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
  async stage(
    id: string,
    version: number,
    filterBits: number,
    rows: { refs: string[]; clks: Uint8Array; claims: Claims[] },
  ): Promise<StagedVersion> {
    const engineId = `${id}@${version}#${++this.loads}`;
    const info = await this.engine.loadDataset(engineId, { refs: rows.refs, clks: rows.clks, filterBits });
    const loaded: LoadedVersion = {
      datasetId: id,
      version,
      engineId,
      filterBits,
      size: info.size,
      refs: rows.refs,
      claims: rows.claims,
    };
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

  /** Loads and serves at once: for versions the database already says are active (start, other brokers). */
  async activate(
    id: string,
    version: number,
    filterBits: number,
    rows: { refs: string[]; clks: Uint8Array; claims: Claims[] },
  ): Promise<LoadedVersion> {
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
