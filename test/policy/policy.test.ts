/**
 * The committed policy bundle (policy/bundle/) evaluated with opa-wasm
 * through policy/index.ts: an allow and a deny case for every rule,
 * obligations, what a denial says would be allowed, memoization, version,
 * and fail-closed handling of bad results and files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import {
  canonicalInput,
  decisionFromResultSet,
  denied,
  loadPolicy,
  type Policy,
  type PolicyDenied,
  type PolicyInput,
} from '../../policy/index.js';

let policy: Policy;
let dir: string;

beforeAll(async () => {
  policy = await loadPolicy();
  dir = await mkdtemp(join(tmpdir(), 'pavilion-policy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DATASET = {
  id: 'dmv-2026',
  claims: ['over_18', 'over_21', 'license_valid', 'license_class', 'identity_verified', 'name_match'],
  allow_broker_encoding: false,
};

function input(
  over: {
    principal?: Partial<PolicyInput['principal']>;
    action?: string;
    dataset?: Partial<PolicyInput['dataset']>;
    request?: Partial<PolicyInput['request']>;
  } = {},
): PolicyInput {
  return {
    principal: { sub: 'acme-bank', roles: new Set(['rp']), ...over.principal },
    action: (over.action ?? 'verify') as PolicyInput['action'],
    dataset: { ...DATASET, ...over.dataset },
    request: { claims: ['over_21'], purpose: 'age_verification', ...over.request },
  };
}

const reasonsOf = (i: PolicyInput) => policy.evaluate(i).reasons;

describe('rules (real compiled wasm)', () => {
  it('age verification reveals only the age claims, with default obligations', () => {
    const d = policy.evaluate(input({ request: { claims: ['over_18', 'over_21', 'name_match', 'license_valid'] } }));
    expect(d).toEqual({
      allow: true,
      reasons: [],
      obligations: { revealable_claims: ['over_18', 'over_21'], min_score: 0.85, cache_ttl_seconds: 300 },
      permitted: {
        purposes: ['age_verification', 'employment_screening', 'kyc', 'license_check'],
        claims: ['over_18', 'over_21'],
      },
    });
  });

  it('per-purpose claim lists, min scores and ttls', () => {
    expect(
      policy.evaluate(input({ request: { claims: ['identity_verified', 'over_21'], purpose: 'kyc' } })).obligations,
    ).toEqual({
      revealable_claims: ['identity_verified'],
      min_score: 0.9,
      cache_ttl_seconds: 300,
    });
    expect(
      policy.evaluate(
        input({ request: { claims: ['license_valid', 'license_expiry', 'over_18'], purpose: 'license_check' } }),
      ).obligations.revealable_claims,
    ).toEqual(['license_valid']);
    const emp = policy.evaluate(
      input({
        request: {
          claims: ['license_valid', 'license_class', 'over_21'],
          purpose: 'employment_screening',
          consent: true,
        },
      }),
    );
    expect(emp.allow).toBe(true);
    expect(emp.obligations).toEqual({
      revealable_claims: ['license_class', 'license_valid'],
      min_score: 0.92,
      cache_ttl_seconds: 60,
    });
  });

  it('role: only rp may verify, link or encode; rp among other roles suffices', () => {
    for (const role of ['dp', 'auditor', 'admin']) {
      for (const action of ['verify', 'link', 'encode_record']) {
        expect(
          reasonsOf(input({ principal: { roles: [role] }, action, dataset: { allow_broker_encoding: true } })),
        ).toEqual(['role_not_permitted']);
      }
    }
    expect(reasonsOf(input({ principal: { roles: [] } }))).toEqual(['role_not_permitted']);
    expect(policy.evaluate(input({ principal: { roles: ['admin', 'rp', 'dp'] } })).allow).toBe(true);
    expect(policy.evaluate(input({ action: 'link', request: { claims: [], purpose: 'kyc' } })).allow).toBe(true);
  });

  it('purpose must be known and permitted by the dataset', () => {
    expect(reasonsOf(input({ request: { purpose: 'marketing' } }))).toEqual(['purpose_unknown']);
    expect(reasonsOf(input({ request: { purpose: 'toString' } }))).toEqual(['purpose_unknown']);
    expect(reasonsOf(input({ dataset: { purposes: ['license_check'] } }))).toEqual([
      'purpose_not_permitted_by_dataset',
    ]);
    expect(policy.evaluate(input({ dataset: { purposes: ['license_check', 'age_verification'] } })).allow).toBe(true);
    expect(policy.evaluate(input({ dataset: { purposes: null } })).allow).toBe(true);
  });

  it('consent is required for employment screening only', () => {
    const req = { claims: ['identity_verified'], purpose: 'employment_screening' };
    expect(reasonsOf(input({ request: req }))).toEqual(['consent_required']);
    expect(reasonsOf(input({ request: { ...req, consent: false } }))).toEqual(['consent_required']);
    expect(reasonsOf(input({ request: { ...req, consent: { granted: false } } }))).toEqual(['consent_required']);
    expect(policy.evaluate(input({ request: { ...req, consent: { granted: true, reference: 'c-1' } } })).allow).toBe(
      true,
    );
    expect(policy.evaluate(input({ request: { claims: ['identity_verified'], purpose: 'kyc' } })).allow).toBe(true);
  });

  it('broker-side encoding only when the dataset allows it', () => {
    expect(reasonsOf(input({ action: 'encode_record' }))).toEqual(['broker_encoding_not_allowed']);
    expect(policy.evaluate(input({ action: 'encode_record', dataset: { allow_broker_encoding: true } })).allow).toBe(
      true,
    );
  });

  it('a request for claims none of which can be revealed is refused; asking for none is a match-only question', () => {
    expect(reasonsOf(input({ request: { claims: ['name_match'] } }))).toEqual(['no_revealable_claims']);
    const none = policy.evaluate(input({ request: { claims: [] } }));
    expect(none.allow).toBe(true);
    expect(none.obligations.revealable_claims).toEqual([]);
    expect(reasonsOf(input({ request: { claims: [], purpose: 'employment_screening' } }))).toEqual([
      'consent_required',
    ]);
  });

  it('unknown action, invalid principal, invalid request; reasons accumulate sorted and nothing is revealed', () => {
    expect(reasonsOf(input({ action: 'delete' }))).toEqual(['action_unknown']);
    expect(reasonsOf(input({ principal: { sub: '' } }))).toEqual(['principal_invalid']);
    expect(reasonsOf(input({ dataset: { claims: undefined as never } }))).toEqual([
      'no_revealable_claims',
      'request_invalid',
    ]);
    const d = policy.evaluate({
      principal: { sub: 'x', roles: ['dp'] },
      action: 'encode_record',
      dataset: { ...DATASET, purposes: ['kyc'] },
      request: { claims: ['identity_verified'], purpose: 'employment_screening' },
    });
    expect(d.allow).toBe(false);
    expect(d.reasons).toEqual([
      'broker_encoding_not_allowed',
      'consent_required',
      'purpose_not_permitted_by_dataset',
      'role_not_permitted',
    ]);
    expect(d.obligations.revealable_claims).toEqual([]);
    expect(policy.evaluate({} as PolicyInput).reasons).toEqual([
      'action_unknown',
      'principal_invalid',
      'purpose_unknown',
      'request_invalid',
    ]);
  });

  it('denied(decision) is a 403 POLICY_DENIED naming the reasons', () => {
    const err = denied(policy.evaluate(input({ principal: { roles: ['dp'] } })));
    expect(err).toBeInstanceOf(PavilionError);
    expect(err).toMatchObject({ code: 'POLICY_DENIED', status: 403 });
    expect(err.message).toContain('role_not_permitted');
    expect(err.message).not.toContain('acme-bank');
  });

  it('a denial says which rule denied and what would be allowed, in the problem errors', () => {
    const unknown = denied(policy.evaluate(input({ request: { purpose: 'marketing' } }))) as PolicyDenied;
    expect(unknown.problemErrors).toEqual([
      {
        path: '$.purpose',
        message: 'purpose_unknown: valid purposes are age_verification, employment_screening, kyc, license_check',
      },
    ]);
    expect(unknown.policy.reasons).toEqual(['purpose_unknown']);
    const claims = denied(
      policy.evaluate(input({ request: { claims: ['name_match', 'ssn'], purpose: 'age_verification' } })),
    ) as PolicyDenied;
    expect(claims.problemErrors[0]).toEqual({
      path: '$.claims',
      message: 'no_revealable_claims: this purpose may reveal over_18, over_21 from this dataset (or ask for none)',
    });
    expect(claims.message).toContain('over_18, over_21');
    const restricted = denied(
      policy.evaluate(input({ dataset: { purposes: ['license_check', 'unheard_of'] } })),
    ) as PolicyDenied;
    expect(restricted.problemErrors[0]!.message).toBe(
      'purpose_not_permitted_by_dataset: this dataset serves license_check',
    );
    const consent = denied(
      policy.evaluate(input({ request: { claims: ['identity_verified'], purpose: 'employment_screening' } })),
    ) as PolicyDenied;
    expect(consent.problemErrors[0]!.path).toBe('$.consent');
  });
});

describe('memo, version, canonical input', () => {
  it('repeats are answered from the memo with the same frozen decision', async () => {
    const p = await loadPolicy(undefined, { memoSize: 100 });
    const a = p.decide(input());
    const b = p.decide(input({ principal: { roles: ['rp'] } })); // Set vs array of the same roles
    expect(b).toBe(a);
    expect(p.memoStats).toEqual({ size: 1, hits: 1, misses: 1 });
    expect(
      Object.isFrozen(a) && Object.isFrozen(a.obligations) && Object.isFrozen(a.obligations.revealable_claims),
    ).toBe(true);
    // Anything that changes the question misses.
    const variants = [
      input({ principal: { sub: 'other' } }),
      input({ principal: { roles: ['dp'] } }),
      input({ action: 'link' }),
      input({ dataset: { id: 'other' } }),
      input({ dataset: { claims: ['over_18'] } }),
      input({ dataset: { allow_broker_encoding: true } }),
      input({ dataset: { purposes: ['kyc'] } }),
      input({ request: { claims: ['over_18'] } }),
      input({ request: { purpose: 'kyc' } }),
      input({ request: { consent: true } }),
    ];
    for (const v of variants) expect(p.decide(v)).toEqual(p.evaluate(v));
    expect(p.memoStats.misses).toBe(1 + variants.length);
    expect(p.memoStats.size).toBe(1 + variants.length);
  });

  it('the memo is bounded and keeps decisions in use', async () => {
    const p = await loadPolicy(undefined, { memoSize: 6 });
    const hot = p.decide(input());
    for (let i = 0; i < 40; i++) {
      p.decide(input({ principal: { sub: `s${i}` } }));
      expect(p.decide(input())).toBe(hot);
      expect(p.memoStats.size).toBeLessThanOrEqual(6);
    }
    expect(p.memoStats.hits).toBe(40);
    const misses = p.memoStats.misses;
    p.decide(input({ principal: { sub: 's0' } })); // idle since the start: evicted
    expect(p.memoStats.misses).toBe(misses + 1);
  });

  it('canonical input ignores undocumented fields and role order', () => {
    const a = canonicalInput(input({ principal: { roles: ['rp', 'dp'] } }));
    const b = canonicalInput({
      ...input({ principal: { roles: new Set(['dp', 'rp']) } }),
      extra: 'ignored',
    } as PolicyInput);
    expect(a).toBe(b);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalInput(input({ request: { consent: cyclic as never } }))).toThrow(
      expect.objectContaining({ code: 'POLICY_ERROR', status: 500 }),
    );
  });

  it('version is the bundle revision and the start of its digest', () => {
    expect(policy.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(policy.revision).toBe('pavilion-2');
    expect(policy.version).toBe(`pavilion-2+${policy.sha256.slice(0, 12)}`);
  });
});

describe('fail closed', () => {
  it('malformed result sets become POLICY_ERROR 500', () => {
    const good = {
      allow: true,
      reasons: [],
      obligations: { revealable_claims: ['a'], min_score: 0.85, cache_ttl_seconds: 300 },
      permitted: { purposes: ['kyc'], claims: ['a'] },
    };
    expect(decisionFromResultSet([{ result: good }])).toEqual(good);
    const bad: unknown[] = [
      undefined,
      [],
      [{ result: good }, { result: good }],
      [{}],
      [{ result: { ...good, allow: 'true' } }],
      [{ result: { ...good, reasons: 'none' } }],
      [{ result: { ...good, reasons: ['x'] } }],
      [{ result: { ...good, allow: false, reasons: [] } }],
      [{ result: { ...good, allow: false, reasons: ['x'] } }], // denied but reveals 'a'
      [{ result: { ...good, obligations: undefined } }],
      [{ result: { ...good, obligations: { ...good.obligations, min_score: 1.5 } } }],
      [{ result: { ...good, obligations: { ...good.obligations, min_score: '0.9' } } }],
      [{ result: { ...good, obligations: { ...good.obligations, cache_ttl_seconds: -1 } } }],
      [{ result: { ...good, obligations: { ...good.obligations, cache_ttl_seconds: 1.5 } } }],
      [{ result: { ...good, obligations: { ...good.obligations, revealable_claims: [1] } } }],
      [{ result: { ...good, permitted: undefined } }],
      [{ result: { ...good, permitted: { purposes: 'kyc', claims: [] } } }],
    ];
    for (const b of bad) {
      expect(() => decisionFromResultSet(b)).toThrow(expect.objectContaining({ code: 'POLICY_ERROR', status: 500 }));
    }
  });

  it('a missing bundle is POLICY_LOAD_FAILED, a file that is no bundle POLICY_BUNDLE_INVALID', async () => {
    await expect(loadPolicy(join(dir, 'nope'))).rejects.toMatchObject({ code: 'POLICY_LOAD_FAILED', status: 500 });
    const junk = join(dir, 'junk.tar.gz');
    await writeFile(junk, 'definitely not a bundle');
    await expect(loadPolicy(junk)).rejects.toMatchObject({ code: 'POLICY_BUNDLE_INVALID', status: 422 });
  });
});
