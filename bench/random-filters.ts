/**
 * Random 1024-bit filters for the benchmarks, no two alike, at the densities they measure:
 * - `sparse`, a quarter of the bits set (two random bytes ANDed): the engine builds block-count sketches
 *   for them and a one-query search skips most (engine/engine.ts sketchIfSparse);
 * - `half`, random bytes: independent bits at density 0.5, like a well-filled CLK (the kernels' bench);
 * - `dense`, 62.5% (a | (b & c)): near the 67% of CLKs encoded with clkhash's FEBRL schema, which get
 *   no sketches and are read whole.
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
