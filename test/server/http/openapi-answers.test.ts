/**
 * Real answers validate against the schemas of the broker's own /openapi.json: a linkage job without blocking
 * (`"blocking": null`) and a dataset's versions with a failed one (`"summary": null`) were refused by any
 * validating client, because the document's nullable enum and nullable reference did not admit null
 * (server/http/schemas.ts, nullableEnum and nullableRef). Schemathesis checks every answer in CI; this runs
 * without it, with ajv's JSON Schema 2020-12 validator (the dialect of OpenAPI 3.1).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
let doc: { paths: Record<string, Record<string, { responses: Record<string, any> }>> };
const clks = Array.from({ length: 20 }, (_, i) => randomClk(1024, 94_000 + i));

/**
 * The errors of `body` against the JSON schema `method path` documents for `status`. The document is added
 * whole, so the answer's schema and its `#/components/schemas/…` references are read where they stand;
 * `example` and `format` are OpenAPI annotations here, not checks.
 */
function errorsAgainst(method: string, path: string, status: number, body: unknown): string[] {
  const schema = doc.paths[path]?.[method]?.responses[status]?.content?.['application/json']?.schema;
  expect(schema, `${method} ${path} ${status} is documented`).toBeDefined();
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true, validateSchema: false });
  ajv.addSchema(doc, 'openapi.json');
  const pointer = ['paths', path, method, 'responses', String(status), 'content', 'application/json', 'schema']
    .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1'))
    .join('/');
  const validate = ajv.getSchema(`openapi.json#/${pointer}`)!;
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '$'}: ${e.message}`);
}

beforeAll(async () => {
  t = await startTestBroker();
  doc = (await api(t.url, 'GET', '/openapi.json')).json;
  const put = await api(t.url, 'PUT', '/v1/datasets/answers', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  expect(put.status, put.text).toBe(201);
  const rows = clks.map((clk, i) => JSON.stringify({ ref: `a${i}`, clk: b64(clk), claims: { over_18: true } }));
  const up = await api(t.url, 'POST', '/v1/datasets/answers/versions', {
    token: t.tokens.dp,
    raw: rows.join('\n'),
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
});

afterAll(async () => {
  await t?.broker.close();
});

describe('answers against /openapi.json', () => {
  it('a linkage job without blocking (blocking: null), as submitted and as read back', async () => {
    const job = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: { dataset: 'answers', clks: [b64(clks[3]!)], threshold: 0.9, purpose: 'kyc' },
    });
    expect(job.status, job.text).toBe(202);
    expect(job.json.blocking).toBeNull();
    expect(errorsAgainst('post', '/v1/linkage-jobs', 202, job.json)).toEqual([]);
    const read = await api(t.url, 'GET', `/v1/linkage-jobs/${job.json.id}`, { token: t.tokens.rp });
    expect(read.status, read.text).toBe(200);
    expect(errorsAgainst('get', '/v1/linkage-jobs/{id}', 200, read.json)).toEqual([]);
    // The schema still refuses what is not a blocking kind.
    expect(errorsAgainst('get', '/v1/linkage-jobs/{id}', 200, { ...read.json, blocking: 'lsh' })).not.toEqual([]);
  });

  it('versions with a failed one (summary: null) beside an active one', async () => {
    // A CLK one byte short fails the upload after its version was begun: the version is listed as failed.
    const bad = JSON.stringify({ ref: 'short', clk: b64(clks[0]!.subarray(1)), claims: {} });
    const up = await api(t.url, 'POST', '/v1/datasets/answers/versions', {
      token: t.tokens.dp,
      raw: bad,
      contentType: 'application/x-ndjson',
    });
    expect(up.status, up.text).toBe(422);
    const versions = await api(t.url, 'GET', '/v1/datasets/answers/versions', { token: t.tokens.dp });
    expect(versions.status, versions.text).toBe(200);
    const byStatus = Object.fromEntries(versions.json.versions.map((v: { status: string }) => [v.status, v]));
    expect(byStatus.failed).toMatchObject({ summary: null, error_code: 'CLK_LENGTH_MISMATCH' });
    expect(byStatus.active.summary).toMatchObject({ rows: 20 });
    expect(errorsAgainst('get', '/v1/datasets/{id}/versions', 200, versions.json)).toEqual([]);
    const bent = { ...versions.json, versions: [{ ...byStatus.failed, summary: 'none' }] };
    expect(errorsAgainst('get', '/v1/datasets/{id}/versions', 200, bent)).not.toEqual([]);
  });
});
