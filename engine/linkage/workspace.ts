/**
 * One shared WebAssembly.Memory holding every party of a blocked or
 * multi-party linkage, for all workers (the same scheme as a dataset version,
 * engine/layout.ts; the header's RETIRED word tells workers to drop their
 * instance):
 *
 *   [0, 64 KiB)   header page
 *   positions     LSH bit positions, bands × k u16
 *   parties       party number of each record, u8 (global record ids are party-major)
 *   filters       records × bytes
 *   popcounts     records × u32
 *   block order   explicit blocks only: global ids grouped by block, then runs (u32 pairs)
 *   slots         per task in flight: LSH keys, order and radix scratch (records × 4 u32),
 *                 65,536 radix counts, cursor and counters, and a 1 MiB output area
 */
import { createDiceMemory, WASM_PAGE_BYTES } from '../../wasm/dice.js';
import { allocateMemoryId } from '../dataset.js';
import { HEADER_RETIRED, PAIR_ENTRY_BYTES, SLOT_OUTPUT_BYTES } from '../layout.js';
import { SlotAllocator } from '../slots.js';

const align = (n: number, a = 64): number => Math.ceil(n / a) * a;
const RADIX_COUNTS_BYTES = 65536 * 4;
/** cursor (4 × u32) and the band's comparison count (f64). */
const SLOT_CONTROL_BYTES = 64;

export interface WorkspaceSlot {
  keysPtr: number;
  orderPtr: number;
  tmpKeysPtr: number;
  tmpOrderPtr: number;
  countsPtr: number;
  cursorPtr: number;
  comparisonsPtr: number;
  outPtr: number;
  outCapacity: number;
}

/** Numbers a worker needs to find everything in the memory. */
export interface WorkspaceLayout {
  bytes: number;
  count: number;
  posPtr: number;
  partiesPtr: number;
  filtersPtr: number;
  popsPtr: number;
  blockOrderPtr: number;
  blockRunsPtr: number;
}

export class Workspace {
  readonly memoryId = allocateMemoryId();
  readonly memory: WebAssembly.Memory;
  readonly layout: WorkspaceLayout;
  readonly slots: SlotAllocator;
  /** First global record id of each party, then the total. */
  readonly offsets: number[];
  private readonly slotAt: WorkspaceSlot[] = [];

  constructor(
    sizes: readonly number[],
    filterBits: number,
    opts: {
      positionCount: number;
      blockOrderLength: number;
      blockRunCount: number;
      lshSlots: boolean;
      slotCount: number;
    },
  ) {
    const bytes = filterBits / 8;
    this.offsets = [0];
    for (const n of sizes) this.offsets.push(this.offsets.at(-1)! + n);
    const count = this.offsets.at(-1)!;
    const posPtr = WASM_PAGE_BYTES;
    const partiesPtr = align(posPtr + opts.positionCount * 2);
    const filtersPtr = align(partiesPtr + count);
    const popsPtr = align(filtersPtr + count * bytes);
    const blockOrderPtr = align(popsPtr + count * 4);
    const blockRunsPtr = align(blockOrderPtr + opts.blockOrderLength * 4);
    let at = align(blockRunsPtr + opts.blockRunCount * 8);
    const lshBytes = opts.lshSlots ? align(count * 4) : 0;
    for (let s = 0; s < opts.slotCount; s++) {
      const keysPtr = at;
      const orderPtr = keysPtr + lshBytes;
      const tmpKeysPtr = orderPtr + lshBytes;
      const tmpOrderPtr = tmpKeysPtr + lshBytes;
      const countsPtr = tmpOrderPtr + lshBytes;
      const cursorPtr = countsPtr + (opts.lshSlots ? RADIX_COUNTS_BYTES : 0);
      const outPtr = cursorPtr + SLOT_CONTROL_BYTES;
      this.slotAt.push({
        keysPtr,
        orderPtr,
        tmpKeysPtr,
        tmpOrderPtr,
        countsPtr,
        cursorPtr,
        comparisonsPtr: cursorPtr + 16,
        outPtr,
        outCapacity: SLOT_OUTPUT_BYTES / PAIR_ENTRY_BYTES,
      });
      at = align(outPtr + SLOT_OUTPUT_BYTES);
    }
    this.memory = createDiceMemory(at);
    this.layout = { bytes, count, posPtr, partiesPtr, filtersPtr, popsPtr, blockOrderPtr, blockRunsPtr };
    this.slots = new SlotAllocator(opts.slotCount);
    const partyOf = new Uint8Array(this.memory.buffer, partiesPtr, count);
    sizes.forEach((_, p) => {
      partyOf.fill(p, this.offsets[p]!, this.offsets[p + 1]!);
    });
  }

  /** Where party p's CLKs go: write them here (linkParties copies arrays, or lets a PartySource fill it). */
  partyFilters(p: number): Uint8Array {
    const { bytes, filtersPtr } = this.layout;
    return new Uint8Array(
      this.memory.buffer,
      filtersPtr + this.offsets[p]! * bytes,
      (this.offsets[p + 1]! - this.offsets[p]!) * bytes,
    );
  }

  slot(n: number): WorkspaceSlot {
    return this.slotAt[n]!;
  }

  /** Party and index within it of a global record id. */
  locate(g: number): [party: number, index: number] {
    let lo = 0;
    let hi = this.offsets.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid]! <= g) lo = mid;
      else hi = mid - 1;
    }
    return [lo, g - this.offsets[lo]!];
  }

  /** No task will use the memory again: workers drop their instances at their next task. */
  retire(): void {
    Atomics.store(new Int32Array(this.memory.buffer, 0, 16), HEADER_RETIRED, 1);
    this.slots.close();
  }
}
