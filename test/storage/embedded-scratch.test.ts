/**
 * The embedded database without PGLITE_DATA_DIR lives in a private temporary folder (storage/embedded-server.ts):
 * it exists while the database is open and is gone once it is closed, and also when the process exits without
 * closing it (a crash, process.exit). Each case runs in a child process whose TMPDIR is a folder of its own, so
 * what is left there is only what that process left.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const POSTGRES_MODULE = fileURLToPath(new URL('../../storage/postgres.ts', import.meta.url));
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Opens the embedded database in a child, prints the folders its TMPDIR holds, then `ending`; what is left. */
function run(ending: string): { whileOpen: string[]; after: string[]; status: number | null } {
  const tmp = mkdtempSync(join(tmpdir(), 'pavilion-scratch-test-'));
  made.push(tmp);
  const script =
    `const { openDatabase } = await import(${JSON.stringify(POSTGRES_MODULE)});` +
    'const db = await openDatabase({});' +
    'await db.sql`create table t (x int)`;' +
    "console.log(JSON.stringify((await import('node:fs')).readdirSync(process.env.TMPDIR)));" +
    ending;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, TMPDIR: tmp, DATABASE_URL: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = child.stdout.trim().split('\n').at(-1) ?? '[]';
  // Only the database's folders: tsx keeps a cache of its own in TMPDIR too.
  const ours = (names: string[]) => names.filter((n) => n.startsWith('pavilion-pglite-'));
  return { whileOpen: ours(JSON.parse(line) as string[]), after: ours(readdirSync(tmp)), status: child.status };
}

describe('the embedded database without a data folder', () => {
  it('lives in a temporary folder removed when it closes', () => {
    const r = run('await db.close();');
    expect(r.status).toBe(0);
    expect(r.whileOpen).toHaveLength(1);
    expect(r.after).toEqual([]);
  });

  it('and when the process exits without closing it', () => {
    const r = run('process.exit(3);');
    expect(r.status).toBe(3);
    expect(r.whileOpen).toHaveLength(1);
    expect(r.after).toEqual([]);
  });
});
