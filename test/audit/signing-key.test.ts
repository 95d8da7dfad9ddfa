/**
 * Where the checkpoint key comes from (audit/signing-key.ts): settings, a key
 * file, an asynchronous signer standing in for a KMS (the NoteSigner seam: a
 * real key behind a promise, as a remote signer answers), and the development
 * key file, which adopts a key an earlier version kept in the database.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
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
    const origin = 'kms.pavilion.example/audit';
    // A key an earlier version generated into audit_signing_keys for this origin.
    const legacy = generateSignerKey(origin);
    await db.sql`insert into audit_signing_keys (origin, signer_key) values (${origin}, ${legacy})
      on conflict (origin) do update set signer_key = excluded.signer_key`;
    const file = join(dir, 'dev-key');
    const first = await openAuditLog({ sql: db.sql, origin, developmentKeyFile: file });
    expect(first.verifierKey).toBe(verifierKeyFor(legacy));
    await first.close();
    await db.sql`delete from audit_signing_keys`;
    const again = await openAuditLog({ sql: db.sql, origin, developmentKeyFile: file });
    expect(again.verifierKey).toBe(verifierKeyFor(legacy));
    await again.close();
    const elsewhere = join(dir, 'other-key');
    writeFileSync(elsewhere, `${generateSignerKey('another.example/log')}\n`);
    expect(await errorCodeAsync(openAuditLog({ sql: db.sql, origin, developmentKeyFile: elsewhere }))).toBe(
      'CONFIG_INVALID',
    );
  });
});
