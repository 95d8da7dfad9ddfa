/**
 * The committed bundle's wasm is what its Rego compiles to (policy/check.sh:
 * fmt, check, opa test, byte-identical rebuild), a stale wasm is caught, a
 * bundle an operator builds with `opa build` loads, and a real wasm whose
 * decision breaks the contract fails closed. Needs the opa CLI; skipped
 * with the reason when it is absent.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { loadPolicy, type PolicyInput } from '../../policy/index.js';
import { otherPurposes, writeBundle } from './bundle-fixture.js';
import { findOpa, OPA_MISSING_REASON, opaVersion, REQUIRED_OPA_VERSION } from './opa-cli.js';

const opa = findOpa();
const skipReason = !opa
  ? OPA_MISSING_REASON
  : opaVersion(opa) !== REQUIRED_OPA_VERSION
    ? `opa ${opaVersion(opa)} found; the committed wasm is built with ${REQUIRED_OPA_VERSION}`
    : '';
const env = {
  ...process.env,
  PATH: opa && opa !== 'opa' ? `${dirname(opa)}${delimiter}${process.env.PATH}` : process.env.PATH,
};
const dir = mkdtempSync(join(tmpdir(), 'pavilion-policy-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('committed wasm matches its Rego', () => {
  it.skipIf(skipReason !== '')(`policy/check.sh passes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    const r = spawnSync(fromRoot('policy', 'check.sh'), { env, encoding: 'utf8' });
    expect(r.stderr + r.stdout).toContain('committed wasm OK');
    expect(r.status).toBe(0);
  });

  it.skipIf(skipReason !== '')(
    `policy/check.sh catches a stale wasm${skipReason ? ` (skipped: ${skipReason})` : ''}`,
    () => {
      const stale = join(dir, 'stale.wasm');
      copyFileSync(fromRoot('policy', 'bundle', 'policy.wasm'), stale);
      const bytes = readFileSync(stale);
      bytes[bytes.length >> 1] ^= 0x01;
      writeFileSync(stale, bytes);
      const r = spawnSync(fromRoot('policy', 'check.sh'), [stale], { env, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('is stale');
    },
  );

  const ENTRY_ARGS = [
    '-e',
    'pavilion/verification/decision',
    '-e',
    'pavilion/verification/dataset_check',
    '-e',
    'pavilion/verification/catalogue',
  ];

  /** Compiles `rego` and returns a bundle folder with the committed manifest and data and that wasm. */
  function bundleOf(name: string, rego: string): string {
    const source = join(dir, `${name}.rego`);
    writeFileSync(source, rego);
    execFileSync(opa!, ['build', '-t', 'wasm', ...ENTRY_ARGS, source, '-o', join(dir, `${name}.tar.gz`)], { cwd: dir });
    const out = join(dir, name);
    execFileSync('mkdir', ['-p', join(dir, `${name}-x`)]);
    execFileSync('tar', ['-xzf', join(dir, `${name}.tar.gz`), '-C', join(dir, `${name}-x`), '/policy.wasm']);
    writeBundle({ into: out });
    copyFileSync(join(dir, `${name}-x`, 'policy.wasm'), join(out, 'policy.wasm'));
    return out;
  }
  const HONEST_EXTRAS =
    'dataset_check := {"unknown_purposes": [], "unreleasable_claims": []}\n\n' +
    'catalogue := {"purposes": data.pavilion.purposes, "actions": {}}\n';

  it.skipIf(!opa)(
    `a bundle built with opa build (tar.gz, new purpose in its data) ` +
      `loads${opa ? '' : ` (skipped: ${OPA_MISSING_REASON})`}`,
    async () => {
      const data = join(dir, 'ops-data.json');
      writeFileSync(data, JSON.stringify({ pavilion: { purposes: otherPurposes() } }));
      const out = join(dir, 'ops-bundle.tar.gz');
      execFileSync(
        opa!,
        ['build', '-t', 'wasm', ...ENTRY_ARGS, 'policy/verification.rego', data, '--revision', 'ops-7', '-o', out],
        { cwd: fromRoot() },
      );
      const p = await loadPolicy(out);
      expect(p.version).toMatch(/^ops-7\+[0-9a-f]{12}$/);
      expect(Object.keys(p.describe().purposes).sort()).toEqual([
        'age_verification',
        'employment_screening',
        'fraud_check',
        'kyc',
      ]);
      expect(p.describe().purposes.fraud_check!.description).toBe('added as data');
    },
  );

  it.skipIf(!opa)(
    `a compiled policy whose decision breaks the contract fails ` +
      `closed${opa ? '' : ` (skipped: ${OPA_MISSING_REASON})`}`,
    async () => {
      const broken = await loadPolicy(
        bundleOf(
          'broken',
          `package pavilion.verification\n\ndecision := {"allow": "yes", "reasons": []}\n\n${HONEST_EXTRAS}`,
        ),
      );
      expect(() => broken.decide({} as PolicyInput)).toThrow(
        expect.objectContaining({ code: 'POLICY_ERROR', status: 500 }),
      );

      // A policy whose decision is undefined for some input also fails closed.
      const partial = await loadPolicy(
        bundleOf(
          'partial',
          'package pavilion.verification\n\ndecision := {"allow": true, "reasons": [], "obligations": ' +
            '{"revealable_claims": [], "min_score": 0.9, "cache_ttl_seconds": 1}, "permitted": {"purposes": [], ' +
            '"claims": []}} if input.action == "verify"\n\n' +
            HONEST_EXTRAS,
        ),
      );
      expect(partial.decide({ action: 'verify' } as PolicyInput).allow).toBe(true);
      expect(() => partial.decide({ action: 'link' } as PolicyInput)).toThrow(
        expect.objectContaining({ code: 'POLICY_ERROR' }),
      );
    },
  );

  it.skipIf(!opa)(
    `a policy missing an entrypoint, or not reading its purposes from the data, is ` +
      `refused${opa ? '' : ` (skipped: ${OPA_MISSING_REASON})`}`,
    async () => {
      const source = join(dir, 'one.rego');
      writeFileSync(source, 'package pavilion.verification\n\ndecision := 1\n');
      execFileSync(opa!, [
        'build',
        '-t',
        'wasm',
        '-e',
        'pavilion/verification/decision',
        source,
        '-o',
        join(dir, 'one.tar.gz'),
      ]);
      const one = writeBundle();
      execFileSync('tar', ['-xzf', join(dir, 'one.tar.gz'), '-C', one, '/policy.wasm']);
      await expect(loadPolicy(one)).rejects.toMatchObject({ code: 'POLICY_LOAD_FAILED' });

      const hardCoded = bundleOf(
        'hard-coded',
        'package pavilion.verification\n\ndecision := 1\n\ndataset_check := 1\n\ncatalogue := {"purposes": {"kyc": ' +
          '{}}}\n',
      );
      await expect(loadPolicy(hardCoded)).rejects.toMatchObject({
        code: 'POLICY_BUNDLE_INVALID',
        message: expect.stringContaining('does not serve the purposes of data.json'),
      });
    },
  );
});
