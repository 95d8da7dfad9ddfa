/**
 * Indices and tree sizes have one spelling (server/http/schemas.ts, indexParam,
 * as checkpoints and receipts write them): "0", or digits without a leading
 * zero. "01", "+1" and " 1" are 422 VALIDATION_FAILED naming the parameter,
 * like "-1"; "01" was answered as 1 (a second URL for one receipt, entry or proof). Tiles
 * have their own strict spelling (zero-padded groups, audit/merkle/tiles.ts):
 * any other is 404 TILE_NOT_FOUND (test/server/access.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, api, expectProblem, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
let size: number;

beforeAll(async () => {
  t = await startTestBroker();
  for (let i = 0; i < 3; i++) await t.broker.audit.append({ type: 'integer-params-test', i });
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
