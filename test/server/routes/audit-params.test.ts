/**
 * The parameters of the audit routes (server/routes/audit.ts, server/http/schemas.ts).
 *
 * Indices and tree sizes have one spelling (indexParam, as checkpoints and receipts write them): "0", or
 * digits without a leading zero. "01", "+1" and " 1" are 422 VALIDATION_FAILED naming the parameter, like
 * "-1"; "01" was answered as 1 (a second URL for one receipt, entry or proof). Tiles have their own strict
 * spelling (zero-padded groups, audit/merkle/tiles.ts): any other is 404 TILE_NOT_FOUND
 * (test/server/access.test.ts).
 *
 * A proof is asked by index or by leaf hash, never both; each impossible question gets its own code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, api, expectProblem, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
let size: number;

beforeAll(async () => {
  t = await startTestBroker();
  for (let i = 0; i < 3; i++) await t.broker.audit.append({ type: 'audit-params-test', i });
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

describe('audit routes: integer parameters in one spelling', () => {
  it('answers the canonical spellings', async () => {
    for (const path of [
      '/v1/audit/receipts/0',
      '/v1/audit/receipts/1',
      '/v1/audit/entries/0',
      '/v1/audit/entries/1',
      `/v1/audit/proofs/inclusion?index=0&size=${size}`,
      `/v1/audit/proofs/inclusion?index=1&size=${size}`,
      `/v1/audit/proofs/consistency?from=1&to=${size}`,
    ]) {
      const r = await get(path);
      expect(r.status, `${path}: ${r.text.slice(0, 200)}`).toBe(200);
    }
  });

  it.each<[string, string]>([
    ['/v1/audit/receipts/01', '$.index'],
    ['/v1/audit/receipts/00', '$.index'],
    ['/v1/audit/receipts/+1', '$.index'],
    ['/v1/audit/receipts/%2B1', '$.index'],
    ['/v1/audit/receipts/%201', '$.index'],
    ['/v1/audit/receipts/1%20', '$.index'],
    ['/v1/audit/entries/01', '$.index'],
    ['/v1/audit/entries/+1', '$.index'],
    ['/v1/audit/entries/%201', '$.index'],
    ['/v1/audit/proofs/inclusion?index=01&size=3', 'query.index'],
    ['/v1/audit/proofs/inclusion?index=0&size=03', 'query.size'],
    ['/v1/audit/proofs/inclusion?index=+1&size=3', 'query.index'],
    ['/v1/audit/proofs/inclusion?index=%2B1&size=3', 'query.index'],
    ['/v1/audit/proofs/inclusion?index=1%20&size=3', 'query.index'],
    ['/v1/audit/proofs/consistency?from=01&to=3', 'query.from'],
    ['/v1/audit/proofs/consistency?from=1&to=003', 'query.to'],
    ['/v1/audit/proofs/consistency?from=%2B1&to=3', 'query.from'],
    ['/v1/audit/proofs/consistency?from=1&to=+3', 'query.to'],
  ])('%s is 422 VALIDATION_FAILED naming %s', async (path, name) => {
    const r = await get(path);
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(validationErrors(r)).toContain(`${name}: must be a non-negative integer`);
  });
});

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

  it('an index past the tree, no size: 404 SIZE_BEYOND_TREE (was 422 PROOF_RANGE_INVALID)', async () => {
    const r = await get(`/v1/audit/proofs/inclusion?index=${size}`);
    expectProblem(r, 404, 'SIZE_BEYOND_TREE');
    expect(r.json.detail).toBe(`index exceeds the committed tree size ${size}`);
  });

  it('an index at or past a size given: 422 PROOF_RANGE_INVALID', async () => {
    expectProblem(
      await get(`/v1/audit/proofs/inclusion?index=${size - 1}&size=${size - 1}`),
      422,
      'PROOF_RANGE_INVALID',
    );
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
