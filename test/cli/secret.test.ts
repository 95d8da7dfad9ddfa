/**
 * The secret file is UTF-8 text. One that is not (raw random bytes) is refused by every command that
 * reads one, rather than decoded leniently: every invalid byte would become U+FFFD, so two different
 * binary secrets would encode identically. No broker is needed: the secret is read before anything is
 * sent, and the secret's bytes are never printed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { pavilion } from './pavilion.js';

const dir = mkdtempSync(join(tmpdir(), 'pavilion-secret-'));
const schema = fromRoot('demo', 'schema.json');
const people = fromRoot('test', 'fixtures', 'cli', 'people-a.csv');
/** Nothing listens here: a command that got past reading the secret would fail as unreachable. */
const server = 'http://127.0.0.1:9';

function secretFile(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

// The user trial's two secrets: printf '\xffA\xfe' and printf '\x80A\xc0'. Decoded leniently both are "\uFFFDA\uFFFD".
const binaryA = secretFile('a.bin', Uint8Array.of(0xff, 0x41, 0xfe));
const binaryB = secretFile('b.bin', Uint8Array.of(0x80, 0x41, 0xc0));

const encode = (secret: string, out: string) =>
  pavilion(['encode', '--schema', schema, '--secret-file', secret, '--in', people, '--out', out]);

describe('--secret-file', () => {
  it('a file that cannot be read is named in the refusal (a new user could not tell which was wrong)', async () => {
    const missing = join(dir, 'no-such-secret.txt');
    const r = await encode(missing, join(dir, 'missing.txt'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe(`pavilion: SECRET_FILE_UNREADABLE: cannot read the secret file ${missing} (ENOENT)\n`);
  });

  it('encode refuses a secret that is not UTF-8 with SECRET_INVALID, saying how to make a text one', async () => {
    for (const [secret, out] of [
      [binaryA, join(dir, 'a.txt')],
      [binaryB, join(dir, 'b.txt')],
    ] as const) {
      const r = await encode(secret, out);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'pavilion: SECRET_INVALID: the secret file is not UTF-8 text; write random bytes as text, e.g. ' +
          '`head -c 32 /dev/urandom | base64 > secret.txt` or `openssl rand -hex 32 > secret.txt`\n',
      );
    }
  });

  it('publish, verify and dataset pull refuse it too, before asking the broker', async () => {
    const commands = [
      ['publish', '--dataset', 'd', '--schema', schema, '--secret-file', binaryA, '--in', people],
      ['publish', '--server', server, '--dataset', 'd', '--secret-file', binaryA, '--in', people],
      ['verify', '--server', server, '--dataset', 'd', '--secret-file', binaryA, '--purpose', 'p', '--in', people],
      ['dataset', 'pull', '--server', server, '--dataset', 'd', '--object', 'o.jsonl', '--secret-file', binaryA],
    ];
    for (const args of commands) {
      const r = await pavilion([...args, ...(args[0] === 'publish' ? ['--out', join(dir, 'up.jsonl')] : [])]);
      expect(r.code, `${args.slice(0, 2).join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^pavilion: SECRET_INVALID: the secret file is not UTF-8 text;/);
    }
  });

  it('a UTF-8 secret (non-ASCII, a leading BOM, a trailing newline) is still taken as it is', async () => {
    // Each of these encodes differently from the others: nothing is folded together.
    const outputs = new Set<string>();
    for (const [name, text] of [
      ['plain', 'clé secrète'],
      ['newline', 'clé secrète\n'],
      ['bom', '\uFEFFclé secrète'],
      ['other', 'clé secrète!'],
    ] as const) {
      const out = join(dir, `${name}.txt`);
      const r = await encode(secretFile(`${name}.secret`, text), out);
      expect(r.code, r.stderr).toBe(0);
      outputs.add(readFileSync(out, 'utf8'));
    }
    // plain and newline are one secret (the newline is dropped); the BOM and the "!" make two more.
    expect(outputs.size).toBe(3);
  });
});
