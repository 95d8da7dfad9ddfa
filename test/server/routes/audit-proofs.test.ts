/**
 * The query of the proof routes (server/routes/audit.ts, InclusionQuery and ConsistencyQuery in
 * server/http/schemas.ts): what a proof is asked by, and the code each impossible question gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, api, expectProblem, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
let size: number;

beforeAll(async () => {
  t = await startTestBroker();
  for (let i = 0; i < 3; i++) await t.broker.audit.append({ type: 'proof-query-test', i });
  await t.broker.audit.checkpoint();
  size = await t.broker.audit.size();
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

const get = (path: string) => api(t.url, 'GET', path, { token: t.tokens.auditor });

/** The `errors` of a VALIDATION_FAILED problem, as one line. */
const validationErrors = (r: ApiResponse): string =>
  (r.json?.errors ?? []).map((e: { path: string; message: string }) => `${e.path}: ${e.message}`).join('; ');

describe('inclusion proofs: by index or by leaf hash', () => {
  it('index and leaf_hash each ask for their leaf', async () => {
    const byIndex = await get(`/v1/audit/proofs/inclusion?index=1&size=${size}`);
    expect(byIndex.status, byIndex.text).toBe(200);
    const leafHash = encodeURIComponent(byIndex.json.leaf_hash);
    const byHash = await get(`/v1/audit/proofs/inclusion?leaf_hash=${leafHash}&size=${size}`);
    expect(byHash.json).toEqual(byIndex.json);
  });

  it('both given is 422 VALIDATION_FAILED, not the proof of the leaf the hash names', async () => {
    // The probe's case: index 1 with the leaf hash of entry 0 was answered with entry 0's proof.
    const other = (await get(`/v1/audit/proofs/inclusion?index=0&size=${size}`)).json.leaf_hash as string;
    const r = await get(`/v1/audit/proofs/inclusion?index=1&leaf_hash=${encodeURIComponent(other)}`);
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(validationErrors(r)).toBe('query.leaf_hash: give index or leaf_hash, not both');
  });

  it('neither given is 422 VALIDATION_FAILED naming both', async () => {
    const r = await get(`/v1/audit/proofs/inclusion?size=${size}`);
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(validationErrors(r)).toBe('query.index: one of index or leaf_hash is required');
  });
});

describe('consistency proofs: a size the log has not reached is SIZE_BEYOND_TREE, with or without `to`', () => {
  it('from past the tree, no to: 404 SIZE_BEYOND_TREE (was 422 PROOF_RANGE_INVALID)', async () => {
    expectProblem(await get(`/v1/audit/proofs/consistency?from=${size + 1}`), 404, 'SIZE_BEYOND_TREE');
  });

  it('to past the tree: 404 SIZE_BEYOND_TREE', async () => {
    expectProblem(await get(`/v1/audit/proofs/consistency?from=${size}&to=${size + 1}`), 404, 'SIZE_BEYOND_TREE');
  });

  it('from after to, both within the tree: 422 PROOF_RANGE_INVALID', async () => {
    expectProblem(await get(`/v1/audit/proofs/consistency?from=${size}&to=${size - 1}`), 422, 'PROOF_RANGE_INVALID');
  });

  it('from the tree size, no to: the proof up to the tree', async () => {
    const r = await get(`/v1/audit/proofs/consistency?from=${size}`);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ from: size, to: size, hashes: [] });
  });
});
