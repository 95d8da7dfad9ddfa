/**
 * `npm run bench:kernels [-- --json] [-- --quick]`: Dice and CLK-encoding
 * throughput, every kernel side by side with its baselines in one run
 * (wasm SIMD, wasm scalar, plain JS, native C, anonlink and clkhash when
 * python3 has them; the Python baselines are in bench/baselines/), and
 * `pavilion encode` against clkhash on FEBRL-like CSVs as whole processes
 * (needs `npm run build`), printed with the machine and Node version.
 */

import { run as runDice } from './dice.js';
import { run as runEncoding } from './encoding.js';
import { flag, parseBenchArgs } from './options.js';
import { type BenchSection, describeMachine, machineLine, printSection } from './report.js';

const { values } = parseBenchArgs({
  name: 'bench:kernels',
  run: 'npm run bench:kernels --',
  about: 'Dice and CLK-encoding throughput, every kernel beside its baselines (the encoding rows need npm run build).',
  options: {
    quick: flag('smaller sizes, for a smoke run (about 20 s on the 2-core development machine)'),
    json: flag('one JSON object on stdout instead of the tables'),
  },
});
const { json, quick } = values;

const machine = describeMachine();

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
  console.log(`\n${machineLine(machine)}; ${seconds.toFixed(1)} s`);
}
