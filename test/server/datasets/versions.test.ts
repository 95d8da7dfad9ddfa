/**
 * The data provider's version lifecycle (docs/data-providers.md): an upload staged, checked and
 * activated explicitly; a rollback to the version it replaced, whose rows the database kept; a dry
 * run that stores nothing; claim values checked against their declared types; a schema that cannot
 * change under live versions; every activation and rollback in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretFingerprint } from '../../../common/secret-fingerprint.js';
import { loadDemoSchema } from '../../../demo/people.js';
import { encodeBinaryDataset } from '../../../server/datasets/upload.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
const big = Array.from({ length: 5_000 }, (_, i) => randomClk(1024, 500_000 + i));
const small = Array.from({ length: 10 }, (_, i) => randomClk(1024, 600_000 + i));

function jsonl(rows: { ref: string; clk: Uint8Array; claims?: Record<string, unknown> }[]): string {
  return rows
    .map((r) => `${JSON.stringify({ ref: r.ref, clk: b64(r.clk), ...(r.claims ? { claims: r.claims } : {}) })}\n`)
    .join('');
}

async function define(id: string, claims: unknown, schema: unknown = loadDemoSchema()) {
  return api(t.url, 'PUT', `/v1/datasets/${id}`, { token: t.tokens.dp, body: { schema, claims } });
}

function upload(id: string, body: string, query = '') {
  return api(t.url, 'POST', `/v1/datasets/${id}/versions${query}`, {
    token: t.tokens.dp,
    raw: body,
    contentType: 'application/x-ndjson',
  });
}

const verify = (id: string, clk: Uint8Array) =>
  api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: id, clk: b64(clk), claims: ['over_18'], purpose: 'age_verification' },
  });

/** The last `n` audit events, oldest first. */
async function lastEvents(n: number): Promise<Record<string, unknown>[]> {
  const size = await t.broker.audit.size();
  const out: Record<string, unknown>[] = [];
  for (let i = Math.max(0, size - n); i < size; i++) out.push(JSON.parse((await t.broker.audit.entry(i)).event));
  return out;
}

beforeAll(async () => {
  t = await startTestBroker();
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('staged versions', () => {
  it('a small test upload staged beside a 5,000-row version changes nothing until activated', async () => {
    expect((await define('stage', { over_18: 'boolean' })).status).toBe(201);
    const v1 = await upload(
      'stage',
      jsonl(big.map((clk, i) => ({ ref: `p${i}`, clk, claims: { over_18: i % 2 === 0 } }))),
    );
    expect(v1.status, v1.text).toBe(201);
    expect(v1.json).toMatchObject({ version: 1, status: 'active', rows: 5_000, active_version: null });

    const v2 = await upload(
      'stage',
      jsonl(small.map((clk, i) => ({ ref: `t${i}`, clk, claims: { over_18: true } }))),
      '?activate=false',
    );
    expect(v2.status, v2.text).toBe(201);
    // The answer says what would be replaced, so a 10-row file is seen for what it is.
    expect(v2.json).toMatchObject({ version: 2, status: 'staged', rows: 10, active_version: 1, active_rows: 5_000 });
    expect(v2.json.summary).toMatchObject({ rows: 10, claims: { over_18: { type: 'boolean', values: 10, nulls: 0 } } });

    // Version 1 still answers: a person of it matches, a person only in the staged one does not.
    expect((await verify('stage', big[7]!)).json).toMatchObject({ decision: 'match', dataset_version: 1 });
    expect((await verify('stage', small[3]!)).json).toMatchObject({ decision: 'no_match', dataset_version: 1 });
    const ds = await api(t.url, 'GET', '/v1/datasets/stage', { token: t.tokens.rp });
    expect(ds.json).toMatchObject({ active_version: 1, rows: 5_000 });

    const listed = await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.dp });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.versions.map((v: { version: number; status: string }) => [v.version, v.status])).toEqual([
      [2, 'staged'],
      [1, 'active'],
    ]);
    // The versions are the provider's business.
    expectProblem(await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.dp2 }), 403);
    expectProblem(await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.rp }), 403);
  });

  it('activation serves the staged version; rollback serves the previous one again, from the rows kept', async () => {
    const activated = await api(t.url, 'POST', '/v1/datasets/stage/versions/2/activate', { token: t.tokens.dp });
    expect(activated.status, activated.text).toBe(200);
    expect(activated.json).toEqual({ dataset: 'stage', version: 2, previous_version: 1, rows: 10, changed: true });
    expect((await verify('stage', small[3]!)).json).toMatchObject({ decision: 'match', dataset_version: 2 });
    expect((await verify('stage', big[7]!)).json).toMatchObject({ decision: 'no_match', dataset_version: 2 });

    // Activating the active version changes nothing.
    const again = await api(t.url, 'POST', '/v1/datasets/stage/versions/2/activate', { token: t.tokens.dp });
    expect(again.json).toMatchObject({ version: 2, changed: false });

    const rolled = await api(t.url, 'POST', '/v1/datasets/stage/rollback', { token: t.tokens.dp });
    expect(rolled.status, rolled.text).toBe(200);
    expect(rolled.json).toEqual({ dataset: 'stage', version: 1, previous_version: 2, rows: 5_000, changed: true });
    const answer = await verify('stage', big[7]!);
    expect(answer.json).toMatchObject({ decision: 'match', dataset_version: 1, claims: { over_18: false } });

    // A second rollback undoes the first.
    const back = await api(t.url, 'POST', '/v1/datasets/stage/rollback', { token: t.tokens.dp });
    expect(back.json).toMatchObject({ version: 2, previous_version: 1 });
    const events = await lastEvents(12);
    const activations = events.filter((e) => e.type === 'dataset_activated');
    expect(activations.slice(-3)).toMatchObject([
      { dataset: 'stage', version: 2, previous_version: 1, rollback: false, rows: 10, actor: 'registry' },
      { dataset: 'stage', version: 1, previous_version: 2, rollback: true, rows: 5_000, actor: 'registry' },
      { dataset: 'stage', version: 2, previous_version: 1, rollback: true, rows: 10, actor: 'registry' },
    ]);
    for (const e of activations) expect(e.policy_version).toEqual(expect.any(String));
  });

  it('keeps the rows of the active, the previous and staged versions only; the one before is retired', async () => {
    const v3 = await upload('stage', jsonl(big.slice(0, 20).map((clk, i) => ({ ref: `q${i}`, clk }))));
    expect(v3.json).toMatchObject({ version: 3, status: 'active', active_version: 2 });
    const versions = (await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.dp })).json.versions;
    expect(versions.map((v: { version: number; status: string }) => [v.version, v.status])).toEqual([
      [3, 'active'],
      [2, 'superseded'],
      [1, 'retired'],
    ]);
    const held = await t.broker.db.sql<{ version: number }[]>`
      select distinct version from dataset_chunks where dataset_id = 'stage' order by version`;
    expect(held.map((r) => r.version)).toEqual([2, 3]);
    // A retired version cannot come back; an unknown one does not exist.
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/stage/versions/1/activate', { token: t.tokens.dp }),
      409,
      'VERSION_STATE_CONFLICT',
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/stage/versions/99/activate', { token: t.tokens.dp }),
      404,
      'VERSION_NOT_FOUND',
    );
    // Another provider cannot activate or roll back.
    expectProblem(await api(t.url, 'POST', '/v1/datasets/stage/rollback', { token: t.tokens.dp2 }), 403);
  });

  it('a staged or previous version can be discarded; then there is nothing to roll back to', async () => {
    const discarded = await api(t.url, 'DELETE', '/v1/datasets/stage/versions/2', { token: t.tokens.dp });
    expect(discarded.status, discarded.text).toBe(200);
    expect(discarded.json).toMatchObject({ version: 2, status: 'discarded' });
    expectProblem(
      await api(t.url, 'DELETE', '/v1/datasets/stage/versions/3', { token: t.tokens.dp }),
      409,
      'VERSION_STATE_CONFLICT',
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/stage/rollback', { token: t.tokens.dp }),
      409,
      'VERSION_ROLLBACK_UNAVAILABLE',
    );
    expect((await lastEvents(1))[0]).toMatchObject({ type: 'dataset_version_discarded', dataset: 'stage', version: 2 });
  });

  it('a dry run checks and reports the upload, stores nothing and allocates no version', async () => {
    const dup = small[0]!;
    const rows = [
      ...small.slice(0, 5).map((clk, i) => ({ ref: `d${i}`, clk, claims: { over_18: i > 0 ? true : null } })),
      { ref: 'copy', clk: dup }, // the same CLK as d0: that person would answer ambiguous
      { ref: 'empty', clk: new Uint8Array(128) },
    ];
    const dry = await upload('stage', jsonl(rows), '?dry_run=true');
    expect(dry.status, dry.text).toBe(200);
    expect(dry.json).toMatchObject({
      version: null,
      status: 'dry_run',
      rows: 7,
      active_version: 3,
      summary: { rows: 7, duplicate_clks: 1, empty_clks: 1, claims: { over_18: { values: 4, nulls: 1 } } },
    });
    const versions = (await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.dp })).json.versions;
    expect(versions[0].version).toBe(3);
    // A dry run fails as the upload would.
    const bad = await upload(
      'stage',
      jsonl([{ ref: 'a', clk: small[0]!, claims: { over_18: 'True' } }]),
      '?dry_run=true',
    );
    expectProblem(bad, 422, 'UPLOAD_CLAIM_TYPE');
  });

  it('a misspelt or repeated option is refused, not ignored: the upload never goes live by mistake', async () => {
    const before = (await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.dp })).json.versions;
    const rows = jsonl([{ ref: 'x', clk: small[1]! }]);
    for (const [query, path] of [
      ['?dryrun=true', 'query'],
      ['?dry_run=true&dry_run=false', 'query.dry_run'],
      ['?activate=false&activate=false', 'query.activate'],
    ] as const) {
      const got = await upload('stage', rows, query);
      expectProblem(got, 422, 'VALIDATION_FAILED');
      expect(got.json.errors[0].path, query).toBe(path);
    }
    const after = (await api(t.url, 'GET', '/v1/datasets/stage/versions', { token: t.tokens.dp })).json.versions;
    expect(after).toEqual(before);
  });
});

describe('claim types', () => {
  it('refuses "True" for a boolean claim, naming the line and the claim, never the value', async () => {
    expect((await define('typed', { over_18: 'boolean', license_class: 'string' })).status).toBe(201);
    const got = await api(t.url, 'GET', '/v1/datasets/typed', { token: t.tokens.rp });
    expect(got.json).toMatchObject({
      claims: ['over_18', 'license_class'],
      claim_types: { over_18: 'boolean', license_class: 'string' },
    });
    const r = await upload(
      'typed',
      jsonl([
        { ref: 'a', clk: small[0]!, claims: { over_18: true } },
        { ref: 'b', clk: small[1]!, claims: { over_18: 'True' } },
      ]),
    );
    expectProblem(r, 422, 'UPLOAD_CLAIM_TYPE');
    expect(r.json.detail).toBe('line 2: claim "over_18" must be a boolean (true or false), not a string');
    expect(r.text).not.toContain('True');
    // Nothing was served or kept.
    expectProblem(await verify('typed', small[0]!), 409, 'DATASET_NOT_READY');
    const versions = (await api(t.url, 'GET', '/v1/datasets/typed/versions', { token: t.tokens.dp })).json.versions;
    expect(versions).toMatchObject([{ version: 1, status: 'failed', error_code: 'UPLOAD_CLAIM_TYPE', rows: 0 }]);
    const activate = await api(t.url, 'POST', '/v1/datasets/typed/versions/1/activate', { token: t.tokens.dp });
    expectProblem(activate, 409, 'VERSION_STATE_CONFLICT');
    expect(activate.json.detail).toBe(
      'version 1 is failed: only a staged version or the previous one can be activated',
    );
  });

  it('checks integers, numbers and dates; null is "not known" for any type', async () => {
    // Claim names the shipped policy can release (policy/bundle/data.json), typed for the test's sake.
    const types = {
      identity_verified: 'integer',
      name_match: 'number',
      license_expiry: 'date',
      license_class: 'string',
    };
    expect((await define('kinds', types)).status).toBe(201);
    const ok = await upload(
      'kinds',
      jsonl([
        {
          ref: 'a',
          clk: small[0]!,
          claims: { identity_verified: 3, name_match: 0.5, license_expiry: '2030-02-28', license_class: null },
        },
      ]),
    );
    expect(ok.status, ok.text).toBe(201);
    for (const [claims, message] of [
      [{ identity_verified: 2.5 }, 'claim "identity_verified" must be an integer, not a number'],
      [{ name_match: '0.5' }, 'claim "name_match" must be a number, not a string'],
      [{ license_expiry: '2030-02-30' }, 'claim "license_expiry" must be a calendar date written YYYY-MM-DD'],
      [{ license_class: 7 }, 'claim "license_class" must be a string, not an integer'],
    ] as const) {
      const r = await upload('kinds', jsonl([{ ref: 'a', clk: small[0]!, claims }]));
      expectProblem(r, 422, 'UPLOAD_CLAIM_TYPE');
      expect(r.json.detail).toBe(`line 1: ${message}`);
    }
    // The binary form is checked the same way (its claims come after the rows).
    const bin = await api(t.url, 'POST', '/v1/datasets/kinds/versions', {
      token: t.tokens.dp,
      raw: encodeBinaryDataset(1024, [{ ref: 'a', clk: small[0]! }], [{ identity_verified: true }]),
      contentType: 'application/vnd.pavilion.dataset',
    });
    expectProblem(bin, 422, 'UPLOAD_CLAIM_TYPE');
    expect(bin.json.detail).toBe('record 0: claim "identity_verified" must be an integer, not a boolean');
  });

  it('claims declared by name only take any scalar, but one type per version', async () => {
    expect((await define('untyped', ['over_18'])).status).toBe(201);
    const got = await api(t.url, 'GET', '/v1/datasets/untyped', { token: t.tokens.rp });
    expect(got.json.claim_types).toEqual({ over_18: 'scalar' });
    const mixed = await upload(
      'untyped',
      jsonl([
        { ref: 'a', clk: small[0]!, claims: { over_18: true } },
        { ref: 'b', clk: small[1]!, claims: { over_18: null } },
        { ref: 'c', clk: small[2]!, claims: { over_18: 'True' } },
      ]),
    );
    expectProblem(mixed, 422, 'UPLOAD_CLAIM_TYPE');
    expect(mixed.json.detail).toMatch(/^line 3: claim "over_18" is a string, but a boolean at line 1; /);
    const same = await upload(
      'untyped',
      jsonl([
        { ref: 'a', clk: small[0]!, claims: { over_18: true } },
        { ref: 'b', clk: small[1]!, claims: { over_18: false } },
      ]),
    );
    expect(same.status, same.text).toBe(201);
  });

  it('a claim type may change under live versions only when their stored values fit it', async () => {
    // untyped holds booleans: declaring them boolean is fine, declaring them integer is not.
    expect((await define('untyped', { over_18: 'boolean' })).status).toBe(200);
    const r = await define('untyped', { over_18: 'integer' });
    expectProblem(r, 409, 'DATASET_CLAIM_TYPE_CONFLICT');
    expect(r.json.detail).toMatch(/^version 2, record 0: claim over_18 must be an integer, not a boolean; /);
    // A new claim may be added at any time.
    expect((await define('untyped', { over_18: 'boolean', over_21: 'boolean' })).status).toBe(200);
    // Dropped, then declared again with another type: its stored booleans are checked as a change's are.
    // (A user trial: this way round, over_18 was declared a string and served as booleans.)
    expect((await define('untyped', { over_21: 'boolean' })).status).toBe(200);
    const again = await define('untyped', { over_18: 'string', over_21: 'boolean' });
    expectProblem(again, 409, 'DATASET_CLAIM_TYPE_CONFLICT');
    expect(again.json.detail).toMatch(/^version 2, record 0: claim over_18 must be a string, not a boolean; /);
    expect((await define('untyped', { over_18: 'boolean', over_21: 'boolean' })).status).toBe(200);
  });

  it('a definition in neither form is refused with the forms named', async () => {
    const r = await define('bad-claims', { over_18: 'bool' });
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(r.json.errors[0]).toMatchObject({ path: '$.claims', message: expect.stringContaining('boolean | integer') });
    const twice = await define('bad-claims', ['over_18', 'over_18']);
    expectProblem(twice, 422, 'VALIDATION_FAILED');
    expect(twice.json.errors).toEqual([{ path: '$.claims', message: 'a claim name is listed twice' }]);
  });
});

describe('the schema of a dataset with live versions', () => {
  it('cannot change, even to one of the same length; the same schema again is fine', async () => {
    const schema = loadDemoSchema() as { features: { identifier: string; hashing?: { strategy?: unknown } }[] };
    expect((await define('locked', ['over_18'], schema)).status).toBe(201);
    expect((await upload('locked', jsonl([{ ref: 'a', clk: small[0]! }]), '?activate=false')).status).toBe(201);
    // Same length (clkConfig.l), other hashing of one feature: the CLKs stored would no longer be comparable.
    const changed = structuredClone(schema);
    const feature = changed.features.find((f) => f.hashing?.strategy)!;
    feature.hashing!.strategy = { bitsPerToken: 7 };
    const r = await define('locked', ['over_18'], changed);
    expectProblem(r, 409, 'DATASET_SCHEMA_CONFLICT');
    expect(r.json.detail).toContain('1 (staged)');
    expect((await define('locked', ['over_18'], schema)).status).toBe(200);
    // Once no version is live (the staged one discarded), the schema may change.
    expect((await api(t.url, 'DELETE', '/v1/datasets/locked/versions/1', { token: t.tokens.dp })).status).toBe(200);
    expect((await define('locked', ['over_18'], changed)).status).toBe(200);
  });
});

describe('secret fingerprints', () => {
  it('a version declares its secret fingerprint; GET /v1/datasets shows it and the registered one', async () => {
    expect((await define('fp', ['over_18'])).status).toBe(201);
    const bad = await upload('fp', jsonl([{ ref: 'a', clk: small[0]! }]), '?secret_fingerprint=NOT-HEX');
    expectProblem(bad, 422, 'VALIDATION_FAILED');
    const up = await upload('fp', jsonl([{ ref: 'a', clk: small[0]! }]), '?secret_fingerprint=8db6619e82a51ed1');
    expect(up.json).toMatchObject({ status: 'active', secret_fingerprint: '8db6619e82a51ed1' });
    const secret = await api(t.url, 'PUT', '/v1/datasets/fp/secret', {
      token: t.tokens.dp,
      body: { secret: 'correct horse' },
    });
    expect(secret.status).toBe(204);
    const got = await api(t.url, 'GET', '/v1/datasets/fp', { token: t.tokens.rp });
    // 8db6619e82a51ed1 is Python's hashlib.pbkdf2_hmac('sha256', b'correct horse', …) (common/secret-fingerprint.ts).
    expect(got.json).toMatchObject({
      secret_fingerprint: '8db6619e82a51ed1',
      broker_secret_fingerprint: '8db6619e82a51ed1',
    });
    expect(got.text).not.toContain('correct horse');
  });

  it('a secret holding a lone surrogate is 422 SECRET_INVALID, not registered as another secret', async () => {
    expect((await define('fpls', ['over_18'])).status).toBe(201);
    const put = (raw: string) =>
      api(t.url, 'PUT', '/v1/datasets/fpls/secret', { token: t.tokens.dp, raw, contentType: 'application/json' });
    expect((await put('{"secret":"correct horse"}')).status).toBe(204);
    // Both were 204 and registered "hunter2-ab\ufffd": broker-side encoding then answered no_match.
    for (const raw of [
      '{"secret":"hunter2-ab\\ud800"}',
      '{"secret":"hunter2-ab\\udc00"}',
      '{"secret":"\\udc00\\ud800ab-hunter2"}',
    ]) {
      const r = await put(raw);
      expectProblem(r, 422, 'SECRET_INVALID');
      expect(r.text).not.toContain('hunter2');
    }
    const got = await api(t.url, 'GET', '/v1/datasets/fpls', { token: t.tokens.rp });
    expect(got.json.broker_secret_fingerprint).toBe('8db6619e82a51ed1');
    // A surrogate pair is one character (U+1F600), and fine.
    expect((await put('{"secret":"hunter2-ab\\ud83d\\ude00"}')).status).toBe(204);
    const paired = await api(t.url, 'GET', '/v1/datasets/fpls', { token: t.tokens.rp });
    expect(paired.json.broker_secret_fingerprint).toBe(secretFingerprint('hunter2-ab\u{1F600}'));
  });

  it('a secret of fewer than 8 characters is 422 VALIDATION_FAILED (docs/data-providers.md)', async () => {
    expect((await define('fpshort', ['over_18'])).status).toBe(201);
    const r = await api(t.url, 'PUT', '/v1/datasets/fpshort/secret', {
      token: t.tokens.dp,
      body: { secret: '1234567' },
    });
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(r.json.errors[0].path).toBe('$.secret');
    const ok = await api(t.url, 'PUT', '/v1/datasets/fpshort/secret', {
      token: t.tokens.dp,
      body: { secret: '12345678' },
    });
    expect(ok.status).toBe(204);
  });
});
