/**
 * The package root, found the same way whether code runs from TypeScript
 * source (vitest, tsx) or from the compiled dist/ tree: walk up from this
 * file to the folder holding package.json. Assets that are not compiled
 * (wasm/build/*.wasm, demo/schema.json, policy wasm) are read relative to it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`package.json not found above ${from}`);
  }
}

export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of a file given relative to the package root. */
export function fromRoot(...segments: string[]): string {
  return join(packageRoot, ...segments);
}
