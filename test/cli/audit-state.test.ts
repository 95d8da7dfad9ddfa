/**
 * `pavilion audit monitor` reads its state file before it talks to the
 * broker: a damaged file must be refused with MONITOR_STATE_INVALID, never
 * crash with a SyntaxError or TypeError. No broker is needed (nothing is
 * fetched before the state is read).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditMonitor, type Reporter } from '../../cli/audit.js';
import { pavilion } from './pavilion.js';

const silent: Reporter = { ok: () => {}, fail: () => {}, note: () => {} };
const dir = mkdtempSync(join(tmpdir(), 'pavilion-monitor-state-'));

describe('pavilion audit monitor state file', () => {
  it.each([
    ['not JSON', '{"origin": "x", '],
    ['JSON null', 'null'],
    ['a number', '42'],
    ['fields of the wrong type', JSON.stringify({ origin: 1, verifierKey: 'k', size: 1, root: 'AA==' })],
    [
      'a bad anchoredSize',
      JSON.stringify({ origin: 'o', verifierKey: 'k', size: 1, root: 'AA==', anchoredSize: 'ten' }),
    ],
  ])('%s is MONITOR_STATE_INVALID', async (name, text) => {
    const stateFile = join(dir, `${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(stateFile, text);
    await expect(
      auditMonitor({ server: 'http://127.0.0.1:9', stateFile, logKeys: [], witnesses: [] }, silent),
    ).rejects.toMatchObject({
      code: 'MONITOR_STATE_INVALID',
    });
  });
});

describe('pavilion audit monitor --state it cannot write', () => {
  /** Every step and note the monitor reports: none may run when the state cannot be kept. */
  const steps: string[] = [];
  const recorder: Reporter = {
    ok: (step) => steps.push(step),
    fail: (step) => steps.push(step),
    note: (text) => steps.push(text),
  };
  const folder = join(dir, 'a-folder');
  mkdirSync(folder);

  it.each([
    ['a folder', folder, `--state ${folder}: a folder; name the state file itself (the first run creates it)`],
    [
      'in a missing folder',
      join(dir, 'no-such', 'state.json'),
      `--state ${join(dir, 'no-such', 'state.json')}: cannot write (ENOENT)`,
    ],
  ])('%s is OUTPUT_UNWRITABLE before any check runs', async (_name, stateFile, message) => {
    steps.length = 0;
    await expect(
      auditMonitor({ server: 'http://127.0.0.1:9', stateFile, logKeys: ['k'], witnesses: [] }, recorder),
    ).rejects.toMatchObject({ code: 'OUTPUT_UNWRITABLE', message });
    expect(steps).toEqual([]);
    expect(readdirSync(folder)).toEqual([]);
    expect(existsSync(join(dir, 'no-such'))).toBe(false);
  });

  it('says so in one line from the command line', async () => {
    const r = await pavilion([
      'audit',
      'monitor',
      '--server',
      'http://127.0.0.1:9',
      '--log-key',
      'k',
      '--state',
      folder,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `pavilion: OUTPUT_UNWRITABLE: --state ${folder}: a folder; name the state file itself (the first run ` +
        'creates it)\n',
    );
  });
});
