/**
 * The import graph between folders points one way, down (docs/architecture.md, "Layers"): a folder may
 * import only from folders of a lower layer, so the graph has no upward arrow and no cycle. Production
 * code never imports the plain TypeScript references the wasm kernels are tested against.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../common/paths.js';

/** Layer of each folder, bottom up. `server/*` are the broker's own layers. */
const LAYERS: Record<string, number> = {
  common: 0,
  wasm: 1,
  storage: 1,
  engine: 2,
  audit: 2,
  anchoring: 2,
  identity: 2,
  policy: 2,
  cache: 2,
  metrics: 2,
  demo: 2,
  client: 3,
  'server/config': 3,
  'server/support': 4,
  'server/http': 4,
  'server/parties': 5,
  'server/datasets': 5,
  'server/verification': 6,
  'server/linkage': 6,
  'server/routes': 7,
  'server/wiring': 8,
  'server/app': 9,
  'server/demo': 10,
  'server/main': 11,
  cli: 12,
  'demo/web': 13,
  bin: 13,
  bench: 13,
  scripts: 13,
};

/**
 * `server/datasets/store.ts` → `server/datasets`; `server/app.ts` → `server/app`; `engine/clk/x.ts` → `engine`;
 * `demo/web/` (the browser page, a client of the broker) is its own folder.
 */
function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'server') return `server/${parts[1]!.replace(/\.[tj]s$/, '')}`;
  if (parts[0] === 'demo' && parts[1] === 'web') return 'demo/web';
  return parts[0]!;
}

function importEdges(): { from: string; to: string; file: string }[] {
  const files = execFileSync('git', ['ls-files', '*.ts', '*.mjs', '*.js'], { cwd: fromRoot(), encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter((f) => !/^(test|wasm\/assembly)\//.test(f) && f.includes('/'));
  const edges: { from: string; to: string; file: string }[] = [];
  for (const file of files) {
    const text = readFileSync(fromRoot(file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = relative(fromRoot(), resolve(dirname(fromRoot(file)), m[1]!));
      edges.push({ from: folderOf(file), to: folderOf(target), file: `${file} → ${target}` });
    }
  }
  return edges;
}

describe('layout', () => {
  const edges = importEdges();

  it('every folder has a layer', () => {
    const folders = new Set(edges.flatMap((e) => [e.from, e.to]));
    expect([...folders].filter((f) => LAYERS[f] === undefined)).toEqual([]);
  });

  it('imports point down: no upward arrow, hence no cycle', () => {
    const upward = edges.filter((e) => e.from !== e.to && LAYERS[e.from]! <= LAYERS[e.to]!);
    expect(upward.map((e) => e.file)).toEqual([]);
  });

  it('production code does not import the test references of the kernels (wasm/reference/)', () => {
    expect(edges.filter((e) => e.file.split(' → ')[1]!.startsWith('wasm/reference/')).map((e) => e.file)).toEqual([]);
  });
});
