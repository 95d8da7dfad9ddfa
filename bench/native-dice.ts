/**
 * The C reference for the Dice kernels (bench/native/dice.c): built here with gcc and run on a file of
 * filters, so bench/dice.ts (batched comparisons, 1:N latency) and bench/big-dataset.ts (1:N over 10M) put
 * the same native numbers beside the engine's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dice.c built twice in `dir` (gcc -O3 -march=native, with and without vectorisation), or why not. */
export type NativeBuilds = { scalar: string; vectorized: string } | { note: string };

export function buildNative(dir: string): NativeBuilds {
  const source = fileURLToPath(new URL('./native/dice.c', import.meta.url));
  const probe = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return { note: 'gcc not found' };
  const build = (name: string, flags: string[]): string => {
    const exe = join(dir, `dice-${name}`);
    execFileSync('gcc', ['-O3', '-march=native', '-pthread', ...flags, '-o', exe, source], { stdio: 'pipe' });
    return exe;
  };
  return { scalar: build('scalar', ['-fno-tree-vectorize']), vectorized: build('vectorized', []) };
}

export interface NativeRun {
  /** Comparisons per second over the best window of at least 100 ms. */
  bestWindowRate: number;
  /** Median time of one pass of every query over the whole base. */
  passMedianSeconds: number;
}

/** Runs a build on `dataFile` (the queries, then the base filters, `bytes` each) for about `seconds`. */
export function runNative(
  exe: string,
  dataFile: string,
  o: {
    queries: number;
    base: number;
    bytes: number;
    threshold: number;
    topK: number;
    seconds: number;
    threads?: number;
  },
): NativeRun {
  const args = [dataFile, o.queries, o.base, o.bytes, o.threshold, o.topK, o.seconds, o.threads ?? 1].map(String);
  return JSON.parse(execFileSync(exe, args, { encoding: 'utf8' })) as NativeRun;
}
