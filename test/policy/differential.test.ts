/**
 * Differential checks of the compiled policy:
 *  - against a plain TypeScript statement of the rules (reference-policy.ts)
 *    on a few thousand seeded random inputs, including wrong types;
 *  - against the OPA CLI (`opa eval` on the Rego source, one process for the
 *    whole table), when opa is installed.
 * Agreement with `opa eval` shows the wasm compilation preserved the Rego's
 * meaning; agreement with the reference shows the Rego says what we meant.
 * Both run with the committed purposes and with other purposes given as
 * bundle data (one added, one removed, one changed): the rules must hold
 * for whatever purposes an operator configures.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { seededRandom as prng } from '../../common/seeded-random.js';
import { loadPolicy, type Policy, type PolicyInput } from '../../policy/index.js';
import { otherPurposes, writeBundle } from './bundle-fixture.js';
import { findOpa, OPA_MISSING_REASON } from './opa-cli.js';
import { type PurposeTable, referenceDecision } from './reference-policy.js';

const CLAIM_POOL = [
  'over_18',
  'over_21',
  'license_valid',
  'license_class',
  'license_expiry',
  'identity_verified',
  'name_match',
  'employment_eligible',
  'ssn',
];

function randomInputs(seed: number, count: number): unknown[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const subset = <T>(xs: readonly T[]): T[] => xs.filter(() => r() < 0.5);
  const out: unknown[] = [];
  for (let n = 0; n < count; n++) {
    // Half the cases are near-valid (each field goes wild with p = 0.1) so a
    // fair share is allowed; the other half draw every field from the wild pool.
    const wildness = n % 2 === 0 ? 0.1 : 1;
    const field = <T>(valid: () => T, wild: () => unknown): unknown => (r() < wildness ? wild() : valid());
    const omit = (v: unknown) => (r() < 0.03 ? undefined : v);
    out.push({
      principal: omit({
        sub: field(
          () => 'acme-bank',
          () => pick(['acme-bank', '', undefined, 7]),
        ),
        roles: field(
          () => ['rp'],
          () => pick([subset(['rp', 'dp', 'auditor', 'admin', 'rp ']), ['rp', 'admin'], 'rp', undefined]),
        ),
        tenant: pick([undefined, 't1']),
      }),
      action: field(
        () => pick(['verify', 'link', 'encode_record']),
        () => pick(['verify', 'link', 'encode_record', 'delete', undefined, 3]),
      ),
      dataset: omit({
        id: field(
          () => 'ds-1',
          () => pick(['ds-1', undefined, 5]),
        ),
        claims: field(
          () => subset(CLAIM_POOL),
          () => pick([CLAIM_POOL, [], undefined, [1, 'over_18']]),
        ),
        allow_broker_encoding: field(
          () => true,
          () => pick([true, false, 'true', undefined]),
        ),
        purposes: field(
          () => undefined,
          () =>
            pick([
              null,
              [],
              ['kyc'],
              ['license_check', 'age_verification'],
              ['employment_screening', 'kyc'],
              ['fraud_check', 'nonsense'],
            ]),
        ),
      }),
      request: omit({
        claims: field(
          () => subset(CLAIM_POOL),
          () => pick([[], undefined, ['over_21', 2, null], CLAIM_POOL]),
        ),
        purpose: field(
          () => pick(['kyc', 'age_verification', 'employment_screening', 'license_check', 'fraud_check']),
          () => pick(['kyc', 'employment_screening', 'marketing', undefined, 'toString', '', 'fraud_check']),
        ),
        consent: field(
          () => pick([true, { granted: true }]),
          () => pick([undefined, false, { granted: false }, { granted: 'true' }, 'yes']),
        ),
      }),
    });
  }
  return out;
}

let policy: Policy;
let otherPolicy: Policy;
let otherBundle: string;
const OTHER = otherPurposes();
beforeAll(async () => {
  policy = await loadPolicy(undefined, { memoSize: 0 });
  otherBundle = writeBundle({ purposes: OTHER });
  otherPolicy = await loadPolicy(otherBundle, { memoSize: 0 });
});

const tables: [string, () => Policy, PurposeTable | undefined][] = [
  ['committed purposes', () => policy, undefined],
  ['other purposes as data', () => otherPolicy, OTHER],
];

describe.each(tables)('wasm vs TypeScript reference (%s)', (_name, current, table) => {
  it('agrees on 3000 seeded random inputs', () => {
    const inputs = randomInputs(20260601, 3000);
    let allowed = 0;
    for (const [i, inp] of inputs.entries()) {
      const wasm = current().evaluate(inp as PolicyInput);
      // The reference sees the input exactly as the wasm does.
      const ref = referenceDecision(JSON.parse(JSON.stringify(inp)), table);
      if (JSON.stringify(wasm) !== JSON.stringify(ref)) {
        expect({ case: i, input: inp, decision: wasm }).toEqual({ case: i, input: inp, decision: ref });
      }
      if (wasm.allow) allowed++;
    }
    // The generator must exercise both outcomes meaningfully.
    expect(allowed).toBeGreaterThan(300);
    expect(allowed).toBeLessThan(2700);
  });

  it('every deny reason occurs in the random sample', () => {
    const seen = new Set<string>();
    for (const inp of randomInputs(20260601, 3000))
      for (const r of current().evaluate(inp as PolicyInput).reasons) seen.add(r);
    expect([...seen].sort()).toEqual([
      'action_unknown',
      'broker_encoding_not_allowed',
      'consent_required',
      'no_revealable_claims',
      'principal_invalid',
      'purpose_not_permitted_by_dataset',
      'purpose_unknown',
      'request_invalid',
      'role_not_permitted',
    ]);
  });
});

const opa = findOpa();

describe.each(tables)('wasm vs opa eval (CLI, %s)', (_name, current, table) => {
  it.skipIf(!opa)(
    `agrees with opa eval on the Rego source for a table of inputs${opa ? '' : ` (skipped: ${OPA_MISSING_REASON})`}`,
    () => {
      const inputs = randomInputs(7, 400).map((x) => JSON.parse(JSON.stringify(x)));
      const dir = mkdtempSync(join(tmpdir(), 'pavilion-opa-eval-'));
      try {
        const inputFile = join(dir, 'input.json');
        writeFileSync(inputFile, JSON.stringify({ cases: inputs }));
        // One opa process evaluates the whole table.
        const out = execFileSync(
          opa!,
          [
            'eval',
            '--format',
            'json',
            '-d',
            fromRoot('policy', 'verification.rego'),
            '-d',
            table ? join(otherBundle, 'data.json') : fromRoot('policy', 'bundle', 'data.json'),
            '-i',
            inputFile,
            '[d | some c in input.cases; d := data.pavilion.verification.decision with input as c]',
          ],
          { encoding: 'utf8', maxBuffer: 64 << 20 },
        );
        const cli = JSON.parse(out).result[0].expressions[0].value as unknown[];
        expect(cli).toHaveLength(inputs.length);
        for (const [i, inp] of inputs.entries()) {
          const wasm = current().evaluate(inp as PolicyInput);
          if (JSON.stringify(wasm) !== JSON.stringify(cli[i]))
            expect({ case: i, input: inp, wasm }).toEqual({ case: i, input: inp, wasm: cli[i] });
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
