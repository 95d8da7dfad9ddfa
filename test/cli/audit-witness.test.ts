/**
 * A broker configured with a witness (a real `pavilion witness` on loopback,
 * with an Ed25519 and an ML-DSA-44 key): its checkpoints, and so its
 * receipts, carry both cosignatures; `audit pin` writes the published pins;
 * `audit verify` and `audit monitor` enforce a k-of-n witness policy.
 * Anchoring is off here, so verify ends "not anchored yet".
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCosignerKey, generateSignerKey, parseCosignerKey, verifierKeyFor } from '../../audit/index.js';
import { startWitness, type WitnessServer } from '../../audit/witness/index.js';
import { auditMonitor, auditPin, auditVerify, type Reporter } from '../../cli/audit.js';
import { loadPins } from '../../cli/audit-pins.js';
import { loadDemoSchema } from '../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../server/helpers.js';
import { pavilion } from './pavilion.js';

const dir = mkdtempSync(join(tmpdir(), 'pavilion-audit-witness-'));
const logKey = generateSignerKey('pavilion.local/audit');
const witnessKeys = [
  generateCosignerKey('witness.test.example/ed', 'ed25519'),
  generateCosignerKey('witness.test.example/pq', 'ml-dsa-44'),
];
const witnessVerifierKeys = witnessKeys.map((k) => parseCosignerKey(k).verifierKey);
let witness: WitnessServer;
let t: TestBroker;

function recorder(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    ok: (s, d) => lines.push(`ok ${s}: ${d}`),
    fail: (s, d) => lines.push(`FAIL ${s}: ${d}`),
    note: (n) => lines.push(n),
  };
}

beforeAll(async () => {
  witness = await startWitness({
    cosignerKeys: witnessKeys,
    stateFile: join(dir, 'witness-state.json'),
    logs: [{ origin: 'pavilion.local/audit', keys: [verifierKeyFor(logKey)] }],
  });
  t = await startTestBroker({
    AUDIT_SIGNING_KEY: logKey,
    AUDIT_WITNESSES: JSON.stringify(witnessVerifierKeys.map((key) => ({ url: witness.url, key }))),
    AUDIT_CHECKPOINT_LEAVES: '1',
    AUDIT_CHECKPOINT_MS: '100',
  });
  await api(t.url, 'PUT', '/v1/datasets/people', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  const upload = [0, 1]
    .map((i) => JSON.stringify({ ref: `p${i}`, clk: b64(randomClk(1024, 990_000 + i)), claims: { over_18: true } }))
    .join('\n');
  const res = await api(t.url, 'POST', '/v1/datasets/people/versions', {
    token: t.tokens.dp,
    raw: upload,
    contentType: 'application/x-ndjson',
  });
  expect(res.status, res.text).toBeLessThan(300);
}, 120_000);

afterAll(async () => {
  await t?.broker.close();
  await witness?.close();
});

async function receiptFile(): Promise<{ file: string; leafHash: string }> {
  const v = await api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'people', clk: b64(randomClk(1024, 990_001)), claims: ['over_18'], purpose: 'age_verification' },
  });
  expect(v.status, v.text).toBe(200);
  const { index, leaf_hash } = v.json.receipt;
  for (let i = 0; i < 100; i++) {
    const r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.rp });
    if (r.status === 200 && r.text.includes('witness.test.example/pq')) {
      const file = join(dir, `receipt-${index}.txt`);
      writeFileSync(file, r.text);
      return { file, leafHash: leaf_hash };
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('no cosigned receipt');
}

describe('witnessed receipts', () => {
  it('carry both cosignatures; a 2-of-2 policy verifies, a stranger witness does not count', async () => {
    const { file, leafHash } = await receiptFile();
    const pinsFile = join(dir, 'pins.json');
    const published = await auditPin({ server: t.url, token: t.tokens.auditor });
    expect(published).toMatchObject({ origin: 'pavilion.local/audit', logKeys: [verifierKeyFor(logKey)] });
    expect(published.witnesses).toEqual(witnessVerifierKeys);
    writeFileSync(pinsFile, JSON.stringify({ ...published, witnessThreshold: 2 }));
    const pins = await loadPins({ config: pinsFile });

    const out = recorder();
    const result = await auditVerify({ ...pins, receiptFile: file, leafHash, token: t.tokens.auditor }, out);
    expect(result, out.lines.join('\n')).toEqual({ status: 'not-anchored', failures: [], anchorChecked: false });
    expect(out.lines.join('\n')).toMatch(
      /ok witness cosignatures: 2 of 2 witnesses cosigned: .*\(ed25519\), .*\(ml-dsa-44\)/,
    );

    const stranger = parseCosignerKey(generateCosignerKey('witness.other.example/w', 'ed25519')).verifierKey;
    const strict = recorder();
    const failed = await auditVerify(
      {
        ...pins,
        witnesses: [...witnessVerifierKeys, stranger],
        witnessThreshold: 3,
        receiptFile: file,
        leafHash,
        token: t.tokens.auditor,
      },
      strict,
    );
    expect(failed.status).toBe('failed');
    expect(strict.lines.join('\n')).toMatch(/FAIL witness cosignatures: WITNESS_QUORUM_NOT_MET: 2 of the required 3/);
  }, 60_000);

  it('the monitor checks the witness policy on the latest checkpoint', async () => {
    await receiptFile();
    const pins = await loadPins({ config: join(dir, 'pins.json') });
    const out = recorder();
    const { failures: failed } = await auditMonitor(
      { ...pins, server: t.url, stateFile: join(dir, 'monitor.json'), token: t.tokens.auditor },
      out,
    );
    expect(failed, out.lines.join('\n')).toEqual([]);
    expect(out.lines.join('\n')).toMatch(/ok witness cosignatures on the latest checkpoint: 2 of 2/);
  }, 60_000);

  it('a threshold with no witness keys, or above their count, is WITNESS_POLICY_INVALID before any check', async () => {
    const { file, leafHash } = await receiptFile();
    const pin = ['--log-key', verifierKeyFor(logKey)];
    const noWitnesses = join(dir, 'pins-no-witnesses.json');
    writeFileSync(noWitnesses, JSON.stringify({ logKeys: [verifierKeyFor(logKey)], witnessThreshold: 3 }));
    const twoWitnesses = join(dir, 'pins-two-witnesses.json');
    writeFileSync(
      twoWitnesses,
      JSON.stringify({ logKeys: [verifierKeyFor(logKey)], witnesses: witnessVerifierKeys, witnessThreshold: 1 }),
    );
    const state = join(dir, 'monitor-policy.json');
    const runs: [string[], string][] = [
      [['audit', 'verify', file, '--leaf-hash', leafHash, ...pin, '--witness-threshold', '2'], 'of 2 but no witness'],
      [['audit', 'verify', file, '--leaf-hash', leafHash, '--config', noWitnesses], 'of 3 but no witness keys'],
      [
        ['audit', 'verify', file, '--leaf-hash', leafHash, '--config', twoWitnesses, '--witness-threshold', '3'],
        'of 3 with 2 witness key(s): it must be 1 to 2',
      ],
      [['audit', 'monitor', '--server', t.url, ...pin, '--witness-threshold', '2', '--state', state], 'of 2 but no'],
      [['audit', 'monitor', '--server', t.url, '--config', noWitnesses, '--state', state], 'of 3 but no witness'],
    ];
    for (const [args, says] of runs) {
      const r = await pavilion([...args, '--token', t.tokens.auditor]);
      expect(r.code, `${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stdout).toBe(''); // no check ran, so none printed "ok"
      expect(r.stderr).toMatch(/^pavilion: WITNESS_POLICY_INVALID: a witness threshold /);
      expect(r.stderr).toContain(says);
    }
    expect(existsSync(state)).toBe(false);
    // The same pins given to the functions directly are refused too.
    await expect(
      auditVerify({
        logKeys: [verifierKeyFor(logKey)],
        witnesses: [],
        witnessThreshold: 1,
        receiptFile: file,
        leafHash,
      }),
    ).rejects.toMatchObject({ code: 'WITNESS_POLICY_INVALID' });
    await expect(
      auditMonitor({
        logKeys: [verifierKeyFor(logKey)],
        witnesses: [],
        witnessThreshold: 1,
        server: t.url,
        stateFile: state,
      }),
    ).rejects.toMatchObject({ code: 'WITNESS_POLICY_INVALID' });
  }, 60_000);

  it('a pins file with an unknown field or a bad contract is PINS_INVALID', async () => {
    const bad = join(dir, 'bad-pins.json');
    writeFileSync(bad, JSON.stringify({ logKeys: ['k'], contracts: '0x' }));
    await expect(loadPins({ config: bad })).rejects.toMatchObject({ code: 'PINS_INVALID' });
    writeFileSync(bad, JSON.stringify({ logKeys: ['k'], contract: '0x12' }));
    await expect(loadPins({ config: bad })).rejects.toMatchObject({ code: 'PINS_INVALID' });
    await expect(loadPins({ chain: 'polygon' })).rejects.toMatchObject({ code: 'PINS_INVALID' });
  });
});
