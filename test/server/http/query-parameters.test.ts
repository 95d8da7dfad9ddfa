/**
 * Query parameters (server/http/router.ts): a route accepts only those it declares, each once. A route that
 * declares none refuses any parameter with 422 VALIDATION_FAILED naming it, before its body is read and
 * before anything changes; `?dry_run=true` on activate, rollback or delete did the real thing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { type ApiResponse, api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
const clks = Array.from({ length: 10 }, (_, i) => randomClk(1024, 95_000 + i));

const jsonl = (tag: string) =>
  clks.map((clk, i) => JSON.stringify({ ref: `${tag}${i}`, clk: b64(clk), claims: { over_18: true } })).join('\n');

function upload(query: string): Promise<ApiResponse> {
  return api(t.url, 'POST', `/v1/datasets/dsa/versions${query}`, {
    token: t.tokens.dp,
    raw: jsonl(query),
    contentType: 'application/x-ndjson',
  });
}

/** What a refused request must leave as it was: the versions and their states, and the audit log's size. */
async function state() {
  const versions = await api(t.url, 'GET', '/v1/datasets/dsa/versions', { token: t.tokens.dp });
  expect(versions.status, versions.text).toBe(200);
  return {
    active: versions.json.active_version,
    versions: versions.json.versions.map((v: { version: number; status: string }) => `${v.version} ${v.status}`),
    audit: await t.broker.audit.size(),
  };
}

/** The `errors` of a VALIDATION_FAILED problem, as one line ('' for any other answer). */
const validationErrors = (r: ApiResponse): string =>
  r.json?.code === 'VALIDATION_FAILED'
    ? r.json.errors.map((e: { path: string; message: string }) => `${e.path}: ${e.message}`).join('; ')
    : '';

/** A 422 VALIDATION_FAILED that names the parameter. */
function expectRefused(r: ApiResponse, name: string): void {
  expectProblem(r, 422, 'VALIDATION_FAILED');
  expect(validationErrors(r)).toContain(name);
}

beforeAll(async () => {
  t = await startTestBroker();
  const put = await api(t.url, 'PUT', '/v1/datasets/dsa', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: { over_18: 'boolean' } },
  });
  expect(put.status, put.text).toBe(201);
  expect((await upload('')).status).toBe(201);
  expect((await upload('?activate=false')).json).toMatchObject({ version: 2, status: 'staged' });
});

afterAll(async () => {
  await t?.broker.close();
});

describe('a route that declares no query refuses any parameter', () => {
  it('POST …/versions/2/activate?dry_run=true is refused and activates nothing', async () => {
    const before = await state();
    expect(before).toMatchObject({ active: 1, versions: expect.arrayContaining(['1 active', '2 staged']) });
    const r = await api(t.url, 'POST', '/v1/datasets/dsa/versions/2/activate?dry_run=true', { token: t.tokens.dp });
    expectRefused(r, 'dry_run');
    expect(await state()).toEqual(before);
    // Without the parameter it activates.
    const real = await api(t.url, 'POST', '/v1/datasets/dsa/versions/2/activate', { token: t.tokens.dp });
    expect(real.json, real.text).toMatchObject({ version: 2, previous_version: 1, changed: true });
  });

  it('POST …/rollback?dry_run=true is refused and rolls nothing back', async () => {
    const before = await state();
    expect(before.active).toBe(2);
    expectRefused(
      await api(t.url, 'POST', '/v1/datasets/dsa/rollback?dry_run=true', { token: t.tokens.dp }),
      'dry_run',
    );
    expect(await state()).toEqual(before);
  });

  it('DELETE /v1/datasets/dsa?dry_run=true is refused and deletes nothing', async () => {
    const before = await state();
    expectRefused(await api(t.url, 'DELETE', '/v1/datasets/dsa?dry_run=true', { token: t.tokens.dp }), 'dry_run');
    expect(await state()).toEqual(before);
    const verified = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'dsa', clk: b64(clks[4]!), claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(verified.json, verified.text).toMatchObject({ decision: 'match', dataset_version: 2 });
  });

  it('a parameter, or one given twice, on a public route: GET /healthz', async () => {
    expectRefused(await api(t.url, 'GET', '/healthz?x=1&x=2'), 'given more than once');
    expectRefused(await api(t.url, 'GET', '/healthz?x=1'), '"x"');
    expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
    expect((await api(t.url, 'GET', '/healthz?')).status).toBe(200);
  });

  it("names the query in its errors' paths, not the body's root `$`; `__proto__` is a parameter too", async () => {
    // A user trial was told `$: unknown field(s) "x"` about a query string, with a valid JSON body.
    expect(validationErrors(await api(t.url, 'GET', '/healthz?x=1'))).toBe('query: unknown field(s) "x"');
    expect(validationErrors(await upload('?dry_run=true&dry_run=false'))).toBe('query.dry_run: given more than once');
    const proof = await api(t.url, 'GET', '/v1/audit/proofs/consistency?from=x', { token: t.tokens.auditor });
    expect(validationErrors(proof)).toMatch(/^query\.from: /);
    // Assigned to a plain object, `__proto__` vanished without a word.
    expectRefused(await api(t.url, 'GET', '/healthz?__proto__=1'), 'query.__proto__: field name not allowed');
    expectRefused(await upload('?__proto__=x&dry_run=true'), 'query.__proto__');
  });

  it('a required parameter left out is said to be required, as a required body field is', async () => {
    // Was `query.from: expected string`, about a value never sent.
    const proof = await api(t.url, 'GET', '/v1/audit/proofs/consistency', { token: t.tokens.auditor });
    expectProblem(proof, 422, 'VALIDATION_FAILED');
    expect(validationErrors(proof)).toBe('query.from: required');
    const body = { dataset: 'dsa', clk: b64(clks[4]!), claims: ['over_18'] };
    const verified = await api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, body });
    expect(validationErrors(verified)).toBe('$.purpose: required');
    // A value of the wrong type is still named by the type expected.
    const wrong = await api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, body: { ...body, purpose: 1 } });
    expect(validationErrors(wrong)).toBe('$.purpose: expected string');
  });

  it('POST /v1/verifications?x=1 is refused before its body is read, and nothing is audited', async () => {
    const before = await t.broker.audit.size();
    const body = { dataset: 'dsa', clk: b64(clks[4]!), claims: ['over_18'], purpose: 'age_verification' };
    expectRefused(await api(t.url, 'POST', '/v1/verifications?x=1', { token: t.tokens.rp, body }), '"x"');
    // A body that is not JSON would be 400 BODY_INVALID_JSON: the query is refused first.
    const raw = await api(t.url, 'POST', '/v1/verifications?x=1', { token: t.tokens.rp, raw: '{not json' });
    expectRefused(raw, '"x"');
    expect(await t.broker.audit.size()).toBe(before);
  });

  it('declared parameters still work, and unknown or repeated ones next to them are refused', async () => {
    const dry = await upload('?dry_run=true');
    expect(dry.json, dry.text).toMatchObject({ status: 'dry_run', version: null });
    expectRefused(await upload('?dryrun=true'), '"dryrun"');
    expectRefused(await upload('?dry_run=true&dry_run=false'), 'given more than once');
    const proof = await api(t.url, 'GET', '/v1/audit/proofs/consistency?from=1', { token: t.tokens.auditor });
    expect(proof.status, proof.text).toBe(200);
    expectRefused(
      await api(t.url, 'GET', '/v1/audit/proofs/consistency?from=1&x=1', { token: t.tokens.auditor }),
      '"x"',
    );
  });

  it('every operation of /openapi.json refuses a parameter it does not list, whoever asks', async () => {
    const doc = (await api(t.url, 'GET', '/openapi.json')).json;
    const uuid = '00000000-0000-4000-8000-000000000000';
    const values: Record<string, string> = { id: 'dsa', version: '1', pull: uuid, index: '0', path: '0/000' };
    const tokens = [undefined, t.tokens.rp, t.tokens.dp, t.tokens.auditor, t.tokens.admin];
    let operations = 0;
    for (const [template, item] of Object.entries<Record<string, { parameters?: { name: string }[] }>>(doc.paths)) {
      for (const method of ['get', 'put', 'post', 'delete']) {
        const op = item[method];
        if (!op) continue;
        operations++;
        expect(op.parameters?.map((p) => p.name) ?? []).not.toContain('probe');
        const path = template
          .replace('/v1/linkage-jobs/{id}', `/v1/linkage-jobs/${uuid}`)
          .replace(/\{(\w+)\}/g, (_, name: string) => values[name]!);
        const answers = await Promise.all(
          tokens.map((token) => api(t.url, method.toUpperCase(), `${path}?probe=1`, { token })),
        );
        const shown = `${method} ${path}: ${answers.map((a) => `${a.status} ${a.json?.code}`).join(', ')}`;
        // No caller gets past the router with it; whoever may call the route is told which parameter is wrong.
        expect(
          answers.every((a) => a.status >= 400),
          shown,
        ).toBe(true);
        expect(
          answers.some((a) => validationErrors(a).includes('unknown field(s) "probe"')),
          shown,
        ).toBe(true);
      }
    }
    expect(operations).toBeGreaterThan(30);
    expect((await state()).active).toBe(2);
  });
});
