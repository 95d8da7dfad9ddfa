/**
 * End to end over real HTTP: a DP defines a dataset and uploads a version,
 * an RP verifies, answers carry receipts whose inclusion proofs check out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalEvent, leafHash, verifyInclusion } from '../../../audit/index.js';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, expectProblem, perturb, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
const N = 2000;
const clks = Array.from({ length: N }, (_, i) => randomClk(1024, i + 1));
// Two near-identical records (indices 10 and 11) make an ambiguous pair.
clks[11] = perturb(clks[10]!, 3, 5);
const claimsOf = (i: number) => ({ over_18: i % 2 === 0, over_21: i % 3 === 0, license_valid: true });

beforeAll(async () => {
  t = await startTestBroker();
  const schema = loadDemoSchema();
  const put = await api(t.url, 'PUT', '/v1/datasets/people', {
    token: t.tokens.dp,
    body: { schema, claims: ['over_18', 'over_21', 'license_valid'] },
  });
  expect(put.status, put.text).toBe(201);
  const jsonl = clks.map((c, i) => `${JSON.stringify({ ref: `r${i}`, clk: b64(c), claims: claimsOf(i) })}\n`).join('');
  const up = await api(t.url, 'POST', '/v1/datasets/people/versions', {
    token: t.tokens.dp,
    raw: jsonl,
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
  expect(up.json).toMatchObject({ dataset: 'people', version: 1, rows: N, filter_bits: 1024 });
});

afterAll(async () => {
  await t?.broker.close();
});

const verify = (clk: Uint8Array, claims = ['over_18', 'over_21'], token = t.tokens.rp) =>
  api(t.url, 'POST', '/v1/verifications', {
    token,
    body: { dataset: 'people', clk: b64(clk), claims, purpose: 'age_verification' },
  });

describe('verification flow', () => {
  it('GET dataset returns schema, active version and rows', async () => {
    const r = await api(t.url, 'GET', '/v1/datasets/people', { token: t.tokens.rp });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      id: 'people',
      active_version: 1,
      rows: N,
      filter_bits: 1024,
      claims: ['over_18', 'over_21', 'license_valid'],
    });
    expect(r.json.schema.clkConfig.l).toBe(1024);
  });

  it('matches a slightly different encoding and releases only policy-allowed, requested claims', async () => {
    const r = await verify(perturb(clks[44]!, 20), ['over_18', 'over_21', 'license_valid']);
    expect(r.status, r.text).toBe(200);
    expect(r.json.decision).toBe('match');
    expect(r.json.score).toBeGreaterThan(0.85);
    // age_verification may reveal over_18/over_21, never license_valid.
    expect(r.json.claims).toEqual({ over_18: true, over_21: false });
    expect(r.json.dataset_version).toBe(1);
    expect(r.json.cached).toBe(false);
    expect(r.json.receipt).toMatchObject({
      origin: expect.any(String),
      index: expect.any(Number),
      leaf_hash: expect.any(String),
    });
  });

  it('answers no_match with score 0 for an unknown person', async () => {
    const r = await verify(randomClk(1024, 999_999));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ decision: 'no_match', score: 0, claims: {} });
  });

  it('answers ambiguous when two records are within the margin', async () => {
    const r = await verify(clks[10]!);
    expect(r.json.decision).toBe('ambiguous');
    expect(r.json.claims).toEqual({});
  });

  it('serves the second identical question from the cache, with a fresh audit entry', async () => {
    const q = perturb(clks[7]!, 10);
    const a = await verify(q);
    const b = await verify(q);
    expect(a.json.cached).toBe(false);
    expect(b.json.cached).toBe(true);
    expect(b.json.decision).toBe(a.json.decision);
    expect(b.json.receipt.index).toBeGreaterThan(a.json.receipt.index);
    expect(b.json.id).not.toBe(a.json.id);
  });

  it("never serves one relying party's question from another's cached answer", async () => {
    // A hit would tell the second party (by `cached` and by speed) that the first had just verified this person.
    const q = perturb(clks[8]!, 10);
    const first = await verify(q);
    const other = await verify(q, undefined, t.tokens.rp2);
    const again = await verify(q, undefined, t.tokens.rp2);
    expect([first.json.cached, other.json.cached, again.json.cached]).toEqual([false, false, true]);
    expect(other.json.decision).toBe(first.json.decision);
  });

  it('receipts are inclusion-provable against the log', async () => {
    const r = await verify(perturb(clks[3]!, 5));
    const { index, leaf_hash } = r.json.receipt;
    const entry = await api(t.url, 'GET', `/v1/audit/entries/${index}`, { token: t.tokens.auditor });
    expect(entry.status).toBe(200);
    expect(entry.json.event).toMatchObject({
      type: 'verification',
      request_id: r.json.id,
      decision: 'match',
      dataset: 'people',
      dataset_version: '1',
      relying_party: 'acme-bank',
    });
    expect(Buffer.from(leafHash(Buffer.from(canonicalEvent(entry.json.event)))).toString('base64')).toBe(leaf_hash);
    const proof = await api(t.url, 'GET', `/v1/audit/proofs/inclusion?index=${index}`, { token: t.tokens.rp });
    expect(proof.status).toBe(200);
    const root = await t.broker.audit.root(proof.json.size);
    expect(() =>
      verifyInclusion(
        index,
        proof.json.size,
        Buffer.from(leaf_hash, 'base64'),
        proof.json.hashes.map((p: string) => Buffer.from(p, 'base64')),
        root,
      ),
    ).not.toThrow();
    expect(proof.json.leaf_hash).toBe(leaf_hash);
    const byHash = await api(
      t.url,
      'GET',
      `/v1/audit/proofs/inclusion?leaf_hash=${encodeURIComponent(leaf_hash)}&size=${proof.json.size}`,
      { token: t.tokens.rp },
    );
    expect(byHash.json).toEqual(proof.json);
    // A different leaf does not verify.
    expect(() =>
      verifyInclusion(
        index,
        proof.json.size,
        new Uint8Array(32),
        proof.json.hashes.map((p: string) => Buffer.from(p, 'base64')),
        root,
      ),
    ).toThrow();
  });

  it('an RP sees 404 DATASET_NOT_FOUND for an unknown dataset', async () => {
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'nope', clk: b64(clks[0]!), claims: ['over_18'], purpose: 'age_verification' },
    });
    expectProblem(r, 404, 'DATASET_NOT_FOUND');
  });

  it('wrong CLK length is 422 CLK_LENGTH_MISMATCH', async () => {
    const r = await verify(randomClk(512, 3));
    expectProblem(r, 422, 'CLK_LENGTH_MISMATCH');
  });

  it('policy denial: a purpose the policy does not know', async () => {
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'people', clk: b64(clks[0]!), claims: ['over_18'], purpose: 'marketing' },
    });
    expectProblem(r, 403, 'POLICY_DENIED');
  });
});
