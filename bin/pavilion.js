#!/usr/bin/env node
// The `pavilion` command. Runs the compiled CLI from dist/ (built by
// `npm install` / `npm run build`).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('pavilion: dist/ is missing; run `npm run build` first');
  process.exit(2);
}
await import(main.href);
