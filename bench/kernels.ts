/**
 * `npm run bench:kernels [-- --json] [-- --quick]`: Dice and CLK-encoding
 * throughput, every kernel side by side with its baselines in one run
 * (wasm SIMD, wasm scalar, plain JS, native C, anonlink and clkhash when
 * python3 has them), printed with the machine and Node version.
 */
import { cpus, totalmem, platform, release } from 'node:os';
import type { BenchSection } from './report.js';
import { run as runDice } from './dice.js';
import { run as runEncoding } from './encoding.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  os: `${platform()} ${release()}`,
  node: process.version,
};

const started = performance.now();
const sections: BenchSection[] = [];
for (const run of [runDice, runEncoding]) {
  for (const section of await run({ quick })) {
    sections.push(section);
    if (!json) printSection(section);
  }
}
const seconds = (performance.now() - started) / 1000;

if (json) {
  console.log(JSON.stringify({ machine, quick, seconds: Number(seconds.toFixed(1)), sections }, null, 2));
} else {
  console.log(`\n${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; ${seconds.toFixed(1)} s`);
}

function printSection(section: BenchSection): void {
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
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}
