/**
 * A broker without AUDIT_SIGNING_KEY signs with a development key generated under its STATE_DIR (audit/signing-key.ts).
 * An outside probe started two brokers with different STATE_DIRs on one database: each signed checkpoints with its
 * own key, GET /v1/audit/key answered two key ids, and auditors' receipt checks failed NOTE_UNVERIFIED. Now a
 * development key that did not sign the log's latest checkpoint refuses the start (CONFIG_INVALID, naming
 * AUDIT_SIGNING_KEY); the same STATE_DIR again, and a key the operator sets, start.
 *
 * Real Postgres when DATABASE_URL is set (a database of its own), else an embedded PGlite in a data folder; the
 * brokers start one after another on it (a pod restarted with an emptyDir STATE_DIR).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSignerKey } from '../../audit/index.js';
import { isPavilionError } from '../../common/errors.js';
import { api, startTestBroker, type TestBroker, testScratch } from './helpers.js';

const scratch = testScratch();
const tempDir = scratch.dir;

describe('a development audit signing key on a log signed by another key', () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: Record<string, string>;
  beforeAll(async () => {
    database = await scratch.database('pavilion-audit-key-');
  }, 60_000);

  const start = (settings: Record<string, string>): Promise<TestBroker> =>
    startTestBroker({ ...database, MASTER_KEY: masterKey, ...settings });
  const keyIds = async (t: TestBroker) =>
    ((await api(t.url, 'GET', '/v1/audit/key', { token: t.tokens.auditor })).json.verifier_keys as string[]).map(
      (k) => k.split('+')[1],
    );

  it('refuses the start; the same STATE_DIR, or AUDIT_SIGNING_KEY set to the log key, starts', async () => {
    const stateA = tempDir('pavilion-audit-key-a-');
    const first = await start({ STATE_DIR: stateA });
    const keyA = readFileSync(join(stateA, 'audit-signing-key'), 'utf8').trim();
    let idsA: string[];
    try {
      await first.broker.audit.checkpoint();
      idsA = await keyIds(first);
    } finally {
      await first.broker.close();
    }

    const stateB = tempDir('pavilion-audit-key-b-');
    const err = await start({ STATE_DIR: stateB }).then(
      async (t) => {
        await t.broker.close();
        return new Error('the broker started');
      },
      (e: unknown) => e,
    );
    expect(isPavilionError(err), String(err)).toBe(true);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    const message = (err as Error).message;
    expect(message).toContain(`is signed by pavilion.local/audit+${idsA[0]}`);
    expect(message).toMatch(/set AUDIT_SIGNING_KEY to the key the log is signed with/);
    const keyB = readFileSync(join(stateB, 'audit-signing-key'), 'utf8').trim();
    // PRIVATE+KEY+<name>+<id>+<base64 secret>: the secret may itself hold a '+'.
    for (const k of [keyA, keyB]) expect(message).not.toContain(k.split('+').slice(4).join('+'));

    const restarts: Record<string, string>[] = [{ STATE_DIR: stateA }, { STATE_DIR: stateB, AUDIT_SIGNING_KEY: keyA }];
    for (const settings of restarts) {
      const again = await start(settings);
      try {
        await again.broker.audit.append({ type: 'audit-key-check' });
        await again.broker.audit.checkpoint();
        expect(await keyIds(again)).toEqual(idsA);
      } finally {
        await again.broker.close();
      }
    }
  }, 120_000);
});

/**
 * A signing key that does not parse names the setting it came from (an outside probe saw `KEY_INVALID: key id must
 * be 8 lowercase hex digits` for AUDIT_SIGNING_KEY=PRIVATE+KEY+x+123+abc, naming nothing), never the value.
 */
describe('an audit signing key setting that does not parse', () => {
  const refusal = (settings: Record<string, string>) =>
    startTestBroker(settings).then(
      async (t) => {
        await t.broker.close();
        return new Error('the broker started');
      },
      (e: unknown) => e as Error,
    );

  it('AUDIT_SIGNING_KEY and AUDIT_SIGNING_KEY_FILE are named, with the position of the key among several', async () => {
    const bad = 'PRIVATE+KEY+x+123+abc';
    const one = await refusal({ AUDIT_SIGNING_KEY: bad });
    expect(one).toMatchObject({ code: 'KEY_INVALID' });
    expect(one.message).toBe('AUDIT_SIGNING_KEY: key id must be 8 lowercase hex digits');

    const good = generateSignerKey('pavilion.local/audit');
    const file = join(tempDir('pavilion-audit-key-file-'), 'keys');
    writeFileSync(file, `${good}\n${bad}\n`);
    const second = await refusal({ AUDIT_SIGNING_KEY_FILE: file });
    expect(second).toMatchObject({ code: 'KEY_INVALID' });
    expect(second.message).toBe('AUDIT_SIGNING_KEY_FILE (key 2 of 2): key id must be 8 lowercase hex digits');
    for (const err of [one, second]) expect(err.message).not.toMatch(/abc|123/);
  }, 60_000);
});
