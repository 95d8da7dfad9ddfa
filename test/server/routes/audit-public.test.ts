/**
 * AUDIT_PUBLIC=true: a witness or public monitor reads checkpoints, proofs,
 * receipts and hash tiles without a token; the events themselves still need
 * an auditor or admin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, expectProblem, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker({ AUDIT_PUBLIC: 'true' });
  // A few entries and a checkpoint covering them.
  for (let i = 0; i < 3; i++) await t.broker.audit.append({ type: 'public-test', i });
  await t.broker.audit.checkpoint();
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('a public audit log', () => {
  it('serves hashes and signed checkpoints to anyone', async () => {
    const size = await t.broker.audit.size();
    for (const path of [
      '/v1/audit/checkpoint',
      '/v1/audit/key',
      `/v1/audit/proofs/inclusion?index=0&size=${size}`,
      `/v1/audit/proofs/consistency?from=1&to=${size}`,
      '/v1/audit/receipts/0',
      `/v1/audit/tile/0/000.p/${size}`,
    ]) {
      const r = await api(t.url, 'GET', path);
      expect(r.status, `${path}: ${r.text.slice(0, 200)}`).toBe(200);
    }
    const tile = await api(t.url, 'GET', `/v1/audit/tile/0/000.p/${size}`);
    expect(tile.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it('still keeps the events for auditors and admins', async () => {
    expectProblem(await api(t.url, 'GET', '/v1/audit/entries/0'), 401, 'AUTH_MISSING');
    expectProblem(await api(t.url, 'GET', '/v1/audit/tile/entries/000.p/1'), 401, 'AUTH_MISSING');
    expectProblem(await api(t.url, 'GET', '/v1/audit/tile/entries/000.p/1', { token: t.tokens.rp }), 403);
    const bundle = await api(t.url, 'GET', '/v1/audit/tile/entries/000.p/1', { token: t.tokens.auditor });
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
  });
});
