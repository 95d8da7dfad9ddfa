/**
 * Every command that takes --server refuses a value that is not an http(s) URL before doing anything,
 * saying so, rather than failing later as a broker that "did not answer". No broker is needed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { pavilion } from './pavilion.js';

const dir = mkdtempSync(join(tmpdir(), 'pavilion-server-option-'));
const secret = fromRoot('test', 'fixtures', 'cli', 'secret.txt');
const people = fromRoot('test', 'fixtures', 'cli', 'people-a.csv');
const state = join(dir, 'monitor.json');

const commands: [string, string[]][] = [
  ['verify', ['verify', '--dataset', 'd', '--secret-file', secret, '--purpose', 'p', '--in', people]],
  ['publish', ['publish', '--dataset', 'd', '--secret-file', secret, '--in', people]],
  ['dataset versions', ['dataset', 'versions', '--dataset', 'd']],
  ['token', ['token', '--role', 'rp', '--sub', 's']],
  ['audit verify', ['audit', 'verify', join(dir, 'receipt.txt'), '--log-key', 'k']],
  ['audit monitor', ['audit', 'monitor', '--log-key', 'k', '--state', state]],
  ['audit pin', ['audit', 'pin']],
];

describe('--server', () => {
  it.each(commands)('%s refuses a value that is not an http(s) URL', async (_name, args) => {
    for (const server of ['notaurl', 'ftp://broker.example']) {
      const r = await pavilion([...args, '--server', server]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')[0]).toBe(
        `error: option '--server <url>' argument '${server}' is invalid. expected an http(s) URL, e.g. ` +
          'https://broker.example',
      );
      // Refused before any work: no secret read, no broker asked.
      expect(r.stderr).not.toMatch(/UNREACHABLE|linkage secret fingerprint/);
    }
  });

  it("a pins file's server is held to the same rule", async () => {
    const pins = join(dir, 'pins.json');
    writeFileSync(pins, JSON.stringify({ server: 'ftp://broker.example', logKeys: ['k'] }));
    const r = await pavilion(['audit', 'monitor', '--config', pins, '--state', state]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`pavilion: PINS_INVALID: ${pins}: server is not an http(s) URL\n`);
  });
});
