/**
 * `pavilion serve` on embedded defaults with DEMO_RECORDS=0 (the broker as a
 * child process, as `npm start` runs it): the banner still says how to mint
 * tokens, as `npx pavilion token … --state-dir <its folder>`, and that
 * command, run from another folder, mints a token this broker accepts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';

const run = promisify(execFile);
const TSX = pathToFileURL(fromRoot('node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const state = mkdtempSync(join(tmpdir(), 'pavilion-banner-state-'));
const elsewhere = mkdtempSync(join(tmpdir(), 'pavilion-banner-cwd-'));
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  rmSync(state, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

describe('the start banner', () => {
  it('with DEMO_RECORDS=0 still says npx pavilion token, and that command works from another folder', async () => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      STATE_DIR: state,
      DEMO_RECORDS: '0',
      ANCHORING: 'off',
      ENGINE_THREADS: '1',
      LOG_LEVEL: 'warn',
    };
    child = spawn(process.execPath, ['--import', 'tsx', fromRoot('server', 'main.ts')], { cwd: fromRoot(), env });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.resume();
    for (let i = 0; i < 1200 && !/More tokens: .*\n/.test(out) && child.exitCode === null; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/Pavilion broker listening on http:\/\/127\.0\.0\.1:\d+/);
    const line = /More tokens: (npx pavilion token .*)\n/.exec(out)?.[1];
    expect(line).toBe(`npx pavilion token --role rp --sub my-rp --state-dir ${state}`);
    expect(out).toContain('/demo/');
    const url = /listening on (\S+)/.exec(out)![1]!;

    // The banner's command (npx pavilion = the CLI), run from another folder.
    const args = line!.split(' ').slice(2);
    const { stdout } = await run(process.execPath, ['--import', TSX, fromRoot('cli', 'main.ts'), ...args], {
      cwd: elsewhere,
      env: { PATH: process.env.PATH ?? '' },
    });
    const res = await fetch(`${url}/v1/policy`, { headers: { authorization: `Bearer ${stdout.trim()}` } });
    expect(res.status).toBe(200);
  });
});
