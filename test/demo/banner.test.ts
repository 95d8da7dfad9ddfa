/**
 * `pavilion serve` on embedded defaults with DEMO_RECORDS=0 (the broker as a
 * child process, as `npm start` runs it): the banner still says how to mint
 * tokens, as `node <checkout>/bin/pavilion.js token … --state-dir <its folder>`, and that
 * command, run from another folder, mints a token this broker accepts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Pavilion } from '../../client/pavilion.js';
import { fromRoot } from '../../common/paths.js';

const run = promisify(execFile);
const TSX = pathToFileURL(fromRoot('node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const state = mkdtempSync(join(tmpdir(), 'pavilion-banner-state-'));
const elsewhere = mkdtempSync(join(tmpdir(), 'pavilion-banner-cwd-'));
const demoState = mkdtempSync(join(tmpdir(), 'pavilion-banner-demo-state-'));
let child: ChildProcess | undefined;

async function stopChild(): Promise<void> {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
}

/** Starts `pavilion serve` from source with `settings`; resolves with its stdout once `until` shows in it. */
async function serve(settings: Record<string, string>, until: RegExp): Promise<string> {
  const env = {
    PATH: process.env.PATH ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    ANCHORING: 'off',
    ENGINE_THREADS: '1',
    LOG_LEVEL: 'warn',
    ...settings,
  };
  child = spawn(process.execPath, ['--import', 'tsx', fromRoot('server', 'main.ts')], { cwd: fromRoot(), env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.resume();
  for (let i = 0; i < 1200 && !until.test(out) && child.exitCode === null; i++)
    await new Promise((r) => setTimeout(r, 50));
  return out;
}

afterAll(async () => {
  await stopChild();
  rmSync(state, { recursive: true, force: true });
  rmSync(demoState, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

describe('the start banner', () => {
  it('with DEMO_RECORDS=0 still says how to mint tokens, and that command works from another folder', async () => {
    const out = await serve({ STATE_DIR: state, DEMO_RECORDS: '0' }, /More tokens: .*\n/);
    expect(out).toMatch(/Pavilion broker listening on http:\/\/127\.0\.0\.1:\d+/);
    const line = /More tokens: (node .*)\n/.exec(out)?.[1];
    // This checkout's CLI, not `npx pavilion`: outside the repository npx fetched an unrelated npm package.
    expect(line).toBe(`node ${fromRoot('bin', 'pavilion.js')} token --role rp --sub my-rp --state-dir ${state}`);
    expect(out).toContain('/demo/');
    expect(out).toContain('Database: embedded and temporary');
    const url = /listening on (\S+)/.exec(out)![1]!;

    // The banner's command, run from another folder (through the CLI's source: bin/ runs the compiled dist/).
    const args = line!.split(' ').slice(2);
    const { stdout } = await run(process.execPath, ['--import', TSX, fromRoot('cli', 'main.ts'), ...args], {
      cwd: elsewhere,
      env: { PATH: process.env.PATH ?? '' },
    });
    const res = await fetch(`${url}/v1/policy`, { headers: { authorization: `Bearer ${stdout.trim()}` } });
    expect(res.status).toBe(200);
  });

  it('with the demo loaded names a demo person, whom the demo page encoding finds', async () => {
    await stopChild();
    const out = await serve({ STATE_DIR: demoState, DEMO_RECORDS: '50' }, /More tokens: .*\n/);
    const url = /listening on (\S+)/.exec(out)![1]!;
    const m = /\(synthetic\): given_name (\S+), surname (\S+), dob (\S+), postcode (\S*)\n/.exec(out);
    expect(m, out).not.toBeNull();
    const [, given_name, surname, dob, postcode] = m!;
    // What the demo page does with what a user types: the session's secret and schema, encoded here.
    const session = await (await fetch(`${url}/demo/session`)).json();
    const pv = new Pavilion({ url, token: session.token });
    const encoder = pv.encoder(session.schema, session.secret);
    const clk = encoder.encodeRecord({
      rec_id: '',
      given_name: given_name!,
      surname: surname!,
      dob: dob!,
      postcode: postcode!,
    });
    encoder.dispose();
    const answer = await pv.verify({ dataset: 'demo', clk, purpose: 'age_verification', claims: ['over_18'] });
    expect(answer.decision).toBe('match');
  });
});
