/**
 * A usage error exits 2, whatever the command: commander's message first, then the command's help, and
 * nothing done. A coded error while running still exits 1, which for `pavilion audit verify` means a check
 * failed (docs/audit.md, "Exit codes"): a mistyped option must not read as a receipt not to trust.
 */
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { pavilion } from './pavilion.js';

const secret = fromRoot('test', 'fixtures', 'cli', 'secret.txt');

const mistakes: [string, string[], string][] = [
  ['an unknown option', ['audit', 'verify', 'receipt.txt', '--log-kye', 'k'], "error: unknown option '--log-kye'"],
  ['a missing argument', ['audit', 'verify'], "error: missing required argument 'receipt'"],
  [
    'a missing required option',
    ['encode', '--secret-file', secret],
    "error: required option '--schema <file>' not specified",
  ],
  [
    'an invalid option value',
    ['encode', '--schema', 's.json', '--secret-file', secret, '--threads', '0'],
    "error: option '--threads <n>' argument '0' is invalid. expected a positive integer",
  ],
  ['an unknown command', ['ecnode'], "error: unknown command 'ecnode'"],
];

describe('usage errors', () => {
  it.each(mistakes)('%s exits 2 with the message and the help', async (_name, args, message) => {
    const r = await pavilion(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe(message);
    expect(r.stderr).toContain('Usage: pavilion');
  });

  it('help exits 0; a coded error while running exits 1', async () => {
    const help = await pavilion(['audit', 'verify', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: pavilion audit verify');
    const missing = await pavilion(['encode', '--schema', 'no-such-schema.json', '--secret-file', secret]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pavilion: [A-Z_]+: /);
  });
});
