/**
 * `pavilion audit monitor` reads its state file before it talks to the
 * broker: a damaged file must be refused with MONITOR_STATE_INVALID, never
 * crash with a SyntaxError or TypeError. No broker is needed (nothing is
 * fetched before the state is read).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditMonitor, type Reporter } from '../../cli/audit.js';

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
