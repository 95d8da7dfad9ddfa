/**
 * One immutable version of a dataset on the main thread: its shared memory
 * (filters, popcounts, scratch slots), refs and claims, and a use count.
 *
 * Replacing a dataset installs a new version and retires the old one; the old
 * memory stays valid until the last task using it has finished (use count 0),
 * then the header's RETIRED flag tells workers to drop their instances.
 */
import { PavilionError } from '../common/errors.js';
import { createDiceMemory } from '../wasm/dice.js';
import { computeLayout, type DatasetLayout, HEADER_CURSORS, HEADER_RETIRED } from './layout.js';
import { PackedRefs, type RefList } from './refs.js';
import { SlotAllocator } from './slots.js';
import { validateClk, validateFilterBits } from './validation.js';

export interface DatasetInput {
  /** One per record: strings, or already packed (engine/refs.ts). */
  refs: readonly string[] | PackedRefs;
  clks: Uint8Array | Uint8Array[];
  filterBits: number;
  claims?: (Record<string, unknown> | undefined)[];
}

export interface DatasetInfo {
  id: string;
  version: number;
  size: number;
  filterBits: number;
}

let lastMemoryId = 0;

const NO_REFS: RefList = [];

/** A process-wide id for a shared memory, by which workers cache their kernel instance (also engine/linkage/). */
export const allocateMemoryId = (): number => ++lastMemoryId;

export class DatasetVersion {
  readonly memoryId = allocateMemoryId();
  readonly memory: WebAssembly.Memory;
  readonly layout: DatasetLayout;
  readonly slots: SlotAllocator;
  /** Scan cursors in the header page (layout.ts), one per one-query search in flight. */
  readonly cursors = new SlotAllocator(HEADER_CURSORS);
  private readonly header: Int32Array;
  private users = 0;
  private retired = false;

  /** Packed (engine/refs.ts); empty until a streamed load (allocate) has all of them. */
  refs: RefList = NO_REFS;

  private constructor(
    readonly id: string,
    readonly version: number,
    readonly filterBits: number,
    count: number,
    readonly claims: readonly (Record<string, unknown> | undefined)[] | undefined,
    slotCount: number,
  ) {
    this.layout = computeLayout(filterBits, count, slotCount);
    this.memory = createDiceMemory(this.layout.totalBytes);
    this.header = new Int32Array(this.memory.buffer, 0, 16);
    this.slots = new SlotAllocator(slotCount);
  }

  /**
   * An empty version with room for `count` filters, written in place by the caller (engine.ts
   * beginDataset): the filters never exist twice in memory, which at 10M records is the difference
   * between 1.3 and 2.6 GB while loading.
   */
  static allocate(id: string, version: number, filterBits: number, count: number, slotCount: number): DatasetVersion {
    if (typeof id !== 'string' || id.length === 0)
      throw new PavilionError('DATASET_INVALID', 'dataset id must be a non-empty string');
    validateFilterBits(filterBits);
    if (!Number.isSafeInteger(count) || count < 0)
      throw new PavilionError('DATASET_INVALID', 'count must be a non-negative integer');
    if (count === 0) throw new PavilionError('DATASET_EMPTY', 'dataset has no records');
    return new DatasetVersion(id, version, filterBits, count, undefined, slotCount);
  }

  /** Where filter `index` starts: the filters are written here before the version is installed. */
  filtersView(): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.layout.basePtr, this.layout.count * this.layout.bytes);
  }

  /** Validates the input and copies the filters into a new shared memory (popcounts are filled by the engine). */
  static build(id: string, version: number, data: DatasetInput, slotCount: number): DatasetVersion {
    if (typeof id !== 'string' || id.length === 0)
      throw new PavilionError('DATASET_INVALID', 'dataset id must be a non-empty string');
    if (typeof data !== 'object' || data === null)
      throw new PavilionError('DATASET_INVALID', 'dataset must be an object');
    const filterBits = validateFilterBits(data.filterBits);
    const bytes = filterBits / 8;
    const { refs, clks, claims } = data;
    if (!(refs instanceof PackedRefs) && (!Array.isArray(refs) || refs.some((r) => typeof r !== 'string'))) {
      throw new PavilionError('DATASET_INVALID', 'refs must be an array of strings');
    }
    let count: number;
    if (clks instanceof Uint8Array) {
      if (clks.length % bytes !== 0) {
        throw new PavilionError(
          'CLK_LENGTH_MISMATCH',
          `clks length is not a multiple of ${bytes} bytes (${filterBits}-bit filters)`,
        );
      }
      count = clks.length / bytes;
    } else if (Array.isArray(clks)) {
      count = clks.length;
      clks.forEach((c, i) => {
        validateClk(c, filterBits, `clks[${i}]`);
      });
    } else {
      throw new PavilionError('DATASET_INVALID', 'clks must be bytes or an array of byte arrays');
    }
    if (count === 0 && refs.length === 0) throw new PavilionError('DATASET_EMPTY', 'dataset has no records');
    if (count !== refs.length) throw new PavilionError('DATASET_INVALID', `${refs.length} refs but ${count} clks`);
    if (claims !== undefined && (!Array.isArray(claims) || claims.length !== count)) {
      throw new PavilionError('DATASET_INVALID', `claims must be an array with one entry per record (${count})`);
    }
    const ds = new DatasetVersion(id, version, filterBits, count, claims?.slice(), slotCount);
    ds.refs = refs instanceof PackedRefs ? refs : PackedRefs.from(refs);
    const dest = new Uint8Array(ds.memory.buffer, ds.layout.basePtr, count * bytes);
    if (clks instanceof Uint8Array) dest.set(clks);
    else
      clks.forEach((c, i) => {
        dest.set(c, i * bytes);
      });
    return ds;
  }

  get size(): number {
    return this.layout.count;
  }

  get info(): DatasetInfo {
    return { id: this.id, version: this.version, size: this.size, filterBits: this.filterBits };
  }

  /** Marks a task as using this version; pair with release(). */
  use(): void {
    this.users++;
  }

  release(): void {
    this.users--;
    this.freeIfUnused();
  }

  /** No new work will start on this version; it is freed once in-flight work ends. */
  retire(): void {
    this.retired = true;
    this.freeIfUnused();
  }

  get isRetired(): boolean {
    return this.retired;
  }

  private freeIfUnused(): void {
    if (this.retired && this.users === 0) {
      Atomics.store(this.header, HEADER_RETIRED, 1);
      this.slots.close();
      this.cursors.close();
    }
  }
}
