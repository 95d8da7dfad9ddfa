import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ed25519KeyId,
  formatCheckpoint,
  generateSignerKey,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signerKeyFromSeed,
  signNote,
  verifierKeyFor,
} from '../../audit/index.js';
import { isPavilionError } from '../../common/errors.js';
import { errorCode as code } from './error-code.js';

const example = JSON.parse(
  readFileSync(join(import.meta.dirname, '../fixtures/merkle/signed-note-example.json'), 'utf8'),
) as {
  vkey: string;
  key_name: string;
  key_id_hex: string;
  signed_text: string;
  note: string;
};

/** The base64 key after `fields` '+'-separated fields (the key itself may contain '+'). */
function keyPart(key: string, fields: number): string {
  let rest = key;
  for (let i = 0; i < fields; i++) rest = rest.slice(rest.indexOf('+') + 1);
  return rest;
}

describe('C2SP signed-note example (spec vector)', () => {
  it('key id recomputes from name and public key', () => {
    const raw = Buffer.from(keyPart(example.vkey, 2), 'base64');
    expect(raw[0]).toBe(0x01);
    expect(ed25519KeyId(example.key_name, raw.subarray(1)).toString(16).padStart(8, '0')).toBe(example.key_id_hex);
    const v = parseVerifierKey(example.vkey);
    expect(v.name).toBe(example.key_name);
  });

  it('signature verifies and the text is exactly the signed text', () => {
    const opened = openNote(example.note, [example.vkey]);
    expect(opened.text).toBe(example.signed_text);
    expect(opened.verifiedBy).toEqual([`${example.key_name}+${example.key_id_hex}`]);
  });

  it('tampered text, signature or key id is rejected', () => {
    expect(code(() => openNote(example.note.replace('example message', 'exampel message'), [example.vkey]))).toBe(
      'SIGNATURE_INVALID',
    );
    const sigB64 = example.note.split(' ').pop()!.trim();
    const sig = Buffer.from(sigB64, 'base64');
    sig[10] ^= 1;
    expect(code(() => openNote(example.note.replace(sigB64, sig.toString('base64')), [example.vkey]))).toBe(
      'SIGNATURE_INVALID',
    );
    // A different key id under the same name is an unknown key: ignored, so nothing verifies.
    const other = Buffer.from(sigB64, 'base64');
    other[0] ^= 1;
    expect(code(() => openNote(example.note.replace(sigB64, other.toString('base64')), [example.vkey]))).toBe(
      'NOTE_UNVERIFIED',
    );
  });
});

describe('signer and verifier keys', () => {
  it('round trip in the Go note formats', () => {
    const sk = generateSignerKey('pavilion.test/log');
    expect(sk).toMatch(/^PRIVATE\+KEY\+pavilion\.test\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const vk = verifierKeyFor(sk);
    expect(vk).toMatch(/^pavilion\.test\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(vk.split('+')[1]).toBe(sk.split('+')[3]);
    const signer = parseSignerKey(sk);
    const note = signNote('hello\n', [signer]);
    expect(openNote(note, [vk]).text).toBe('hello\n');
  });

  it('deterministic from a seed (RFC 8032 test 1 seed gives its public key)', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const vk = verifierKeyFor(signerKeyFromSeed('rfc8032', seed));
    expect(Buffer.from(keyPart(vk, 2), 'base64').subarray(1).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
  });

  it('malformed keys give KEY_INVALID without echoing key material', () => {
    const sk = generateSignerKey('a.example/k');
    const parts = [...sk.split('+').slice(0, 4), keyPart(sk, 4)];
    const bad = [
      'nonsense',
      sk.replace('PRIVATE+KEY', 'PUBLIC+KEY'),
      [...parts.slice(0, 3), '00000000', parts[4]].join('+'),
      [...parts.slice(0, 4), parts[4]!.slice(1)].join('+'),
      [parts[0], parts[1], 'bad name', parts[3], parts[4]].join('+'),
    ];
    for (const b of bad) {
      try {
        parseSignerKey(b);
        expect.unreachable();
      } catch (err) {
        expect(isPavilionError(err) && err.code).toBe('KEY_INVALID');
        expect((err as Error).message).not.toContain(parts[4]!.slice(4, 20));
      }
    }
    expect(code(() => parseVerifierKey('a+b'))).toBe('KEY_INVALID');
    expect(code(() => parseVerifierKey(verifierKeyFor(sk).replace(/\+[0-9a-f]{8}\+/, '+ffffffff+')))).toBe(
      'KEY_INVALID',
    );
  });
});

describe('note line rules', () => {
  const signer = parseSignerKey(generateSignerKey('rules.example/log'));
  const good = signNote('line one\n\nline three\n', [signer]);

  it('text may contain blank lines: the last blank line separates', () => {
    expect(openNote(good, [signer.verifierKey]).text).toBe('line one\n\nline three\n');
  });

  it('rejects malformed notes', () => {
    const sigLine = good.slice(good.lastIndexOf('\u2014'));
    const cases: [string, string][] = [
      ['no blank line', good.replace('line three\n\n', 'line three\n')],
      ['no trailing newline', good.slice(0, -1)],
      ['hyphen instead of em dash', good.replace('\u2014 ', '- ')],
      ['missing space after dash', good.replace('\u2014 ', '\u2014')],
      ['carriage return', good.replace('line one', 'line\rone')],
      ['tab', good.replace('line one', 'line\tone')],
      ['NUL', good.replace('line one', 'line\u0000one')],
      ['lone surrogate', good.replace('line one', 'line \uD800 one')],
      ['empty text', `\n${sigLine}`],
      ['non-canonical base64', good.replace(/=\n$/, '\n')],
      ['short signature', good.replace(/ [A-Za-z0-9+/=]+\n$/, ' AAAA\n')],
      ['extra field', good.replace(/\n$/, ' extra\n')],
      ['blank line in signatures', `${good}\n`],
      ['space in name', good.replace('rules.example/log', 'rules example/log')],
      ['plus in name', good.replace('rules.example/log', 'rules+example/log')],
    ];
    for (const [what, note] of cases) {
      expect(
        code(() => parseNote(note)),
        what,
      ).toBe('NOTE_MALFORMED');
    }
    expect(code(() => parseNote(new Uint8Array([0xff, 0xfe, 0x0a])))).toBe('NOTE_MALFORMED');
  });

  it('ignores unknown keys, needs one known valid signature, rejects a bad known one', () => {
    const witness = parseSignerKey(generateSignerKey('witness.example'));
    const both = signNote('cosigned\n', [signer, witness]);
    expect(openNote(both, [signer.verifierKey]).verifiedBy).toHaveLength(1);
    expect(openNote(both, [signer.verifierKey, witness.verifierKey]).verifiedBy).toHaveLength(2);
    expect(code(() => openNote(both, [parseSignerKey(generateSignerKey('stranger.example')).verifierKey]))).toBe(
      'NOTE_UNVERIFIED',
    );
    // Same name, different key: unknown (name AND id identify a key) → ignored.
    const impostor = parseSignerKey(generateSignerKey('rules.example/log'));
    expect(code(() => openNote(signNote('x\n', [impostor]), [signer.verifierKey]))).toBe('NOTE_UNVERIFIED');
  });

  it('key rotation: notes signed by new+old verify with either key set', () => {
    const oldKey = parseSignerKey(generateSignerKey('rot.example/log'));
    const newKey = parseSignerKey(generateSignerKey('rot.example/log'));
    const note = signNote('rotating\n', [newKey, oldKey]);
    expect(openNote(note, [oldKey.verifierKey]).text).toBe('rotating\n');
    expect(openNote(note, [newKey.verifierKey]).text).toBe('rotating\n');
  });
});

describe('tlog-checkpoint', () => {
  const signer = parseSignerKey(generateSignerKey('cp.example/log'));
  const root = new Uint8Array(32).fill(7);

  it('formats, signs, opens', () => {
    const body = formatCheckpoint({ origin: 'cp.example/log', size: 12345, root });
    expect(body).toBe(`cp.example/log\n12345\n${Buffer.from(root).toString('base64')}\n`);
    const note = signCheckpoint({ origin: 'cp.example/log', size: 12345, root, extensions: ['ext line'] }, [signer]);
    const { checkpoint } = openCheckpoint(note, [signer.verifierKey], { origin: 'cp.example/log' });
    expect(checkpoint).toEqual({ origin: 'cp.example/log', size: 12345, root, extensions: ['ext line'] });
    expect(code(() => openCheckpoint(note, [signer.verifierKey], { origin: 'other.example/log' }))).toBe(
      'CHECKPOINT_ORIGIN',
    );
  });

  it('rejects malformed bodies', () => {
    const r = Buffer.from(root).toString('base64');
    for (const body of [
      `o\n12\n${r}`,
      `o\n012\n${r}\n`,
      `o\n-1\n${r}\n`,
      `o\n1e3\n${r}\n`,
      `o\n12\n${r.slice(0, -4)}\n`,
      `o\n12\n${r}\n\n`,
      `\n12\n${r}\n`,
      `o\n12\n`,
      `o\n99999999999999999999\n${r}\n`,
    ]) {
      expect(
        code(() => parseCheckpoint(body)),
        JSON.stringify(body),
      ).toBe('CHECKPOINT_MALFORMED');
    }
  });
});
