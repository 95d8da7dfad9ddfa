/**
 * Every role against every route, the bad-token set at the HTTP layer, and
 * malformed / truncated / oversized bodies. Every error must be problem JSON.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from './helpers.js';
import {
  callRoute,
  datasetBody,
  ROLES,
  roleFixtures,
  roleRoutes,
  routeLabel,
  setUpRoleFixtures,
} from './role-routes.js';

let t: TestBroker;
const BODY_LIMIT = 16 * 1024;
const clks = Array.from({ length: 300 }, (_, i) => randomClk(1024, 7000 + i));
const fixtures = roleFixtures(clks);
const ROUTES = roleRoutes(fixtures);

beforeAll(async () => {
  t = await startTestBroker({ BODY_LIMIT_BYTES: String(BODY_LIMIT), UPLOAD_LIMIT_BYTES: String(256 * 1024) });
  await setUpRoleFixtures(t.url, t.tokens, fixtures);
  await t.broker.audit.checkpoint();
});

afterAll(async () => {
  await t?.broker.close();
});

describe('every role against every route', () => {
  for (const c of ROUTES) {
    const label = routeLabel(c);
    if (c.allowed === 'public') {
      it(`${label} is public`, async () => {
        const r = await callRoute(t.url, c);
        expect(r.status, r.text.slice(0, 200)).toBe(200);
      });
      continue;
    }
    it(`${label} without a token → 401`, async () => {
      expectProblem(await callRoute(t.url, c), 401, 'AUTH_MISSING');
    });
    for (const role of ROLES) {
      const allowed = c.allowed.includes(role);
      it(`${label} as ${role} → ${allowed ? '2xx' : '403'}`, async () => {
        const r = await callRoute(t.url, c, t.tokens[role]);
        if (allowed) expect(r.status, r.text.slice(0, 300)).toBeGreaterThanOrEqual(200);
        if (allowed) expect(r.status, r.text.slice(0, 300)).toBeLessThan(300);
        else expectProblem(r, 403);
      });
    }
  }

  it('an RP sees only its own jobs (another RP gets 404)', async () => {
    expectProblem(
      await api(t.url, 'GET', `/v1/linkage-jobs/${fixtures.jobId}`, { token: t.tokens.rp2 }),
      404,
      'JOB_NOT_FOUND',
    );
    expectProblem(
      await api(t.url, 'GET', `/v1/linkage-jobs/${fixtures.jobId}/results`, { token: t.tokens.rp2 }),
      404,
      'JOB_NOT_FOUND',
    );
  });

  it('the party registry lists the subjects that used the broker, with their roles', async () => {
    const r = await api(t.url, 'GET', '/v1/parties', { token: t.tokens.admin });
    const bySubject = Object.fromEntries(
      r.json.parties.map((p: { subject: string; roles: string[] }) => [p.subject, p.roles]),
    );
    expect(bySubject).toMatchObject({ 'acme-bank': ['rp'], registry: ['dp'], operator: ['admin'] });
  });

  it('a DP cannot change another DP’s dataset', async () => {
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/ds', { token: t.tokens.dp2, body: datasetBody() }),
      403,
      'DATASET_NOT_OWNER',
    );
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/ds/secret', { token: t.tokens.dp2, body: { secret: 'abcdefghijkl' } }),
      403,
      'DATASET_NOT_OWNER',
    );
  });

  it('a dataset names its owner (a party name, maybe an address) only to the owner and admins', async () => {
    const read = (token: string) => api(t.url, 'GET', '/v1/datasets/ds', { token });
    for (const token of [t.tokens.dp, t.tokens.admin]) {
      const r = await read(token);
      expect(r.status, r.text).toBe(200);
      expect(r.json.owner).toBe('registry');
    }
    for (const token of [t.tokens.rp, t.tokens.rp2, t.tokens.dp2, t.tokens.auditor]) {
      const r = await read(token);
      expect(r.status, r.text).toBe(200);
      expect(r.json).not.toHaveProperty('owner');
      expect(r.json).toMatchObject({ id: 'ds', active_version: expect.any(Number) }); // the rest as before
    }
  });
});

describe('bad tokens', () => {
  const privateJwk = (): JWK => JSON.parse(readFileSync(join(t.stateDir, 'identity-key.json'), 'utf8'));
  const good = { sub: 'acme-bank', roles: ['rp'] };
  const iss = 'urn:pavilion:local';
  const aud = 'pavilion';
  const now = () => Math.floor(Date.now() / 1000);
  const probe = (token: string) => api(t.url, 'GET', '/v1/datasets/ds', { token });
  const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

  async function signed(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const jwk = privateJwk();
    const key = await importJWK(jwk, 'ES256');
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: jwk.kid, ...header }).sign(key);
  }

  it('a correctly signed token passes (control)', async () => {
    const tok = await signed({ ...good, iss, aud, exp: now() + 60, iat: now() });
    expect((await probe(tok)).status).toBe(200);
  });

  const cases: [string, () => Promise<string>][] = [
    [
      'alg none',
      async () => `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ ...good, iss, aud, exp: now() + 60 })}.`,
    ],
    [
      'HS256 keyed with the public JWK (HS/RS confusion)',
      async () => {
        const jwk = privateJwk();
        const pub = JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y });
        return new SignJWT({ ...good, iss, aud, exp: now() + 60 })
          .setProtectedHeader({ alg: 'HS256', kid: jwk.kid })
          .sign(new TextEncoder().encode(pub));
      },
    ],
    [
      'wrong alg (RS256 from a foreign key under our kid)',
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT({ ...good, iss, aud, exp: now() + 60 })
          .setProtectedHeader({ alg: 'RS256', kid: privateJwk().kid })
          .sign(privateKey);
      },
    ],
    ['wrong audience', () => signed({ ...good, iss, aud: 'someone-else', exp: now() + 60 })],
    ['wrong issuer', () => signed({ ...good, iss: 'https://evil.example', aud, exp: now() + 60 })],
    ['expired', () => signed({ ...good, iss, aud, exp: now() - 3600, iat: now() - 7200 })],
    ['not yet valid', () => signed({ ...good, iss, aud, exp: now() + 7200, nbf: now() + 3600 })],
    ['unknown kid', () => signed({ ...good, iss, aud, exp: now() + 60 }, { kid: 'no-such-key' })],
    [
      'tampered signature',
      async () => {
        const tok = await signed({ ...good, iss, aud, exp: now() + 60 });
        const [h, p, s] = tok.split('.');
        const sig = Buffer.from(s!, 'base64url');
        sig[5]! ^= 0x01;
        return `${h}.${p}.${sig.toString('base64url')}`;
      },
    ],
    [
      'tampered payload (role escalation)',
      async () => {
        const tok = await signed({ ...good, iss, aud, exp: now() + 60 });
        const [h, , s] = tok.split('.');
        return `${h}.${encode({ ...good, roles: ['admin'], iss, aud, exp: now() + 60 })}.${s}`;
      },
    ],
    ['garbage', async () => 'not.a.jwt'],
  ];
  for (const [name, make] of cases) {
    it(`${name} → 401 AUTH_*`, async () => {
      const r = await probe(await make());
      expectProblem(r, 401);
      expect(r.json.code).toMatch(/^AUTH_/);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    });
  }
});

describe('malformed, truncated and oversized bodies', () => {
  const verifyRaw = (raw: string) => api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, raw });

  it('invalid JSON → 400 BODY_INVALID_JSON', async () => {
    expectProblem(await verifyRaw('{"dataset": "ds", clk:'), 400, 'BODY_INVALID_JSON');
  });
  it('truncated JSON → 400 BODY_INVALID_JSON', async () => {
    const full = JSON.stringify({
      dataset: 'ds',
      clk: b64(clks[0]!),
      claims: ['over_18'],
      purpose: 'age_verification',
    });
    expectProblem(await verifyRaw(full.slice(0, full.length - 7)), 400, 'BODY_INVALID_JSON');
  });
  it('a `__proto__` field anywhere in a body → 422 naming it (zod dropped it without a word)', async () => {
    // A user trial: {"record": {"__proto__": "x"}} was answered as an empty record, and audited.
    const before = await t.broker.audit.size();
    for (const [raw, path] of [
      ['{"dataset":"ds","purpose":"age_verification","record":{"__proto__":"x"}}', '$.record.__proto__'],
      [
        '{"dataset":"ds","purpose":"age_verification","claims":[],"record":{"\\u005f_proto__":"x"}}',
        '$.record.__proto__',
      ],
      ['{"__proto__":{},"dataset":"ds","purpose":"age_verification"}', '$.__proto__'],
    ] as const) {
      const r = await verifyRaw(raw);
      expectProblem(r, 422, 'VALIDATION_FAILED');
      expect(r.json.errors).toEqual([{ path, message: 'field name not allowed' }]);
    }
    expect(await t.broker.audit.size()).toBe(before);
  });
  it('bytes that are not UTF-8 → 400 BODY_INVALID_JSON, not read as U+FFFD', async () => {
    // A user trial: a record value "Zz\xffq" was encoded as "Zz\ufffdq" and answered, a value the client never sent.
    const raw = Buffer.concat([
      Buffer.from('{"dataset":"ds","purpose":"age_verification","claims":[],"record":{"given_name":"Zz'),
      Buffer.from([0xff]),
      Buffer.from('q"}}'),
    ]);
    const r = await api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, raw: new Uint8Array(raw) });
    expectProblem(r, 400, 'BODY_INVALID_JSON');
    expect(r.json.detail).toContain('UTF-8');
  });
  it('a JSON body labelled anything but JSON → 415 UNSUPPORTED_MEDIA_TYPE; unlabelled or +json → read', async () => {
    const good = JSON.stringify({ dataset: 'ds', clk: b64(clks[0]!), claims: [], purpose: 'age_verification' });
    const as = (contentType: string) =>
      api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, raw: good, contentType });
    for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'application/jsonl']) {
      const r = await as(type);
      expectProblem(r, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(r.json.detail).toContain('application/json');
    }
    for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/problem+json'])
      expect((await as(type)).status, type).toBe(200);
    // fetch sends a byte body without a Content-Type
    const bare = await fetch(`${t.url}/v1/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.rp}` },
      body: new TextEncoder().encode(good),
    });
    expect(bare.status, await bare.text()).toBe(200);
  });
  it('empty body → 400 BODY_EMPTY', async () => {
    expectProblem(await verifyRaw(''), 400, 'BODY_EMPTY');
  });
  it('oversized body (Content-Length) → 413 PAYLOAD_TOO_LARGE', async () => {
    expectProblem(await verifyRaw(`{"x":"${'a'.repeat(BODY_LIMIT)}"}`), 413, 'PAYLOAD_TOO_LARGE');
  });
  it('a chunked body (Transfer-Encoding) → 411 LENGTH_REQUIRED, never read (server/http/framing.ts)', async () => {
    const chunk = new TextEncoder().encode('a'.repeat(4096));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 16) c.enqueue(chunk);
        else c.close();
      },
    });
    const res = await fetch(`${t.url}/v1/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.rp}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit).catch((e) => e as Error);
    // The broker answers 411 and closes; depending on timing fetch sees the answer or the reset.
    if (res instanceof Response) {
      expect(res.status).toBe(411);
      expect((await res.json()).code).toBe('LENGTH_REQUIRED');
    }
  });
  it('schema violations → 422 VALIDATION_FAILED with paths, never echoing values', async () => {
    const sentinel = 'SENTINEL-VALUE-9f3a';
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'ds', clk: 12, claims: [sentinel], purpose: `${sentinel} purpose` },
    });
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(r.json.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['$.clk', '$.claims[0]', '$.purpose']),
    );
    expect(r.text).not.toContain(sentinel);
  });
  it('unknown fields are refused', async () => {
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'ds', clk: b64(clks[0]!), claims: [], purpose: 'age_verification', extra: 1 },
    });
    expectProblem(r, 422, 'VALIDATION_FAILED');
  });
  it('bad base64 CLK → 422 CLK_BASE64_INVALID (one status per code: common/error-codes.ts)', async () => {
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'ds', clk: '!!!notbase64', claims: ['over_18'], purpose: 'age_verification' },
    });
    expectProblem(r, 422, 'CLK_BASE64_INVALID');
  });
  it('upload: a CLK of the wrong length → 422 CLK_LENGTH_MISMATCH naming the line', async () => {
    const jsonl = [
      { ref: 'a', clk: b64(clks[0]!) },
      { ref: 'b', clk: b64(randomClk(512, 1)) },
    ]
      .map((row) => `${JSON.stringify(row)}\n`)
      .join('');
    const r = await api(t.url, 'POST', '/v1/datasets/ds/versions', {
      token: t.tokens.dp,
      raw: jsonl,
      contentType: 'application/x-ndjson',
    });
    expectProblem(r, 422, 'CLK_LENGTH_MISMATCH');
    expect(r.json.detail).toContain('line 2');
  });
  it('upload: truncated binary → 400 UPLOAD_TRUNCATED, the active version is unchanged', async () => {
    const before = (await api(t.url, 'GET', '/v1/datasets/ds', { token: t.tokens.dp })).json.active_version;
    const full = encodeBinaryDataset(
      1024,
      clks.slice(0, 10).map((clk, i) => ({ ref: `r${i}`, clk })),
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/ds/versions', {
        token: t.tokens.dp,
        raw: full.subarray(0, full.length - 5),
        contentType: 'application/vnd.pavilion.dataset',
      }),
      400,
      'UPLOAD_TRUNCATED',
    );
    expect((await api(t.url, 'GET', '/v1/datasets/ds', { token: t.tokens.dp })).json.active_version).toBe(before);
  });
  it('upload: a client that disconnects mid-upload leaves the active version serving', async () => {
    const { request } = await import('node:http');
    const before = (await api(t.url, 'GET', '/v1/datasets/ds', { token: t.tokens.dp })).json.active_version;
    const full = encodeBinaryDataset(
      1024,
      clks.map((clk, i) => ({ ref: `r${i}`, clk })),
    );
    await new Promise<void>((resolve) => {
      const req = request(`${t.url}/v1/datasets/ds/versions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${t.tokens.dp}`,
          'content-type': 'application/vnd.pavilion.dataset',
          'content-length': String(full.length),
        },
      });
      req.on('error', () => resolve());
      req.write(full.subarray(0, full.length >> 1), () =>
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100),
      );
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await api(t.url, 'GET', '/v1/datasets/ds', { token: t.tokens.dp })).json.active_version).toBe(before);
    const ok = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'ds', clk: b64(clks[4]!), claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(ok.json.decision).toBe('match');
    const next = await api(t.url, 'POST', '/v1/datasets/ds/versions', {
      token: t.tokens.dp,
      raw: full,
      contentType: 'application/vnd.pavilion.dataset',
    });
    expect(next.status, next.text).toBe(201);
    expect(next.json.version).toBeGreaterThan(before);
  });

  it('upload: malformed JSONL line → 400 UPLOAD_LINE_INVALID', async () => {
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/ds/versions', {
        token: t.tokens.dp,
        raw: '{"ref": "a", "clk"\n',
        contentType: 'application/x-ndjson',
      }),
      400,
      'UPLOAD_LINE_INVALID',
    );
  });
  it('upload: over the upload limit → 413', async () => {
    const big = encodeBinaryDataset(
      1024,
      Array.from({ length: 3000 }, (_, i) => ({ ref: `x${i}`, clk: clks[i % clks.length]! })),
    );
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/ds/versions', {
        token: t.tokens.dp,
        raw: big,
        contentType: 'application/vnd.pavilion.dataset',
      }),
      413,
      'UPLOAD_TOO_LARGE',
    );
  });
  it('upload: unsupported media type → 415', async () => {
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/ds/versions', { token: t.tokens.dp, raw: 'a,b', contentType: 'text/csv' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });
  it('dataset schema that is not a valid clkhash v3 schema → SCHEMA_INVALID / SCHEMA_UNSUPPORTED', async () => {
    const bad = await api(t.url, 'PUT', '/v1/datasets/bad', {
      token: t.tokens.dp,
      body: { schema: { version: 3, clkConfig: {} }, claims: [] },
    });
    expectProblem(bad, 422, 'SCHEMA_INVALID');
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/bad', { token: t.tokens.dp, body: { schema: { version: 2 }, claims: [] } }),
      422,
      'SCHEMA_INVALID',
    );
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/bad', { token: t.tokens.dp, body: { schema: { version: 4 }, claims: [] } }),
      422,
      'SCHEMA_INVALID',
    );
    expectProblem(await api(t.url, 'GET', '/v1/datasets/bad', { token: t.tokens.dp }), 404, 'DATASET_NOT_FOUND');
  });
  it('unknown dataset for a DP → 404', async () => {
    expectProblem(
      await api(t.url, 'POST', '/v1/datasets/none/versions', {
        token: t.tokens.dp,
        raw: '',
        contentType: 'application/x-ndjson',
      }),
      404,
      'DATASET_NOT_FOUND',
    );
  });
  it('malformed path escapes and odd ids are refused, not crashed on', async () => {
    expectProblem(await api(t.url, 'GET', '/v1/datasets/%E0%A4%A', { token: t.tokens.rp }), 422, 'VALIDATION_FAILED');
    expectProblem(
      await api(t.url, 'GET', `/v1/datasets/${'x'.repeat(300)}`, { token: t.tokens.rp }),
      422,
      'VALIDATION_FAILED',
    );
    expectProblem(await api(t.url, 'GET', '/v1/linkage-jobs/not-a-uuid', { token: t.tokens.rp }), 404, 'JOB_NOT_FOUND');
    expectProblem(
      await api(t.url, 'GET', '/v1/audit/entries/-1', { token: t.tokens.auditor }),
      422,
      'VALIDATION_FAILED',
    );
    expectProblem(await api(t.url, 'GET', '/v1/audit/entries/99999999', { token: t.tokens.auditor }), 404);
    expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('tlog-tiles paths: immutable octet-stream tiles; bad spellings and tiles beyond the tree are 404', async () => {
    const size = await t.broker.audit.size();
    const tile = await api(t.url, 'GET', `/v1/audit/tile/0/000.p/${Math.min(size, 255)}`, { token: t.tokens.rp });
    expect(tile.status, tile.text).toBe(200);
    expect(tile.headers.get('content-type')).toBe('application/octet-stream');
    expect(tile.headers.get('cache-control')).toContain('immutable');
    const bytes = Buffer.from(
      await (
        await fetch(`${t.url}/v1/audit/tile/0/000.p/1`, { headers: { authorization: `Bearer ${t.tokens.rp}` } })
      ).arrayBuffer(),
    );
    expect(bytes.toString('hex')).toBe(Buffer.from((await t.broker.audit.entry(0)).leafHash).toString('hex'));
    for (const bad of ['0/0', '00/000', '0/000.p/0', '0/000.p/256', 'entries', 'x/y/z', '0/%2e%2e/000']) {
      expectProblem(await api(t.url, 'GET', `/v1/audit/tile/${bad}`, { token: t.tokens.rp }), 404, 'TILE_NOT_FOUND');
    }
    expectProblem(await api(t.url, 'GET', '/v1/audit/tile/5/000.p/1', { token: t.tokens.rp }), 404, 'TILE_NOT_FOUND');
    expectProblem(
      await api(t.url, 'GET', '/v1/audit/tile/0/000', { token: t.tokens.rp }),
      size >= 256 ? 200 : 404,
      size >= 256 ? undefined : 'TILE_NOT_FOUND',
    );
    expectProblem(await api(t.url, 'GET', '/v1/audit/tile/0/000.p/1'), 401, 'AUTH_MISSING');
    expect((await api(t.url, 'GET', '/v1/audit/checkpoint', { token: t.tokens.rp })).headers.get('cache-control')).toBe(
      'no-cache',
    );
  });

  it('a malformed leaf_hash is 422 VALIDATION_FAILED like every other bad parameter', async () => {
    for (const bad of ['not base64!', 'AAAA', Buffer.alloc(32).toString('base64').replace(/=$/, '')]) {
      expectProblem(
        await api(t.url, 'GET', `/v1/audit/proofs/inclusion?leaf_hash=${encodeURIComponent(bad)}`, {
          token: t.tokens.rp,
        }),
        422,
        'VALIDATION_FAILED',
      );
    }
  });

  it('unknown route → 404 ROUTE_NOT_FOUND, wrong method → 405', async () => {
    expectProblem(await api(t.url, 'GET', '/v2/nothing'), 404, 'ROUTE_NOT_FOUND');
    const r = await api(t.url, 'DELETE', '/v1/verifications', { token: t.tokens.rp });
    expectProblem(r, 405, 'METHOD_NOT_ALLOWED');
    expect(r.headers.get('allow')).toBe('POST');
  });
});

describe('audit identifiers in every event', () => {
  it('a subject outside the audit id alphabet is digested in dataset and job events, as in verifications', async () => {
    const odd = 'Jane Doe (HR)';
    const id = t.broker.localIdentity!;
    const dp = await id.mint({ sub: odd, roles: ['dp'] });
    const rp = await id.mint({ sub: odd, roles: ['rp'] });
    expect((await api(t.url, 'PUT', '/v1/datasets/odd-owner', { token: dp, body: datasetBody() })).status).toBe(201);
    const job = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: rp,
      body: { dataset: 'ds', clks: [b64(clks[3]!)], threshold: 0.9, purpose: 'kyc' },
    });
    expect(job.status, job.text).toBe(202);
    const audit = t.broker.audit;
    const events = async () =>
      Promise.all(Array.from({ length: await audit.size() }, async (_, i) => JSON.parse((await audit.entry(i)).event)));
    let all = await events();
    // The job runs in the background: wait for its event.
    for (let i = 0; i < 200 && !all.some((e) => e.type === 'linkage_job' && e.job === job.json.id); i++) {
      await new Promise((r) => setTimeout(r, 50));
      all = await events();
    }
    const defined = all.find((e) => e.type === 'dataset_defined' && e.dataset === 'odd-owner');
    const linked = all.find((e) => e.type === 'linkage_job' && e.job === job.json.id);
    expect(defined?.actor).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
    expect(linked?.actor).toBe(defined?.actor);
    expect(linked?.relying_party).toBe(defined?.actor);
    expect(JSON.stringify(all)).not.toContain('Jane Doe');
  });
});
