/**
 * Random 1024-bit filters for the benchmarks, no two alike, at the densities they measure:
 * - `sparse`, a quarter of the bits set (two random bytes ANDed): a one-query search reads a quarter of
 *   each tile's bit planes (wasm/assembly/dice.ts, "Tiled (bit-sliced) base");
 * - `half`, random bytes: independent bits at density 0.5, like a well-filled CLK (the kernels' bench);
 * - `dense`, 62.5% (a | (b & c)): near the 67% of CLKs encoded with clkhash's FEBRL schema; a search
 *   counts the query's zeros, 37.5% of the planes.
 */
import { randomBytes } from 'node:crypto';

export const FILTER_BYTES = 128;

export function randomFilters(count: number, density: 'sparse' | 'half' | 'dense'): Buffer {
  const a = randomBytes(count * FILTER_BYTES);
  if (density === 'half') return a;
  const b = randomBytes(count * FILTER_BYTES);
  if (density === 'dense') {
    const c = randomBytes(count * FILTER_BYTES);
    for (let i = 0; i < a.length; i++) a[i]! |= b[i]! & c[i]!;
  } else {
    for (let i = 0; i < a.length; i++) a[i]! &= b[i]!;
  }
  return a;
}
