/**
 * The README is the front door: its settings table must be the one config.ts
 * enforces, and the commands it names must exist.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../common/paths.js';
import { settingsMarkdown } from '../server/config.js';

const readme = readFileSync(fromRoot('README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('README', () => {
  it('carries the settings table generated from server/config.ts', () => {
    expect(readme).toContain(settingsMarkdown().trim());
  });

  it('names only npm scripts that exist', () => {
    const named = [...readme.matchAll(/npm run ([a-z:]+)/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    for (const script of named) expect(pkg.scripts, script).toHaveProperty(script);
    for (const script of ['start', 'test']) expect(pkg.scripts).toHaveProperty(script);
  });
});
