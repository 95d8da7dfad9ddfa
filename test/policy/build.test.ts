/**
 * The committed wasm is what its Rego compiles to (policy/check.sh: fmt,
 * check, opa test, byte-identical rebuild), a stale wasm is caught, and a
 * real wasm whose decision breaks the contract fails closed at decide().
 * Needs the opa CLI; skipped with the reason when it is absent.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { loadPolicy, type PolicyInput } from '../../policy/index.js';
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
      copyFileSync(fromRoot('policy', 'verification.wasm'), stale);
      const bytes = readFileSync(stale);
      bytes[bytes.length >> 1] ^= 0x01;
      writeFileSync(stale, bytes);
      const r = spawnSync(fromRoot('policy', 'check.sh'), [stale], { env, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('is stale');
    },
  );

  it.skipIf(!opa)(
    `a compiled policy whose decision breaks the contract fails closed${opa ? '' : ` (skipped: ${OPA_MISSING_REASON})`}`,
    async () => {
      const rego = join(dir, 'broken.rego');
      writeFileSync(rego, 'package pavilion.verification\n\ndecision := {"allow": "yes", "reasons": []}\n');
      execFileSync(
        opa!,
        ['build', '-t', 'wasm', '-e', 'pavilion/verification/decision', rego, '-o', join(dir, 'b.tar.gz')],
        { cwd: dir },
      );
      execFileSync('tar', ['-xzf', join(dir, 'b.tar.gz'), '-C', dir, '/policy.wasm']);
      const broken = await loadPolicy(join(dir, 'policy.wasm'));
      expect(() => broken.decide({} as PolicyInput)).toThrow(
        expect.objectContaining({ code: 'POLICY_ERROR', status: 500 }),
      );

      // A policy whose decision is undefined for some input also fails closed.
      writeFileSync(
        rego,
        'package pavilion.verification\n\ndecision := {"allow": true, "reasons": [], "obligations": {"revealable_claims": [], "min_score": 0.9, "cache_ttl_seconds": 1}} if input.action == "verify"\n',
      );
      execFileSync(
        opa!,
        ['build', '-t', 'wasm', '-e', 'pavilion/verification/decision', rego, '-o', join(dir, 'c.tar.gz')],
        { cwd: dir },
      );
      execFileSync('tar', ['-xzf', join(dir, 'c.tar.gz'), '-C', dir, '/policy.wasm']);
      const partial = await loadPolicy(join(dir, 'policy.wasm'));
      expect(partial.decide({ action: 'verify' } as PolicyInput).allow).toBe(true);
      expect(() => partial.decide({ action: 'link' } as PolicyInput)).toThrow(
        expect.objectContaining({ code: 'POLICY_ERROR' }),
      );
    },
  );
});
