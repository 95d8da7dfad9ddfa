/**
 * `pavilion token` as a person runs it (a child process) against a running
 * broker: from another folder it finds the broker's key (by --state-dir,
 * STATE_DIR, or `.pavilion` in a folder above), its tokens are accepted, and
 * where there is no key it fails saying where it looked, making none.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyCandidates } from '../../cli/token.js';
import { fromRoot, packageRoot } from '../../common/paths.js';
import { api, startTestBroker, type TestBroker } from '../server/helpers.js';

const run = promisify(execFile);
const TSX = pathToFileURL(fromRoot('node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** The CLI from source, in `cwd`, with only the environment given (no STATE_DIR unless set). */
async function pavilion(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', TSX, fromRoot('cli', 'main.ts'), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let t: TestBroker;
let elsewhere: string;
beforeAll(async () => {
  t = await startTestBroker();
  elsewhere = mkdtempSync(join(tmpdir(), 'pavilion-elsewhere-'));
});
afterAll(async () => {
  await t?.broker.close();
  rmSync(elsewhere, { recursive: true, force: true });
});

const accepted = async (token: string) =>
  (await api(t.url, 'GET', '/v1/policy', { token: token.trim() })).status === 200;

describe('pavilion token finds the broker key or says where it looked', () => {
  it('from another folder with --state-dir, checked against the running broker', async () => {
    const r = await pavilion(
      ['token', '--role', 'rp', '--sub', 'acme', '--state-dir', t.stateDir, '--server', t.url],
      elsewhere,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await accepted(r.stdout)).toBe(true);
  });

  it('from another folder with STATE_DIR', async () => {
    const r = await pavilion(['token', '--role', 'dp', '--sub', 'registry'], elsewhere, { STATE_DIR: t.stateDir });
    expect(r.code, r.stderr).toBe(0);
    expect(await accepted(r.stdout)).toBe(true);
  });

  it('from a folder below the one holding .pavilion', async () => {
    const project = mkdtempSync(join(tmpdir(), 'pavilion-project-'));
    try {
      mkdirSync(join(project, '.pavilion'), { mode: 0o700 });
      copyFileSync(join(t.stateDir, 'identity-key.json'), join(project, '.pavilion', 'identity-key.json'));
      const deeper = join(project, 'a', 'b');
      mkdirSync(deeper, { recursive: true });
      const r = await pavilion(['token', '--role', 'rp', '--sub', 'acme'], deeper);
      expect(r.code, r.stderr).toBe(0);
      expect(await accepted(r.stdout)).toBe(true);
      // An empty STATE_DIR (docker-compose's `${STATE_DIR}` when unset) is unset, as for the broker: still found.
      const blank = await pavilion(['token', '--role', 'rp', '--sub', 'acme'], deeper, { STATE_DIR: '' });
      expect(blank.code, blank.stderr).toBe(0);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('without a key it fails with IDENTITY_KEY_NOT_FOUND naming the paths, and makes no key', async () => {
    const empty = join(elsewhere, 'no-state');
    const r = await pavilion(['token', '--role', 'rp', '--sub', 'acme', '--state-dir', empty], elsewhere);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^pavilion: IDENTITY_KEY_NOT_FOUND: no broker signing key found; looked in: /);
    expect(r.stderr).toContain(join(empty, 'identity-key.json'));
    expect(existsSync(empty)).toBe(false);
    const viaEnv = await pavilion(['token', '--role', 'rp', '--sub', 'acme'], elsewhere, { STATE_DIR: 'rel-state' });
    expect(viaEnv.stderr).toContain(join(elsewhere, 'rel-state', 'identity-key.json'));
    expect(existsSync(join(elsewhere, 'rel-state'))).toBe(false);
  });

  it("a key that is not the broker's is caught with --server (IDENTITY_KEY_MISMATCH)", async () => {
    const other = await startTestBroker();
    try {
      const r = await pavilion(
        ['token', '--role', 'rp', '--sub', 'acme', '--state-dir', other.stateDir, '--server', t.url],
        elsewhere,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^pavilion: IDENTITY_KEY_MISMATCH: the broker at /);
    } finally {
      await other.broker.close();
    }
  });

  it('looks in .pavilion here, in every folder above, then at the package root', () => {
    const c = keyCandidates({ configured: '.pavilion', explicit: false, cwd: '/srv/app/sub' });
    expect(c.slice(0, 4)).toEqual([
      '/srv/app/sub/.pavilion/identity-key.json',
      '/srv/app/.pavilion/identity-key.json',
      '/srv/.pavilion/identity-key.json',
      '/.pavilion/identity-key.json',
    ]);
    expect(c.at(-1)).toBe(join(packageRoot, '.pavilion', 'identity-key.json'));
    expect(keyCandidates({ configured: '/var/lib/pavilion', explicit: true, cwd: '/x' })).toEqual([
      '/var/lib/pavilion/identity-key.json',
    ]);
    expect(keyCandidates({ stateDir: 'st', configured: '.pavilion', explicit: false, cwd: '/x' })).toEqual([
      '/x/st/identity-key.json',
    ]);
  });
});
