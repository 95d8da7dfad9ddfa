/**
 * Loader for the Dice kernels (wasm/assembly/dice.ts), built twice:
 * `dice-simd` (v128) and `dice-scalar` (no SIMD opcode at all).
 *
 * - The SIMD build is chosen when the runtime validates a tiny module that
 *   uses v128 (`i8x16.popcnt`); the ENGINE_SIMD setting overrides (true on a
 *   runtime without SIMD is an error, not a silent fallback).
 * - Each build is compiled at most once per thread (`compileDiceModule`
 *   caches); a compiled WebAssembly.Module can be handed to workers through
 *   workerData/postMessage so they never compile it again.
 * - Both builds import a shared memory (`env.memory`): the caller creates it
 *   with `createDiceMemory` and owns its layout.
 */
import { readFileSync } from 'node:fs';
import { PavilionError } from '../common/errors.js';
import { fromRoot } from '../common/paths.js';

export type DiceKernelKind = 'simd' | 'scalar';

/** Raw exports of wasm/assembly/dice.ts (pointers are byte offsets into the shared memory). */
export interface DiceExports {
  popcountFilters(filtersPtr: number, count: number, bytes: number, outPtr: number): void;
  countAnd(aPtr: number, bPtr: number, bytes: number): number;
  lshRuns(
    filtersPtr: number,
    count: number,
    bytes: number,
    partiesPtr: number,
    posPtr: number,
    k: number,
    keysPtr: number,
    orderPtr: number,
    tmpKeysPtr: number,
    tmpOrderPtr: number,
    countsPtr: number,
    runsPtr: number,
    comparisonsPtr: number,
  ): number;
  crossPartyPairs(partiesPtr: number, orderPtr: number, start: number, end: number): number;
  runPairsAtThreshold(
    filtersPtr: number,
    popsPtr: number,
    partiesPtr: number,
    bytes: number,
    orderPtr: number,
    runsPtr: number,
    runCount: number,
    threshold: number,
    posPtr: number,
    k: number,
    band: number,
    outPtr: number,
    outCapacity: number,
    cursorPtr: number,
  ): number;
  /** Tiled base (wasm/assembly/dice.ts, "Tiled (bit-sliced) base"): 512 filters a tile, one plane per bit. */
  tileBytesFor(bytes: number): number;
  tiledScratchBytes(bytes: number): number;
  tileFilters(
    basePtr: number,
    popsPtr: number,
    rangesPtr: number,
    firstTile: number,
    tileCount: number,
    count: number,
    bytes: number,
    scratchPtr: number,
  ): void;
  untileFilters(basePtr: number, first: number, count: number, bytes: number, outPtr: number): void;
  pairsTiled(
    queryPtr: number,
    scratchPtr: number,
    basePtr: number,
    basePopsPtr: number,
    rangesPtr: number,
    baseStart: number,
    baseEnd: number,
    bytes: number,
    threshold: number,
    queryIndex: number,
    outPtr: number,
    outCapacity: number,
    cursorPtr: number,
  ): number;
  topKTiled(
    queryPtr: number,
    scratchPtr: number,
    basePtr: number,
    basePopsPtr: number,
    rangesPtr: number,
    baseStart: number,
    baseEnd: number,
    bytes: number,
    threshold: number,
    k: number,
    queryCount: number,
    queryIndex: number,
    heapScoresPtr: number,
    heapIndicesPtr: number,
    heapCountsPtr: number,
  ): void;
}

/** Filters per tile of a dataset's base (TILE_LANES in wasm/assembly/dice.ts; a test keeps the two equal). */
export const TILE_LANES = 512;
/** Bytes of one tile of filters of `filterBytes` bytes (tileBytesFor in the kernels). */
export const tileBytes = (filterBytes: number): number => filterBytes * TILE_LANES;
/**
 * Scratch topKTiled and pairsTiled need: the plane list (4 B per bit), 2 × 21 counter planes, a mask and
 * two words (tiledScratchBytes).
 */
export const tiledScratchBytes = (filterBytes: number): number =>
  Math.ceil((filterBytes * 32) / 64) * 64 + 21 * 16 * 2 + 16 + 16;

export interface DiceKernel {
  readonly kind: DiceKernelKind;
  readonly memory: WebAssembly.Memory;
  readonly exports: DiceExports;
}

/** The modules declare maximum 65536 pages (asconfig.json); an imported memory may not exceed it. */
export const DICE_MAX_PAGES = 65536;
export const WASM_PAGE_BYTES = 65536;

// (module (func (result v128) v128.const i32x4 0 0 0 0  i8x16.popcnt))
// i8x16.popcnt was among the last opcodes the SIMD proposal settled (early drafts lack it): a runtime that
// validates it has all of the final 128-bit SIMD the build uses.
const SIMD_PROBE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // magic, version
  0x01,
  0x05,
  0x01,
  0x60,
  0x00,
  0x01,
  0x7b, // type section: () -> v128
  0x03,
  0x02,
  0x01,
  0x00, // function section
  0x0a,
  0x18,
  0x01,
  0x16,
  0x00, // code section: one body of 22 bytes, no locals
  0xfd,
  0x0c,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0, // v128.const
  0xfd,
  0x62, // i8x16.popcnt
  0x0b, // end
]);

let simdSupportCache: boolean | undefined;

/** True when this runtime validates the final wasm SIMD (probed with i8x16.popcnt). */
export function wasmSimdSupported(): boolean {
  if (simdSupportCache === undefined) {
    try {
      simdSupportCache = WebAssembly.validate(SIMD_PROBE);
    } catch {
      simdSupportCache = false;
    }
  }
  return simdSupportCache === true;
}

/**
 * Which build to use: `simd` when given (the ENGINE_SIMD setting, server/config.ts), else runtime
 * detection. `supported` is the detection result (a parameter so the no-SIMD branch can be tested here).
 */
export function selectDiceKernel(simd?: boolean, supported: boolean = wasmSimdSupported()): DiceKernelKind {
  if (simd === true) {
    if (!supported) {
      throw new PavilionError(
        'WASM_SIMD_UNSUPPORTED',
        'the SIMD Dice kernel was requested (ENGINE_SIMD=true) but this runtime does not support wasm SIMD',
      );
    }
    return 'simd';
  }
  if (simd === false) return 'scalar';
  return supported ? 'simd' : 'scalar';
}

const moduleCache = new Map<DiceKernelKind, WebAssembly.Module>();

/** Compiles (once per thread) the chosen build from wasm/build/dice-<kind>.wasm. */
export function compileDiceModule(kind: DiceKernelKind): WebAssembly.Module {
  let mod = moduleCache.get(kind);
  if (!mod) {
    const path = fromRoot('wasm', 'build', `dice-${kind}.wasm`);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      const file = readFileSync(path);
      bytes = new Uint8Array(file.buffer as ArrayBuffer, file.byteOffset, file.length);
    } catch (err) {
      throw new PavilionError('WASM_NOT_BUILT', `wasm/build/dice-${kind}.wasm is missing: run npm run build:wasm`, {
        cause: err,
      });
    }
    mod = new WebAssembly.Module(bytes);
    moduleCache.set(kind, mod);
  }
  return mod;
}

/** Records a module received from another thread so this thread never compiles it. */
export function adoptDiceModule(kind: DiceKernelKind, mod: WebAssembly.Module): void {
  if (!moduleCache.has(kind)) moduleCache.set(kind, mod);
}

/** A shared memory of exactly `bytes` (rounded up to pages) for the Dice kernels. */
export function createDiceMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES));
  if (pages > DICE_MAX_PAGES) {
    throw new PavilionError(
      'DATASET_TOO_LARGE',
      `dataset needs ${pages} wasm pages; the limit is ${DICE_MAX_PAGES} (4 GiB)`,
    );
  }
  // initial = maximum: the memory never grows, so no address space is
  // reserved beyond what the dataset uses.
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** Instantiates a build against a shared memory (synchronous: the module is already compiled). */
export function instantiateDice(
  kind: DiceKernelKind,
  memory: WebAssembly.Memory,
  mod?: WebAssembly.Module,
): DiceKernel {
  const instance = new WebAssembly.Instance(mod ?? compileDiceModule(kind), { env: { memory } });
  return { kind, memory, exports: instance.exports as unknown as DiceExports };
}
