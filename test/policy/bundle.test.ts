/**
 * Policy bundles as an operator hands them over: folders and .tar.gz, their
 * data checked, signatures made by `opa sign` verified (and a jose-made one
 * when opa is absent), what the policy describes, dataset checks, and a
 * bundle replaced while it is in use (polling and reload()).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../policy/bundle.js';
import { opaFileDigest } from '../../policy/bundle-signature.js';
import {
  type DatasetPolicyMismatch,
  importBundleKey,
  loadPolicy,
  openPolicy,
  type PolicyInput,
} from '../../policy/index.js';
import { otherPurposes, writeBundle } from './bundle-fixture.js';
import { findOpa, OPA_MISSING_REASON } from './opa-cli.js';
import { PURPOSE_TABLE } from './reference-policy.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'pavilion-bundle-test-'));
  dirs.push(d);
  return d;
};
const bundle = (opts: Parameters<typeof writeBundle>[0] = {}): string => {
  const d = writeBundle(opts);
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const verify = (purpose: string, claims: string[] = ['name_match'], consent?: boolean): PolicyInput => ({
  principal: { sub: 'acme', roles: ['rp'] },
  action: 'verify',
  dataset: {
    id: 'ds',
    claims: ['over_18', 'over_21', 'name_match', 'identity_verified'],
    allow_broker_encoding: false,
  },
  request: { claims, purpose, ...(consent !== undefined ? { consent } : {}) },
});

describe('reading bundles', () => {
  it('a folder and the same bundle as a .tar.gz load to the same version', async () => {
    const folder = bundle();
    const tarball = join(tempDir(), 'bundle.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', folder, '.']);
    const a = await loadPolicy(folder);
    const b = await loadPolicy(tarball);
    expect(b.version).toBe(a.version);
    expect(b.evaluate(verify('kyc'))).toEqual(a.evaluate(verify('kyc')));
  });

  it('the version follows content and revision, not where the bundle lies', async () => {
    const a = await loadPolicy(bundle());
    const b = await loadPolicy(bundle({ manifest: { revision: 'ops-8' } }));
    const c = await loadPolicy(bundle({ purposes: otherPurposes() }));
    expect(b.version).toMatch(/^ops-8\+[0-9a-f]{12}$/);
    expect(new Set([a.sha256, b.sha256, c.sha256]).size).toBe(3);
    const { revision: _r, ...noRevision } = JSON.parse(readFileSync(join(bundle(), '.manifest'), 'utf8'));
    const plain = bundle();
    writeFileSync(join(plain, '.manifest'), JSON.stringify(noRevision));
    expect((await loadPolicy(plain)).version).toMatch(/^[0-9a-f]{12}$/);
  });

  it('malformed data, manifests and members are refused naming the problem, never loaded in part', async () => {
    const noScore = structuredClone(PURPOSE_TABLE) as unknown as Record<string, Record<string, unknown>>;
    delete noScore.kyc!.min_score;
    const cases: [Parameters<typeof writeBundle>[0], RegExp][] = [
      [{ purposes: noScore as never }, /data\.json \.pavilion\.purposes\.kyc\.min_score/],
      [{ purposes: {} }, /at least one purpose/],
      [{ purposes: { kyc: { ...PURPOSE_TABLE.kyc!, claims: ['Not A Claim'] } } }, /claims\.0/],
      [{ purposes: { 'no spaces': PURPOSE_TABLE.kyc! } }, /purpose names/],
      [{ purposes: { kyc: { ...PURPOSE_TABLE.kyc!, min_score: 1.5 } } }, /min_score/],
      [{ purposes: { kyc: { ...PURPOSE_TABLE.kyc!, extra: 1 } as never } }, /Unrecognized key/],
      [{ data: '{"pavilion": ' }, /data\.json is not JSON/],
      [{ data: '{"other": {}}' }, /data\.json \.pavilion/],
      [{ manifest: { revision: 'has spaces' } }, /revision must match/],
      [{ manifest: { revision: 'a+b' } }, /revision must match/],
      [{ manifest: { roots: ['elsewhere'] } }, /roots must include "pavilion"/],
      [
        {
          manifest: {
            wasm: ['decision', 'dataset_check', 'catalogue'].map((e) => ({
              entrypoint: `pavilion/verification/${e}`,
              module: '/gone.wasm',
            })),
          },
        },
        /gone\.wasm is missing/,
      ],
    ];
    for (const [opts, message] of cases) {
      await expect(loadPolicy(bundle(opts)), String(message)).rejects.toMatchObject({
        code: 'POLICY_BUNDLE_INVALID',
        status: 422,
        message: expect.stringMatching(message),
      });
    }
    const nested = bundle();
    execFileSync('mkdir', ['-p', join(nested, 'pavilion')]);
    writeFileSync(join(nested, 'pavilion', 'data.json'), '{}');
    await expect(loadPolicy(nested)).rejects.toMatchObject({ message: expect.stringContaining('only a data.json at') });
    const noData = bundle();
    rmSync(join(noData, 'data.json'));
    await expect(loadPolicy(noData)).rejects.toMatchObject({
      message: expect.stringContaining('data.json is missing'),
    });
  });
});

describe('what the policy says about itself', () => {
  it('describe() lists purposes, their claims, minimum scores, consent, actions and reasons', async () => {
    const p = await loadPolicy();
    const d = p.describe();
    expect(d.version).toBe(p.version);
    expect(d.signed).toBe(false);
    expect(d.purposes.kyc).toEqual({
      claims: ['address_match', 'date_of_birth_match', 'document_valid', 'identity_verified', 'name_match', 'over_18'],
      consent_required: false,
      min_score: 0.9,
      cache_ttl_seconds: 300,
      description: 'Know-your-customer identity verification.',
    });
    expect(d.purposes.employment_screening!.consent_required).toBe(true);
    expect(Object.keys(d.purposes).sort()).toEqual(Object.keys(PURPOSE_TABLE).sort());
    expect(d.actions).toEqual({ encode_record: ['rp'], link: ['rp'], verify: ['rp'] });
    expect(Object.keys(d.reasons)).toContain('purpose_unknown');
    expect(Object.isFrozen(d.purposes.kyc!.claims)).toBe(true);
  });

  it('dataset definitions: unknown purposes and claims no purpose may reveal are named', async () => {
    const p = await loadPolicy();
    expect(p.checkDataset({ claims: ['over_18', 'license_valid'] })).toEqual({
      unknown_purposes: [],
      unreleasable_claims: [],
    });
    expect(
      p.checkDataset({ claims: ['over_18', 'license_valid'], purposes: ['age_verification', 'marketing'] }),
    ).toEqual({ unknown_purposes: ['marketing'], unreleasable_claims: ['license_valid'] });
    let thrown: DatasetPolicyMismatch | undefined;
    try {
      p.assertDatasetAllowed({ claims: ['over_18', 'ssn'], purposes: ['marketing', 'kyc'] });
    } catch (err) {
      thrown = err as DatasetPolicyMismatch;
    }
    expect(thrown).toMatchObject({ code: 'DATASET_POLICY_MISMATCH', status: 422 });
    expect(thrown!.problemErrors).toEqual([
      {
        path: '$.purposes',
        message: 'unknown to the policy: marketing (known: age_verification, employment_screening, kyc, license_check)',
      },
      { path: '$.claims', message: 'no purpose this dataset serves may reveal: ssn (see GET /v1/policy)' },
    ]);
    expect(() => p.assertDatasetAllowed({ claims: ['over_18'], purposes: null })).not.toThrow();
  });
});

describe('signed bundles', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const opa = findOpa();

  /** Signs as OPA's signer does: one JWS over the digest of every member. */
  async function joseSign(
    dir: string,
    extra: Record<string, unknown> = {},
    signer: { alg: string; key: KeyObject } = { alg: 'RS256', key: privateKey },
  ): Promise<void> {
    const files = await readBundle(dir);
    files.delete('.signatures.json');
    const payload = {
      files: [...files].map(([name, bytes]) => ({
        name,
        hash: opaFileDigest(name, bytes).toString('hex'),
        algorithm: 'SHA-256',
      })),
      ...extra,
    };
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: signer.alg })
      .sign(signer.key);
    writeFileSync(join(dir, '.signatures.json'), JSON.stringify({ signatures: [jws] }));
  }

  async function opaSign(dir: string): Promise<void> {
    const keyFile = join(tempDir(), 'key.pem');
    writeFileSync(keyFile, privatePem);
    // Run inside the bundle so the signed names are relative to its root (docs/policy.md).
    execFileSync(opa!, ['sign', '--signing-key', keyFile, '--bundle', '.'], { cwd: dir });
  }

  it.skipIf(!opa)(
    `a bundle signed by opa sign loads; changed, added or removed members do ` +
      `not${opa ? '' : ` (skipped: ${OPA_MISSING_REASON})`}`,
    async () => {
      const key = await importBundleKey(publicPem, 'RS256');
      // Numbers as written matter to OPA's digest: 0.90 here, not 0.9.
      const data = JSON.stringify({ pavilion: { purposes: { ...PURPOSE_TABLE, kyc: { ...PURPOSE_TABLE.kyc! } } } })
        .replace('"min_score":0.9,', '"min_score":0.90,')
        .replace('{"pavilion"', '{ "pavilion"');
      expect(data).toContain('0.90');
      const signed = bundle({ data });
      await opaSign(signed);
      const p = await loadPolicy(signed, { key });
      expect(p.describe().signed).toBe(true);
      expect(p.describe().purposes.kyc!.min_score).toBe(0.9);

      // Whitespace is not signed content (OPA hashes the parsed JSON), numbers as written are.
      writeFileSync(
        join(signed, 'data.json'),
        JSON.stringify(JSON.parse(readFileSync(join(signed, 'data.json'), 'utf8')), null, 4).replace('0.9,', '0.90,'),
      );
      await expect(loadPolicy(signed, { key })).resolves.toBeDefined();
      writeFileSync(
        join(signed, 'data.json'),
        readFileSync(join(signed, 'data.json'), 'utf8').replace('0.90,', '0.9,'),
      );
      await expect(loadPolicy(signed, { key })).rejects.toMatchObject({
        code: 'POLICY_BUNDLE_SIGNATURE_INVALID',
        message: expect.stringContaining('data.json does not match'),
      });

      const added = bundle();
      await opaSign(added);
      writeFileSync(join(added, 'notes.txt'), 'unsigned');
      await expect(loadPolicy(added, { key })).rejects.toMatchObject({
        message: expect.stringContaining('notes.txt is not included'),
      });
      const removed = bundle();
      writeFileSync(join(removed, 'notes.txt'), 'signed');
      await opaSign(removed);
      rmSync(join(removed, 'notes.txt'));
      await expect(loadPolicy(removed, { key })).rejects.toMatchObject({
        message: expect.stringContaining('missing from the bundle: notes.txt'),
      });
    },
  );

  it.each(['Ed25519', 'EdDSA'])('a bundle signed with an Ed25519 key (JWS alg %s) loads with that key', async (alg) => {
    const ed = generateKeyPairSync('ed25519');
    const key = await importBundleKey(ed.publicKey.export({ type: 'spki', format: 'pem' }).toString(), alg);
    const signed = bundle();
    await joseSign(signed, {}, { alg, key: ed.privateKey });
    expect((await loadPolicy(signed, { key })).describe().signed).toBe(true);
    await expect(loadPolicy(signed, { key: await importBundleKey(publicPem, 'RS256') })).rejects.toMatchObject({
      code: 'POLICY_BUNDLE_SIGNATURE_INVALID',
    });
  });

  it('a jose-signed bundle loads; an unsigned one, another key, a scope or a changed wasm do not', async () => {
    const key = await importBundleKey(publicPem, 'RS256');
    const signed = bundle({ purposes: otherPurposes() });
    await joseSign(signed);
    expect((await loadPolicy(signed, { key })).describe().purposes.fraud_check).toBeDefined();
    // Without a key the signature is not checked (a development bundle need not be signed).
    expect((await loadPolicy(signed)).describe().signed).toBe(false);

    await expect(loadPolicy(bundle(), { key })).rejects.toMatchObject({
      code: 'POLICY_BUNDLE_SIGNATURE_INVALID',
      message: expect.stringContaining('has no .signatures.json'),
    });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
    await expect(loadPolicy(signed, { key: await importBundleKey(other.toString(), 'RS256') })).rejects.toMatchObject({
      message: expect.stringContaining('does not verify'),
    });
    const scoped = bundle();
    await joseSign(scoped, { scope: 'write' });
    await expect(loadPolicy(scoped, { key })).rejects.toMatchObject({ message: expect.stringContaining('scope') });
    const tampered = bundle();
    await joseSign(tampered);
    const wasm = readFileSync(join(tampered, 'policy.wasm'));
    wasm[wasm.length - 1]! ^= 1;
    writeFileSync(join(tampered, 'policy.wasm'), wasm);
    await expect(loadPolicy(tampered, { key })).rejects.toMatchObject({
      message: expect.stringContaining('policy.wasm does not match'),
    });
    await expect(importBundleKey('not a key')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('replacing the bundle while it is in use', () => {
  it('a purpose added to the data is served after the next poll, without reopening', async () => {
    const dir = bundle();
    const reloads: string[] = [];
    const errors: string[] = [];
    const p = await openPolicy({
      path: dir,
      pollMs: 20,
      onReload: (_from, to) => reloads.push(to.version),
      onError: (err) => errors.push((err as { code?: string }).code ?? 'x'),
    });
    try {
      const before = p.version;
      expect(p.decide(verify('fraud_check', ['name_match'])).reasons).toEqual(['purpose_unknown']);
      writeFileSync(join(dir, 'data.json'), JSON.stringify({ pavilion: { purposes: otherPurposes() } }));
      for (let i = 0; i < 500 && p.version === before; i++) await new Promise((r) => setTimeout(r, 10));
      expect(p.version).not.toBe(before);
      expect(reloads).toEqual([p.version]);
      expect(p.decide(verify('fraud_check', ['name_match']))).toMatchObject({
        allow: true,
        obligations: { revealable_claims: ['name_match'], min_score: 0.95, cache_ttl_seconds: 0 },
      });
      expect(p.describe().purposes.fraud_check).toBeDefined();

      // A broken replacement keeps the running bundle and is reported once.
      const good = p.version;
      writeFileSync(join(dir, 'data.json'), '{"pavilion": {"purposes": {"kyc": {}}}}');
      for (let i = 0; i < 500 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100));
      expect(errors).toEqual(['POLICY_BUNDLE_INVALID']);
      expect(p.version).toBe(good);
      expect(p.decide(verify('fraud_check', ['name_match'])).allow).toBe(true);
    } finally {
      p.close();
    }
  });

  it('reload() reports whether the bundle changed, and refuses a bad one keeping the old', async () => {
    const dir = bundle();
    const p = await openPolicy({ path: dir, pollMs: 0 });
    try {
      const first = p.version;
      expect(await p.reload()).toEqual({ changed: false, previous: first, version: first });
      writeFileSync(join(dir, 'data.json'), JSON.stringify({ pavilion: { purposes: otherPurposes() } }));
      const outcome = await p.reload();
      expect(outcome).toEqual({ changed: true, previous: first, version: p.version });
      expect(p.version).not.toBe(first);
      expect(p.decide(verify('age_verification', ['over_21'], true)).obligations.min_score).toBe(0.8);
      writeFileSync(join(dir, '.manifest'), '{"revision": "bad revision"}');
      await expect(p.reload()).rejects.toMatchObject({ code: 'POLICY_BUNDLE_INVALID' });
      expect(p.version).toBe(outcome.version);
    } finally {
      p.close();
    }
  });
});
