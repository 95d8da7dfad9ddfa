/**
 * The one table of which role may call which route, shared by the role tests with the broker's own
 * tokens (test/server/access.test.ts) and with real Keycloak tokens (test/identity/keycloak.test.ts),
 * and the fixtures the table's paths need: a dataset `ds` with a version, a finished linkage job and a
 * pull, set up by a dp and an rp before any role is tried.
 */
import { expect } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import { api, b64 } from './helpers.js';

export type Role = 'rp' | 'dp' | 'auditor' | 'admin';
export const ROLES: Role[] = ['rp', 'dp', 'auditor', 'admin'];
export const DATASET_CONTENT_TYPE = 'application/vnd.pavilion.dataset';

export interface RouteCase {
  method: string;
  path: () => string;
  allowed: Role[] | 'public';
  body?: () => unknown;
  raw?: () => Uint8Array;
}

export interface RoleFixtures {
  clks: Uint8Array[];
  jobId: string;
  pullId: string;
}

export const datasetBody = () => ({
  schema: loadDemoSchema(),
  claims: ['over_18', 'license_valid'],
  allow_broker_encoding: true,
});

export const versionBody = (clks: Uint8Array[]) =>
  encodeBinaryDataset(
    1024,
    clks.map((clk, i) => ({ ref: `r${i}`, clk })),
    clks.map((_, i) => ({ over_18: i % 2 === 0 })),
  );

/** Fixtures to fill with setUpRoleFixtures; roleRoutes' paths read the ids when a test runs. */
export function roleFixtures(clks: Uint8Array[]): RoleFixtures {
  return { clks, jobId: '', pullId: '' };
}

/** Defines `ds`, uploads a version, runs a linkage job to its end and starts a pull; fills in their ids. */
export async function setUpRoleFixtures(
  url: string,
  tokens: { dp: string; rp: string },
  f: RoleFixtures,
): Promise<void> {
  const { clks } = f;
  const put = await api(url, 'PUT', '/v1/datasets/ds', { token: tokens.dp, body: datasetBody() });
  expect(put.status, put.text).toBe(201);
  const up = await api(url, 'POST', '/v1/datasets/ds/versions', {
    token: tokens.dp,
    raw: versionBody(clks),
    contentType: DATASET_CONTENT_TYPE,
  });
  expect(up.status, up.text).toBe(201);
  const job = await api(url, 'POST', '/v1/linkage-jobs', {
    token: tokens.rp,
    body: { dataset: 'ds', clks: [b64(clks[1]!)], threshold: 0.9, purpose: 'kyc' },
  });
  expect(job.status, job.text).toBe(202);
  f.jobId = job.json.id;
  // Its results route answers only once the job is done.
  for (let i = 0; i < 400; i++) {
    const s = await api(url, 'GET', `/v1/linkage-jobs/${f.jobId}`, { token: tokens.rp });
    if (s.json.status === 'done') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const pull = await api(url, 'POST', '/v1/datasets/ds/pulls', {
    token: tokens.dp,
    body: { object: 'absent.jsonl' },
  });
  expect(pull.status, pull.text).toBe(202);
  f.pullId = pull.json.id;
}

/** A test name for a route case, with `{id}` where an id goes (before the fixtures exist, ids are empty). */
export function routeLabel(c: RouteCase): string {
  return `${c.method} ${c
    .path()
    .replace(/\/[0-9a-f-]{36}/g, '/')
    .replace(/\/(?=\/|\?|$)/g, '/{id}')}`;
}

/** Every route with the roles allowed on it (the rest get 403 FORBIDDEN_ROLE), or `public`. */
export function roleRoutes(f: RoleFixtures): RouteCase[] {
  const everyone = ROLES;
  return [
    { method: 'GET', path: () => '/healthz', allowed: 'public' },
    { method: 'GET', path: () => '/readyz', allowed: 'public' },
    { method: 'GET', path: () => '/metrics', allowed: 'public' },
    { method: 'GET', path: () => '/openapi.json', allowed: 'public' },
    { method: 'GET', path: () => '/.well-known/jwks.json', allowed: 'public' },
    { method: 'PUT', path: () => '/v1/datasets/ds', allowed: ['dp', 'admin'], body: datasetBody },
    { method: 'GET', path: () => '/v1/datasets/ds', allowed: everyone },
    {
      method: 'POST',
      path: () => '/v1/datasets/ds/versions',
      allowed: ['dp', 'admin'],
      raw: () => versionBody(f.clks),
    },
    {
      method: 'PUT',
      path: () => '/v1/datasets/ds/secret',
      allowed: ['dp'],
      body: () => ({ secret: 'correct horse battery staple' }),
    },
    {
      method: 'POST',
      path: () => '/v1/datasets/ds/pulls',
      allowed: ['dp', 'admin'],
      body: () => ({ object: 'absent.jsonl' }),
    },
    { method: 'GET', path: () => `/v1/datasets/ds/pulls/${f.pullId}`, allowed: ['dp', 'admin'] },
    {
      method: 'POST',
      path: () => '/v1/verifications',
      allowed: ['rp'],
      body: () => ({ dataset: 'ds', clk: b64(f.clks[5]!), claims: ['over_18'], purpose: 'age_verification' }),
    },
    {
      method: 'POST',
      path: () => '/v1/linkage-jobs',
      allowed: ['rp'],
      body: () => ({ dataset: 'ds', clks: [b64(f.clks[2]!)], threshold: 0.95, purpose: 'kyc' }),
    },
    { method: 'GET', path: () => `/v1/linkage-jobs/${f.jobId}`, allowed: ['rp', 'admin'] },
    { method: 'GET', path: () => `/v1/linkage-jobs/${f.jobId}/results`, allowed: ['rp', 'admin'] },
    { method: 'GET', path: () => '/v1/audit/checkpoint', allowed: everyone },
    { method: 'GET', path: () => '/v1/audit/key', allowed: everyone },
    { method: 'GET', path: () => '/v1/audit/proofs/inclusion?index=0', allowed: everyone },
    { method: 'GET', path: () => '/v1/audit/proofs/consistency?from=1', allowed: everyone },
    { method: 'GET', path: () => '/v1/audit/receipts/0', allowed: everyone },
    // Entry 0 is the dp's own dataset event: a caller reads the events it caused (docs/audit.md).
    { method: 'GET', path: () => '/v1/audit/entries/0', allowed: ['dp', 'auditor', 'admin'] },
    { method: 'GET', path: () => '/v1/audit/tile/0/000.p/1', allowed: everyone },
    { method: 'GET', path: () => '/v1/audit/tile/entries/000.p/1', allowed: ['auditor', 'admin'] },
    { method: 'GET', path: () => '/v1/parties', allowed: ['auditor', 'admin'] },
  ];
}

/** Sends one route case with `token` (none: anonymous). */
export function callRoute(url: string, c: RouteCase, token?: string) {
  return api(url, c.method, c.path(), {
    ...(token ? { token } : {}),
    ...(c.raw ? { raw: c.raw(), contentType: DATASET_CONTENT_TYPE } : c.body ? { body: c.body() } : {}),
  });
}
