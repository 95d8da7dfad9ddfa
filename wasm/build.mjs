// Builds every AssemblyScript kernel listed in asconfig.json into wasm/build/.
// Run by `npm install` (postinstall) and `npm run build`; the .wasm files are
// build outputs, never committed.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asc = join(dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')), 'bin', 'asc.js');

// target name in asconfig.json -> AssemblyScript entry file
const kernels = {
  crypto: 'wasm/assembly/crypto.ts',
  'dice-simd': 'wasm/assembly/dice.ts',
  'dice-scalar': 'wasm/assembly/dice.ts',
};

mkdirSync(join(root, 'wasm', 'build'), { recursive: true });
for (const [target, entry] of Object.entries(kernels)) {
  execFileSync(process.execPath, [asc, entry, '--config', 'asconfig.json', '--target', target], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(`built wasm/build/${target}.wasm`);
}
