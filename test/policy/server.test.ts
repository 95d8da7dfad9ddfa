/**
 * The policy bundle in a running broker (real HTTP, real wasm, the broker's
 * own database): GET /v1/policy, a purpose added to the bundle's data served
 * after a reload without a restart (by POST /v1/policy/reload and by
 * polling), denials that say what would be allowed, match-only questions,
 * dataset definitions checked against the policy, and the bundle version in
 * every audit event.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { api, b64, expectProblem, perturb, randomClk, startTestBroker, type TestBroker } from '../server/helpers.js';
import { otherPurposes, writeBundle } from './bundle-fixture.js';
import { PURPOSE_TABLE } from './reference-policy.js';

let t: TestBroker;
let bundleDir: string;
const N = 300;
const clks = Array.from({ length: N }, (_, i) => randomClk(1024, i + 1));

beforeAll(async () => {
  bundleDir = writeBundle();
  // Polling off: these tests reload explicitly, except the one that turns to polling's own broker.
  t = await startTestBroker({ POLICY_BUNDLE: bundleDir, POLICY_RELOAD_MS: '0' });
  const put = await api(t.url, 'PUT', '/v1/datasets/people', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18', 'over_21', 'name_match', 'license_valid'] },
  });
  expect(put.status, put.text).toBe(201);
  const jsonl = clks.map((c, i) =>
    JSON.stringify({ ref: `r${i}`, clk: b64(c), claims: { over_18: true, over_21: i % 2 === 0, name_match: true } }),
  );
  const up = await api(t.url, 'POST', '/v1/datasets/people/versions', {
    token: t.tokens.dp,
    raw: `${jsonl.join('\n')}\n`,
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
});

afterAll(async () => {
  await t?.broker.close();
  rmSync(bundleDir, { recursive: true, force: true });
});

const verify = (body: Record<string, unknown>, token = t.tokens.rp) =>
  api(t.url, 'POST', '/v1/verifications', {
    token,
    body: { dataset: 'people', clk: b64(perturb(clks[7]!, 10)), claims: ['over_18'], ...body },
  });

async function auditEvents(): Promise<Record<string, unknown>[]> {
  // The log's size, not the latest checkpoint's (which may lag by AUDIT_CHECKPOINT_MS).
  const size = await t.broker.audit.size();
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < Number(size); i++)
    out.push((await api(t.url, 'GET', `/v1/audit/entries/${i}`, { token: t.tokens.auditor })).json.event);
  return out;
}

describe('GET /v1/policy', () => {
  it('lists purposes, their claims, minimum scores and consent, to any role and no one else', async () => {
    for (const role of ['rp', 'dp', 'auditor', 'admin'] as const) {
      const r = await api(t.url, 'GET', '/v1/policy', { token: t.tokens[role] });
      expect(r.status, r.text).toBe(200);
      expect(Object.keys(r.json.purposes).sort()).toEqual(Object.keys(PURPOSE_TABLE).sort());
      expect(r.json.purposes.kyc).toMatchObject({ min_score: 0.9, consent_required: false });
      expect(r.json.purposes.employment_screening.consent_required).toBe(true);
      expect(r.json.version).toMatch(/^pavilion-2\+[0-9a-f]{12}$/);
      expect(r.json.reasons.no_revealable_claims).toEqual(expect.any(String));
    }
    expectProblem(await api(t.url, 'GET', '/v1/policy'), 401);
  });
});

describe('requests the policy refuses say what would be allowed', () => {
  it('an unknown purpose lists the valid ones', async () => {
    const r = await verify({ purpose: 'marketing' });
    expectProblem(r, 403, 'POLICY_DENIED');
    expect(r.json.errors).toEqual([
      {
        path: '$.purpose',
        message: 'purpose_unknown: valid purposes are age_verification, employment_screening, kyc, license_check',
      },
    ]);
    expect(r.json.detail).toContain('purpose_unknown');
  });

  it('claims the purpose may not reveal name the ones it may; asking for none is a match-only question', async () => {
    const denied = await verify({ purpose: 'age_verification', claims: ['name_match', 'license_valid'] });
    expectProblem(denied, 403, 'POLICY_DENIED');
    expect(denied.json.errors[0]).toEqual({
      path: '$.claims',
      message: 'no_revealable_claims: this purpose may reveal over_18, over_21 from this dataset (or ask for none)',
    });
    // The OpenAPI default claims: [] is allowed: a match, nothing released.
    const matchOnly = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'people', clk: b64(perturb(clks[7]!, 10)), purpose: 'age_verification' },
    });
    expect(matchOnly.status, matchOnly.text).toBe(200);
    expect(matchOnly.json).toMatchObject({ decision: 'match', claims: {} });
  });

  it('consent: the missing field is named', async () => {
    const r = await verify({ purpose: 'employment_screening', claims: ['license_valid'] });
    expectProblem(r, 403, 'POLICY_DENIED');
    expect(r.json.errors[0].path).toBe('$.consent');
    expect((await verify({ purpose: 'employment_screening', claims: ['license_valid'], consent: true })).status).toBe(
      200,
    );
  });
});

describe('dataset definitions are checked against the policy', () => {
  it('purposes it does not know and claims no purpose may reveal are 422 with their names', async () => {
    const r = await api(t.url, 'PUT', '/v1/datasets/odd', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18', 'ssn'], purposes: ['kyc', 'marketing'] },
    });
    expectProblem(r, 422, 'DATASET_POLICY_MISMATCH');
    expect(r.json.errors).toEqual([
      { path: '$.purposes', message: expect.stringContaining('unknown to the policy: marketing') },
      { path: '$.claims', message: expect.stringContaining('may reveal: ssn') },
    ]);
    expectProblem(await api(t.url, 'GET', '/v1/datasets/odd', { token: t.tokens.dp }), 404, 'DATASET_NOT_FOUND');
    const ok = await api(t.url, 'PUT', '/v1/datasets/odd', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'], purposes: ['kyc'] },
    });
    expect(ok.status, ok.text).toBe(201);
  });
});

describe('replacing the bundle', () => {
  it('a purpose added to the data is served after POST /v1/policy/reload, without a restart', async () => {
    const before = (await api(t.url, 'GET', '/v1/policy', { token: t.tokens.rp })).json.version;
    expectProblem(await verify({ purpose: 'fraud_check', claims: ['name_match'] }), 403, 'POLICY_DENIED');
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/fraud', {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['name_match'], purposes: ['fraud_check'] },
      }),
      422,
      'DATASET_POLICY_MISMATCH',
    );

    writeFileSync(join(bundleDir, 'data.json'), JSON.stringify({ pavilion: { purposes: otherPurposes() } }));
    expectProblem(await api(t.url, 'POST', '/v1/policy/reload', { token: t.tokens.rp }), 403, 'FORBIDDEN_ROLE');
    const reload = await api(t.url, 'POST', '/v1/policy/reload', { token: t.tokens.admin });
    expect(reload.status, reload.text).toBe(200);
    expect(reload.json).toMatchObject({ changed: true, previous: before });
    expect(reload.json.version).not.toBe(before);
    expect(reload.json.policy.purposes.fraud_check.min_score).toBe(0.95);

    const served = await api(t.url, 'GET', '/v1/policy', { token: t.tokens.rp });
    expect(served.json.purposes.fraud_check).toMatchObject({ claims: expect.arrayContaining(['name_match']) });
    const r = await verify({ purpose: 'fraud_check', claims: ['name_match', 'over_18'] });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ decision: 'match', claims: { name_match: true } });
    const fraud = await api(t.url, 'PUT', '/v1/datasets/fraud', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['name_match'], purposes: ['fraud_check'] },
    });
    expect(fraud.status, fraud.text).toBe(201);

    // The version in force is in every audit event: verifications name the bundle that decided.
    const events = await auditEvents();
    const last = events.filter((e) => e.type === 'verification').at(-1)!;
    expect(last.policy_decision_id).toBe(reload.json.version);
    expect(last.purpose).toBe('fraud_check');
    const defined = events.filter((e) => e.type === 'dataset_defined');
    expect(defined.at(-1)).toMatchObject({ dataset: 'fraud', policy_version: reload.json.version });
    expect(defined[0]).toMatchObject({ dataset: 'people', policy_version: before });
    for (const e of events)
      expect(e.policy_decision_id ?? e.policy_version, JSON.stringify(e)).toEqual(expect.any(String));

    // A broken bundle is refused with its reason and the running one stays.
    writeFileSync(join(bundleDir, 'data.json'), '{"pavilion": {"purposes": {"kyc": {"claims": []}}}}');
    const bad = await api(t.url, 'POST', '/v1/policy/reload', { token: t.tokens.admin });
    expectProblem(bad, 422, 'POLICY_BUNDLE_INVALID');
    expect(bad.json.detail).toContain('data.json .pavilion.purposes.kyc');
    expect((await api(t.url, 'GET', '/v1/policy', { token: t.tokens.rp })).json.version).toBe(reload.json.version);
  });

  it('with POLICY_RELOAD_MS the broker picks up a replaced bundle by itself', async () => {
    const dir = writeBundle();
    const polled = await startTestBroker({ POLICY_BUNDLE: dir, POLICY_RELOAD_MS: '50' });
    try {
      const get = () => api(polled.url, 'GET', '/v1/policy', { token: polled.tokens.rp });
      expect((await get()).json.purposes.fraud_check).toBeUndefined();
      writeFileSync(join(dir, 'data.json'), JSON.stringify({ pavilion: { purposes: otherPurposes() } }));
      let seen: unknown;
      for (let i = 0; i < 200 && !seen; i++) {
        await new Promise((r) => setTimeout(r, 25));
        seen = (await get()).json.purposes.fraud_check;
      }
      expect(seen).toMatchObject({ min_score: 0.95 });
      expect(polled.logs.some((l) => l.includes('policy bundle reloaded'))).toBe(true);
    } finally {
      await polled.broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bundle that cannot load stops the broker from starting, with the code', async () => {
    const dir = writeBundle({ data: '{}' });
    await expect(startTestBroker({ POLICY_BUNDLE: dir })).rejects.toMatchObject({ code: 'POLICY_BUNDLE_INVALID' });
    rmSync(dir, { recursive: true, force: true });
  });
});
