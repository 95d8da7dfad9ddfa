/**
 * `npm start` (server/main.ts) stopped by SIGTERM while it still loads the demo dataset, after it has logged
 * "broker listening": as a pod is when a rolling update or a scale-down comes in the seconds after it started.
 * The shutdown is graceful and exits 0; the demo load failing as the engine closes under it is not reported as
 * a failed start (it was: `pavilion: ENGINE_CLOSED` or `DATABASE_UNAVAILABLE: start: …` and exit 1). The
 * embedded database's temporary folder is removed as on any other stop.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'pavilion-stop-while-starting-'));
const [state, temp] = [join(scratch, 'state'), join(scratch, 'tmp')];

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('a signal while the demo dataset loads', () => {
  it('shuts down gracefully: exit 0, no start failure printed, no temporary database folder left', async () => {
    mkdirSync(temp);
    const child = spawn(process.execPath, ['--import', 'tsx', fromRoot('server', 'main.ts')], {
      cwd: fromRoot(),
      env: {
        PATH: process.env.PATH ?? '',
        TMPDIR: temp,
        PORT: '0',
        HOST: '127.0.0.1',
        STATE_DIR: state,
        // Enough synthetic people that encoding and publishing them takes a few hundred milliseconds.
        DEMO_RECORDS: '20000',
        ANCHORING: 'off',
        ENGINE_THREADS: '1',
        LOG_LEVEL: 'info',
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 2400 && !out.includes('"broker listening"') && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(out).toContain('"broker listening"');
    // Still loading: the banner with the curl line comes once the demo dataset is in.
    expect(out).not.toContain('demo dataset of synthetic people loaded');
    child.kill('SIGTERM');
    const code = await exited;
    expect(err).not.toMatch(/pavilion: [A-Z_]+:/);
    expect(out).toContain('"shutting down"');
    expect(code).toBe(0);
    expect(readdirSync(temp).filter((name) => name.startsWith('pavilion-pglite-'))).toEqual([]);
  }, 90_000);
});
