/**
 * bench:server's command line and its temporary files (bench/server.ts), measuring nothing: a child's role
 * cannot be asked for on the command line, and the folder it keeps under TMPDIR (the brokers' master key,
 * audit signing key, identity key and query files) is gone however the run ends, its children with it.
 * Each run gets a TMPDIR of its own, and no DATABASE_URL or REDIS_URL (nothing outside that folder).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';

const SCRIPT = fromRoot('bench', 'server.ts');
const temps: string[] = [];
const stray: number[] = [];

afterEach(() => {
  // A bench process left running by a failed test would serve (and keep its files) forever.
  for (const pid of stray.splice(0)) if (isBench(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function benchEnv(extra: Record<string, string> = {}): { env: NodeJS.ProcessEnv; tmp: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'pavilion-bench-cli-test-'));
  temps.push(tmp);
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return { env: { ...env, ...extra }, tmp };
}

function runSync(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { env, encoding: 'utf8', timeout: 30_000 });
}

/** What the bench keeps under the TMPDIR `dir` (tsx keeps its cache there too), as paths relative to it. */
function contents(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => p.startsWith('pavilion-bench-'));
}

/** `/proc/<pid>/<file>` (Linux; the bench reads its CPU times there too), or '' once the process is gone. */
function proc(pid: number | string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** A live process running bench/server.ts (not a zombie, not a process that reused the pid). */
const isBench = (pid: number | string) =>
  proc(pid, 'cmdline').split('\0').includes(SCRIPT) && !/^\S+ \(.*\) Z/.test(proc(pid, 'stat'));

/** The bench/server.ts processes whose parent is `pid`: its children. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(proc(d, 'stat').split(') ')[1]?.split(' ')[1]) === pid && isBench(d))
    .map(Number);
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  for (const end = Date.now() + timeoutMs; !check(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exited = (p: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    p.once('exit', (code, signal) => resolve({ code, signal })),
  );

describe('bench:server command line', () => {
  it('the children’s roles are unknown options, and nothing is written', () => {
    const { env, tmp } = benchEnv();
    for (const args of [['--hello'], ['--serve', '1000'], ['--serve=1000']]) {
      const r = runSync(args, env);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^bench:server: unknown option --(hello|serve)\nusage: npm run bench:server --/);
    }
    const help = runSync(['--help'], env);
    expect(help.status).toBe(0);
    expect(help.stdout).not.toMatch(/--hello|--serve/);
    expect(contents(tmp)).toEqual([]);
  });

  it('the role variable counts only in a child of the process that set it', () => {
    // Set further up (here: by this process's parent) and inherited: not a child of that process, so ignored.
    const role = JSON.stringify({ mode: 'hello', parent: process.ppid });
    const { env } = benchEnv({ PAVILION_BENCH_CHILD: role });
    const r = runSync(['--bogus'], env);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('bench:server: unknown option --bogus');
  });
});

describe('bench:server temporary files', () => {
  it('a run that fails leaves nothing in TMPDIR', () => {
    const { env, tmp } = benchEnv({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    const r = runSync(['--only=hit', '--db=postgres'], env);
    expect(r.status, r.stderr).toBe(1);
    expect(contents(tmp)).toEqual([]);
  });

  it('Ctrl-C while the broker starts: its keys are removed with the folder', async () => {
    const { env, tmp } = benchEnv();
    // Its own process group, as a terminal's foreground job is: Ctrl-C signals the whole group.
    const bench = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--only=health'], {
      env,
      detached: true,
      stdio: 'ignore',
    });
    stray.push(bench.pid!);
    const exit = exited(bench);
    await until('the broker wrote its keys', () => contents(tmp).some((p) => p.endsWith('identity-key.json')), 60_000);
    const children = childrenOf(bench.pid!);
    stray.push(...children);
    expect(children).toHaveLength(1);
    process.kill(-bench.pid!, 'SIGINT');
    expect(await exit).toEqual({ code: null, signal: 'SIGINT' });
    await until('the broker has exited', () => !isBench(children[0]!), 10_000);
    expect(contents(tmp)).toEqual([]);
  });

  it('a signal to the bench alone: its child server ends with it, and the folder is removed', async () => {
    const { env, tmp } = benchEnv();
    const bench = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--only=hello', '--quick'], {
      env,
      stdio: 'ignore',
    });
    stray.push(bench.pid!);
    const exit = exited(bench);
    await until('the hello-world server started', () => childrenOf(bench.pid!).length > 0, 30_000);
    const children = childrenOf(bench.pid!);
    stray.push(...children);
    expect(contents(tmp)).toHaveLength(1);
    bench.kill('SIGTERM');
    expect(await exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(contents(tmp)).toEqual([]);
    await until('the hello-world server has exited', () => !children.some(isBench), 10_000);
  });
});
