/**
 * The embedded database without PGLITE_DATA_DIR lives in a private temporary folder (storage/embedded-server.ts):
 * it exists while the database is open and is gone once it is closed, and also when the process exits without
 * closing it (a crash, process.exit). Each case runs in a child process whose TMPDIR is a folder of its own, so
 * what is left there is only what that process left. A folder left by a process that died without its exit handler
 * (SIGKILL) is removed by the next start on the host; folders of running processes, of other hosts and without an
 * owner in their name are not.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hostTag } from '../../common/processes.js';

const POSTGRES_MODULE = fileURLToPath(new URL('../../storage/postgres.ts', import.meta.url));
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Opens the embedded database in a child, prints the folders its TMPDIR holds, then `ending`; what is left. */
function run(
  ending: string,
  tmp = newTmp(),
): { whileOpen: string[]; after: string[]; status: number | null; signal: string | null; pid: number } {
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
  const after = ours(readdirSync(tmp));
  return {
    whileOpen: ours(JSON.parse(line) as string[]),
    after,
    status: child.status,
    signal: child.signal,
    pid: child.pid,
  };
}

function newTmp(): string {
  const tmp = mkdtempSync(join(tmpdir(), 'pavilion-scratch-test-'));
  made.push(tmp);
  return tmp;
}

/** A folder as another process would have left it (its owner in its name: common/processes.ts); its name. */
function leftFolder(tmp: string, owner: string): string {
  const name = `pavilion-pglite-${owner}abc123`;
  mkdirSync(join(tmp, name));
  writeFileSync(join(tmp, name, 'data'), 'x');
  return name;
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

  it('and, after a SIGKILL, at the next start on the host, leaving the folders of others alone', () => {
    const tmp = newTmp();
    const killed = run("process.kill(process.pid, 'SIGKILL');", tmp);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.after).toHaveLength(1);
    // A running process (this one), another host's process and a folder without an owner in its name.
    const running = leftFolder(tmp, `${hostTag()}.${process.pid}.`);
    const elsewhere = leftFolder(tmp, `not-${hostTag()}.${killed.pid}.`);
    const ownerless = leftFolder(tmp, '');
    const next = run('await db.close();', tmp);
    expect(next.status).toBe(0);
    expect(next.whileOpen).not.toContain(killed.after[0]);
    expect(next.after.sort()).toEqual([elsewhere, ownerless, running].sort());
  });
});
