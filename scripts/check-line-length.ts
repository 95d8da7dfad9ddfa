/**
 * `npm run lint` (with Biome): no line of the project's own code or docs over 120 columns. Biome's
 * formatter wraps code, but not strings, comments or SQL in template literals; this catches those.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../common/paths.js';

const LIMIT = 120;
const files = execFileSync(
  'git',
  ['ls-files', '-co', '--exclude-standard', '*.ts', '*.mjs', '*.js', '*.sh', '*.rego'],
  {
    cwd: fromRoot(),
    encoding: 'utf8',
  },
)
  .trim()
  .split('\n')
  // AssemblyScript is outside Biome (biome.jsonc); generated and vendored files are not ours.
  .filter((f) => f && !f.startsWith('wasm/assembly/') && !f.includes('/dist/') && !f.startsWith('deploy/helm/'));

const long: string[] = [];
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(fromRoot(file), 'utf8');
  } catch {
    continue; // listed but deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    if ([...line].length > LIMIT) long.push(`${file}:${i + 1}: ${[...line].length} columns`);
  });
}
if (long.length > 0) {
  console.error(`${long.length} line(s) over ${LIMIT} columns:\n${long.join('\n')}`);
  process.exit(1);
}
