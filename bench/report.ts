/**
 * The shape every kernel benchmark section returns, so `bench/kernels.ts` can
 * print one readable table or one JSON object for the whole run.
 */
export interface BenchRow {
  /** What was measured, e.g. "dice wasm-simd 1 thread". */
  name: string;
  value: number;
  /** Unit of `value`, e.g. "M cmp/s" or "records/s". */
  unit: string;
  /** Name of the row this one is compared against, when there is one. */
  baseline?: string;
  /** value / baseline value, computed by the section. */
  ratio?: number;
  note?: string;
}

export interface BenchSection {
  title: string;
  rows: BenchRow[];
}

export interface BenchOptions {
  /** Smaller sizes, for a smoke run. */
  quick: boolean;
}
