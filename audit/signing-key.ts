/**
 * Where the log's checkpoint signing key comes from. In order:
 * 1. keys given as strings (the broker's AUDIT_SIGNING_KEY, from a secret store);
 * 2. a key file, one key per line (AUDIT_SIGNING_KEY_FILE, e.g. a mounted secret);
 * 3. a signer object (a KMS or HSM implementing NoteSigner; see note.ts);
 * 4. for development only: a key generated once into a file under STATE_DIR,
 *    so yesterday's receipts still verify today whatever the database.
 * Several keys sign every checkpoint together: that is how rotation works
 * (audit/README.md, "Key rotation").
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PavilionError } from '../common/errors.js';
import { generateSignerKey, type NoteSigner, parseSignerKey } from './note.js';

/** Keys from a file: one per line, blank lines and `#` comments ignored. Never echoes the content. */
export function readSignerKeyFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new PavilionError('CONFIG_INVALID', 'AUDIT_SIGNING_KEY_FILE: cannot read the key file');
  }
  const keys = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (keys.length === 0) throw new PavilionError('CONFIG_INVALID', 'AUDIT_SIGNING_KEY_FILE: the key file holds no key');
  return keys;
}

/**
 * The development key in `file`: read it, or create it (from `adopt()` when
 * that finds an older key, else freshly generated) with mode 0600.
 */
export async function loadOrCreateKeyFile(
  file: string,
  origin: string,
  adopt: () => Promise<string | undefined>,
): Promise<string> {
  let existing: string | undefined;
  try {
    existing = readFileSync(file, 'utf8').trim();
  } catch {
    /* created below */
  }
  if (existing) {
    let signer: NoteSigner;
    try {
      signer = parseSignerKey(existing);
    } catch (err) {
      throw new PavilionError(
        'KEY_INVALID',
        `the development signing key under STATE_DIR (${DEVELOPMENT_KEY_FILE}): ${(err as Error).message}; move it ` +
          'away or set AUDIT_SIGNING_KEY',
      );
    }
    if (signer.name !== origin)
      throw new PavilionError(
        'CONFIG_INVALID',
        'the development signing key under STATE_DIR is for another origin: move it away or set AUDIT_SIGNING_KEY',
      );
    return existing;
  }
  const key = (await adopt()) ?? generateSignerKey(origin);
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process of the same log created it first: use that one.
    if ((err as { code?: string }).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw new PavilionError('CONFIG_INVALID', 'cannot write the development signing key under STATE_DIR');
  }
  chmodSync(file, 0o600);
  return key;
}

/**
 * openAuditLog's key options from the broker's settings: AUDIT_SIGNING_KEY
 * (comma-separated), else AUDIT_SIGNING_KEY_FILE, else the development key
 * file `<stateDir>/audit-signing-key`.
 */
export function logSigningOptions(settings: { signingKey?: string; signingKeyFile?: string; stateDir: string }): {
  signerKey?: string[];
  developmentKeyFile?: string;
  source: 'AUDIT_SIGNING_KEY' | 'AUDIT_SIGNING_KEY_FILE' | 'STATE_DIR';
} {
  if (settings.signingKey) {
    const keys = settings.signingKey
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean);
    if (keys.length === 0) throw new PavilionError('CONFIG_INVALID', 'AUDIT_SIGNING_KEY holds no key');
    return { signerKey: keys, source: 'AUDIT_SIGNING_KEY' };
  }
  if (settings.signingKeyFile)
    return { signerKey: readSignerKeyFile(settings.signingKeyFile), source: 'AUDIT_SIGNING_KEY_FILE' };
  return { developmentKeyFile: join(settings.stateDir, DEVELOPMENT_KEY_FILE), source: 'STATE_DIR' };
}

export const DEVELOPMENT_KEY_FILE = 'audit-signing-key';
