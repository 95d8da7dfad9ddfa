import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { fromRoot } from '../common/paths.js';

/** Path of a baseline program in bench/baselines/ (the Python and C the kernels are measured against). */
export function baselineScript(name: string): string {
  return fromRoot('bench', 'baselines', name);
}

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

/** The machine a figure was measured on, printed with every benchmark. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** 1-minute load average when the run started: shared machines are noisy. */
  loadAverage: number;
}

export function describeMachine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    loadAverage: Number(loadavg()[0]!.toFixed(1)),
  };
}

export function machineLine(m: Machine): string {
  return (
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load average ${m.loadAverage} ` +
    `at start, ${loadavg()[0]!.toFixed(1)} at end`
  );
}

/** Prints a section as an aligned table: measure, value, unit, ratio to its baseline, note. */
export function printSection(section: BenchSection): void {
  console.log(`\n## ${section.title}`);
  const rows = section.rows.map((r) => [
    r.name,
    formatValue(r.value),
    r.unit,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x ${r.baseline ?? ''}`.trim(),
    r.note ?? '',
  ]);
  const header = ['measure', 'value', 'unit', 'vs', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}
