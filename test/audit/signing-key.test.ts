/**
 * Where the checkpoint key comes from (audit/signing-key.ts): settings, a key
 * file, an asynchronous signer standing in for a KMS (the NoteSigner seam: a
 * real key behind a promise, as a remote signer answers), and the development
 * key file, which adopts a key an earlier version kept in the database.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSignerKey,
  logSigningOptions,
  type NoteSigner,
  openAuditLog,
  openCheckpoint,
  parseSignerKey,
  readSignerKeyFile,
  signNote,
  verifierKeyFor,
} from '../../audit/index.js';
import { openTestDatabase, type TestDatabase } from './db.js';
import { errorCode, errorCodeAsync } from './error-code.js';

const dir = mkdtempSync(join(tmpdir(), 'pavilion-signing-'));
let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db?.close();
});

describe('log signing keys', () => {
  it('settings: AUDIT_SIGNING_KEY (comma-separated) over the key file over the development key', () => {
    const [a, b] = [generateSignerKey('o/x'), generateSignerKey('o/x')];
    expect(logSigningOptions({ signingKey: `${a}, ${b}`, stateDir: dir })).toEqual({
      signerKey: [a, b],
      source: 'AUDIT_SIGNING_KEY',
    });
    const file = join(dir, 'keys.txt');
    writeFileSync(file, `# the log's keys\n${a}\n\n${b}\n`);
    expect(readSignerKeyFile(file)).toEqual([a, b]);
    expect(logSigningOptions({ signingKeyFile: file, stateDir: dir }).source).toBe('AUDIT_SIGNING_KEY_FILE');
    expect(logSigningOptions({ stateDir: dir })).toEqual({
      developmentKeyFile: join(dir, 'audit-signing-key'),
      source: 'STATE_DIR',
    });
    writeFileSync(file, '# nothing\n');
    expect(errorCode(() => readSignerKeyFile(file))).toBe('CONFIG_INVALID');
    expect(errorCode(() => readSignerKeyFile(join(dir, 'absent')))).toBe('CONFIG_INVALID');
  });

  it('an asynchronous signer (a KMS behind NoteSigner) signs checkpoints that verify', async () => {
    const key = parseSignerKey(generateSignerKey('kms.pavilion.example/audit'));
    let calls = 0;
    const remote: NoteSigner = {
      name: key.name,
      keyId: key.keyId,
      verifierKey: key.verifierKey,
      signText: async (text) => {
        calls++;
        await new Promise((r) => setTimeout(r, 5)); // a network round trip
        return key.signText(text) as Uint8Array;
      },
    };
    expect(errorCode(() => signNote('x\n', [remote]))).toBe('KEY_INVALID'); // the synchronous path says so
    const log = await openAuditLog({ sql: db.sql, origin: 'kms.pavilion.example/audit', signers: [remote] });
    await log.append({ type: 'kms', v: 1 });
    const cp = await log.checkpoint();
    expect(calls).toBeGreaterThan(0);
    expect(openCheckpoint(cp.note, [key.verifierKey]).checkpoint.size).toBe(1);
    expect(log.verifierKey).toBe(key.verifierKey);
    await log.close();
  });

  it('the development key file adopts a key kept in the database, refuses another origin, and is reused', async () => {
    // A database of its own: the log of the tests above is signed by their keys, which the development key
    // (rightly) is not.
    const own = await openTestDatabase();
    try {
      const origin = 'kms.pavilion.example/audit';
      // A key an earlier version generated into audit_signing_keys for this origin, and signed the log with.
      const earlier = await openAuditLog({ sql: own.sql, origin });
      await earlier.append({ type: 'legacy', v: 1 });
      await earlier.checkpoint();
      await earlier.close();
      const [row] = await own.sql`select signer_key from audit_signing_keys where origin = ${origin}`;
      const legacy = row!.signer_key as string;
      const file = join(dir, 'dev-key');
      const first = await openAuditLog({ sql: own.sql, origin, developmentKeyFile: file });
      expect(first.verifierKey).toBe(verifierKeyFor(legacy));
      await first.close();
      await own.sql`delete from audit_signing_keys`;
      const again = await openAuditLog({ sql: own.sql, origin, developmentKeyFile: file });
      expect(again.verifierKey).toBe(verifierKeyFor(legacy));
      await again.close();
      const elsewhere = join(dir, 'other-key');
      writeFileSync(elsewhere, `${generateSignerKey('another.example/log')}\n`);
      expect(await errorCodeAsync(openAuditLog({ sql: own.sql, origin, developmentKeyFile: elsewhere }))).toBe(
        'CONFIG_INVALID',
      );
    } finally {
      await own.close();
    }
  });
});

/**
 * A development key (no AUDIT_SIGNING_KEY) that did not sign the log's latest checkpoint is refused at open: an
 * outside probe ran two brokers with different STATE_DIRs on one database, and the log's checkpoints alternated
 * between their keys (GET /v1/audit/key answered two key ids; auditors' receipt checks failed NOTE_UNVERIFIED).
 */
describe('a development key that did not sign the log', () => {
  const origin = 'dev.pavilion.example/audit';
  let fresh: TestDatabase;
  beforeAll(async () => {
    fresh = await openTestDatabase();
  });
  afterAll(async () => {
    await fresh?.close();
  });

  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => new Error('accepted'),
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    return err.message;
  };

  it('is refused at open, naming the settings and both key ids; the same key and configured keys are not', async () => {
    const first = join(dir, 'state-a', 'audit-signing-key');
    const a = await openAuditLog({ sql: fresh.sql, origin, developmentKeyFile: first });
    await a.append({ type: 'dev', v: 1 });
    await a.checkpoint();
    await a.close();
    const keyA = readFileSync(first, 'utf8').trim();
    const idA = parseSignerKey(keyA).keyId.toString(16).padStart(8, '0');

    // Another STATE_DIR (a second replica, or a pod restarted with an emptyDir): a fresh key, refused.
    const second = join(dir, 'state-b', 'audit-signing-key');
    const message = await refusal(openAuditLog({ sql: fresh.sql, origin, developmentKeyFile: second }));
    const keyB = readFileSync(second, 'utf8').trim();
    const idB = parseSignerKey(keyB).keyId.toString(16).padStart(8, '0');
    expect(message).toContain(`latest checkpoint (size 1) is signed by ${origin}+${idA}`);
    expect(message).toContain(`development key ${origin}+${idB}`);
    expect(message).toMatch(/set AUDIT_SIGNING_KEY to the key the log is signed with/);
    expect(message).toMatch(/AUDIT_SIGNING_KEY=new,old \(docs\/operations\.md, "Key rotation"\)/);
    expect(message).not.toMatch(/\n/);
    // PRIVATE+KEY+<name>+<id>+<base64 secret>: the secret may itself hold a '+'.
    for (const k of [keyA, keyB]) expect(message).not.toContain(k.split('+').slice(4).join('+'));

    // The same key (a persistent STATE_DIR) opens; so do keys the operator configured: rotation to a new key.
    const again = await openAuditLog({ sql: fresh.sql, origin, developmentKeyFile: first });
    await again.append({ type: 'dev', v: 2 });
    await again.checkpoint();
    await again.close();
    const rotated = await openAuditLog({ sql: fresh.sql, origin, signerKey: [generateSignerKey(origin), keyA] });
    await rotated.append({ type: 'dev', v: 3 });
    await rotated.checkpoint();
    await rotated.close();
    const newOnly = await openAuditLog({ sql: fresh.sql, origin, signerKey: generateSignerKey(origin) });
    await newOnly.close();
  });

  it('two processes that opened before any checkpoint: the second key never signs after the first', async () => {
    const other = await openTestDatabase();
    try {
      const a = await openAuditLog({ sql: other.sql, origin, developmentKeyFile: join(dir, 'race-a', 'key') });
      const b = await openAuditLog({ sql: other.sql, origin, developmentKeyFile: join(dir, 'race-b', 'key') });
      await a.append({ type: 'race', v: 1 });
      await a.checkpoint();
      await b.append({ type: 'race', v: 2 });
      expect(await refusal(b.checkpoint())).toContain('is signed by');
      // The first key signs on, covering the second process's entry.
      expect((await a.checkpoint()).size).toBe(2);
      await a.close();
      await b.close();
    } finally {
      await other.close();
    }
  });
});
