/**
 * Refusals at /v1/ws, and the HTTP ones they must agree with, on a real broker:
 * - a token naming its caller with a lone surrogate or a control character is refused at
 *   authentication (401 AUTH_MALFORMED) on HTTP and over the socket, instead of a 500 or a dataset
 *   owned by U+FFFD (another party's name);
 * - expiry has one rule with the 30 s clock tolerance HTTP allows: at the upgrade, at in-band auth and
 *   on every message of an open session;
 * - subscribe and cancel refuse a role the job routes refuse with HTTP's 403 FORBIDDEN_ROLE, not 404;
 * - every verify message answered counts in /metrics with its status, refusals included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, expectProblem, perturb, randomClk, startTestBroker, type TestBroker } from '../helpers.js';
import { Client } from './ws-client.js';

let t: TestBroker;
const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 70_000 + i));
const IN_FLIGHT = 2;

beforeAll(async () => {
  t = await startTestBroker({ WS_MAX_IN_FLIGHT: String(IN_FLIGHT) });
  const defined = await api(t.url, 'PUT', '/v1/datasets/w', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  expect(defined.status, defined.text).toBe(201);
  const up = await api(t.url, 'POST', '/v1/datasets/w/versions', {
    token: t.tokens.dp,
    raw: clks.map((c, i) => JSON.stringify({ ref: `w${i}`, clk: b64(c), claims: { over_18: true } })).join('\n'),
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
});

afterAll(async () => {
  await t?.broker.close();
});

const nowSec = () => Math.floor(Date.now() / 1000);

/** A token with any claims, signed with the broker's development key (as an IdP would issue it). */
async function mint(claims: JWTPayload): Promise<string> {
  const jwk = JSON.parse(readFileSync(join(t.stateDir, 'identity-key.json'), 'utf8')) as JWK;
  const id = t.broker.localIdentity!;
  const now = nowSec();
  return new SignJWT({ iss: id.issuer, aud: id.audience, iat: now - 60, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: id.keyId })
    .sign(await importJWK(jwk, 'ES256'));
}

/** A socket to the test broker; with a token, authenticated by the upgrade's Authorization header. */
const open = (token?: string) => Client.open(t.url, token ? { authorization: `Bearer ${token}` } : {});
const closeCode = async (c: Client) => (await c.whenClosed()).code;

const verifyMsg = (id: string | number, i: number) => ({
  type: 'verify',
  id,
  dataset: 'w',
  clk: b64(perturb(clks[i % clks.length]!, 4, i)),
  claims: ['over_18'],
  purpose: 'age_verification',
});

const httpVerify = (token: string) => {
  const { type: _t, id: _i, ...body } = verifyMsg(0, 1);
  return api(t.url, 'POST', '/v1/verifications', { token, body });
};

describe('identifiers that cannot be stored unchanged are refused at authentication', () => {
  // Each odd name starts with a word of its own, so an answer that quoted it would show.
  const bad: [string, JWTPayload][] = [
    ['sub with a lone surrogate', { sub: 'zulu\ud800' }],
    ['sub with NUL', { sub: 'yankee\u0000x' }],
    ['sub with a C1 control', { sub: 'xray\u0085x' }],
    ['party with a lone surrogate', { sub: 'fine-sub', party: 'whiskey\udfff' }],
    ['tenant with a lone surrogate', { sub: 'fine-sub', tenant: 'victor\ud800' }],
    ['tenant with NUL', { sub: 'fine-sub', tenant: 'uniform\u0000' }],
  ];

  for (const [what, claims] of bad) {
    it(`${what}: 401 AUTH_MALFORMED on verification, dataset PUT, the upgrade and in-band auth`, async () => {
      const rp = await mint({ ...claims, roles: ['rp'] });
      const dp = await mint({ ...claims, roles: ['dp'] });
      const verified = await httpVerify(rp);
      expectProblem(verified, 401, 'AUTH_MALFORMED');
      const defined = await api(t.url, 'PUT', '/v1/datasets/odd-owner', {
        token: dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      expectProblem(defined, 401, 'AUTH_MALFORMED');
      const odd = Object.values(claims).find((v) => v !== 'fine-sub') as string;
      expect(`${verified.text}${defined.text}`).not.toContain(odd.slice(0, 4));

      const upgrade = await open(rp).catch((e) => e);
      expect(upgrade.status).toBe(401);
      expect(JSON.parse(upgrade.body).code).toBe('AUTH_MALFORMED');

      const c = await open();
      c.send({ type: 'auth', token: rp });
      expect((await c.next((m) => m.type === 'error')).problem).toMatchObject({ status: 401, code: 'AUTH_MALFORMED' });
      expect(await closeCode(c)).toBe(4401);
    });
  }

  it('no dataset was defined and no party registry write failed', async () => {
    expectProblem(await api(t.url, 'GET', '/v1/datasets/odd-owner', { token: t.tokens.admin }), 404);
    expect(t.logs.filter((l) => l.includes('party registry write failed'))).toEqual([]);
  });

  it('a sub with astral characters (a surrogate pair) works on HTTP and over the socket', async () => {
    const rp = await mint({ sub: 'rp-😀', roles: ['rp'] });
    const verified = await httpVerify(rp);
    expect(verified.status, verified.text).toBe(200);
    expect(verified.json.decision).toBe('match');
    const c = await open();
    c.send({ type: 'auth', token: rp });
    expect(await c.next((m) => m.type === 'authenticated')).toMatchObject({ sub: 'rp-😀' });
    c.send(verifyMsg('astral', 2));
    expect(await c.next((m) => m.id === 'astral')).toMatchObject({ type: 'result', decision: 'match' });
    c.ws.close();

    // A DP with such a name owns what it defines, and only it.
    const dp = await mint({ sub: 'dp-😀', roles: ['dp'] });
    const defined = await api(t.url, 'PUT', '/v1/datasets/astral', {
      token: dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    expect(defined.status, defined.text).toBe(201);
    expect(defined.json.owner).toBe('dp-😀');
    const rows = JSON.stringify({ ref: 'a', clk: b64(clks[0]!) });
    const upload = (token: string) =>
      api(t.url, 'POST', '/v1/datasets/astral/versions?dry_run=true', {
        token,
        raw: rows,
        contentType: 'application/x-ndjson',
      });
    expect((await upload(dp)).status).toBe(200);
    expectProblem(await upload(await mint({ sub: 'dp-\ufffd', roles: ['dp'] })), 403, 'DATASET_NOT_OWNER');
  });
});

describe('token expiry over the socket uses the clock tolerance HTTP uses (30 s)', () => {
  it('a token that expired 10 s ago works for messages, after the upgrade or in-band auth', async () => {
    const token = await mint({ sub: 'skew', roles: ['rp'], exp: nowSec() - 10 });
    expect((await httpVerify(token)).status).toBe(200);

    const byHeader = await open(token);
    byHeader.send({ type: 'ping', id: 'p' });
    expect(await byHeader.next((m) => m.id === 'p')).toMatchObject({ type: 'pong' });
    byHeader.send(verifyMsg('v', 3));
    expect(await byHeader.next((m) => m.id === 'v')).toMatchObject({ type: 'result', decision: 'match' });
    byHeader.ws.close();

    const inBand = await open();
    inBand.send({ type: 'auth', token });
    await inBand.next((m) => m.type === 'authenticated');
    inBand.send(verifyMsg('v', 4));
    expect(await inBand.next((m) => m.id === 'v')).toMatchObject({ type: 'result', decision: 'match' });
    inBand.ws.close();
  });

  it('a token expired beyond the tolerance is refused at the upgrade and at in-band auth', async () => {
    const token = await mint({ sub: 'skew', roles: ['rp'], exp: nowSec() - 40 });
    expectProblem(await httpVerify(token), 401, 'AUTH_EXPIRED');
    const upgrade = await open(token).catch((e) => e);
    expect(upgrade.status).toBe(401);
    expect(JSON.parse(upgrade.body).code).toBe('AUTH_EXPIRED');
    const c = await open();
    c.send({ type: 'auth', token });
    expect((await c.next((m) => m.type === 'error')).problem).toMatchObject({ status: 401, code: 'AUTH_EXPIRED' });
    expect(await closeCode(c)).toBe(4401);
  });

  it('an open session ends (4401) at the first message once past exp + tolerance', async () => {
    // Inside the tolerance for at most two more seconds.
    const exp = nowSec() - 28;
    const c = await open(await mint({ sub: 'skew', roles: ['rp'], exp }));
    c.send({ type: 'ping', id: 'before' });
    expect(await c.next((m) => m.id === 'before')).toMatchObject({ type: 'pong' });
    await new Promise((r) => setTimeout(r, (exp + 30) * 1000 - Date.now() + 50));
    c.send({ type: 'ping', id: 'after' });
    expect((await c.next((m) => m.type === 'error')).problem).toMatchObject({ status: 401, code: 'AUTH_EXPIRED' });
    expect(await closeCode(c)).toBe(4401);
    expect(c.messages.some((m) => m.id === 'after')).toBe(false);
  });
});

describe('subscribe and cancel need the roles the job routes need over HTTP', () => {
  it('a DP, an auditor or a token with no role: 403 FORBIDDEN_ROLE over the socket as over HTTP', async () => {
    const job = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: { dataset: 'w', clks: clks.slice(0, 3).map(b64), threshold: 0.9, solution: 'pairs', purpose: 'kyc' },
    });
    expect(job.status, job.text).toBe(202);
    const path = `/v1/linkage-jobs/${job.json.id}`;
    const callers = { dp: t.tokens.dp, auditor: t.tokens.auditor, none: await mint({ sub: 'no-role', roles: [] }) };
    for (const [who, token] of Object.entries(callers)) {
      const viaHttp = await api(t.url, 'GET', path, { token });
      expectProblem(viaHttp, 403, 'FORBIDDEN_ROLE');
      expectProblem(await api(t.url, 'DELETE', path, { token }), 403, 'FORBIDDEN_ROLE');
      const c = await open(token);
      c.send({ type: 'subscribe', id: `s-${who}`, job: job.json.id });
      c.send({ type: 'cancel', id: `c-${who}`, job: job.json.id });
      for (const id of [`s-${who}`, `c-${who}`]) {
        const { problem } = await c.next((m) => m.id === id);
        expect(problem, `${who} ${id}`).toMatchObject({
          status: 403,
          code: 'FORBIDDEN_ROLE',
          detail: viaHttp.json.detail,
        });
      }
      c.ws.close();
    }
    // The roles HTTP allows still follow it: an admin's subscription gets the job's result.
    const admin = await open(t.tokens.admin);
    admin.send({ type: 'subscribe', id: 'a', job: job.json.id });
    expect(await admin.next((m) => m.type === 'result' && m.job === job.json.id)).toMatchObject({ status: 'done' });
    admin.ws.close();
  });
});

describe('/metrics counts every verify message answered over the socket', () => {
  async function wsCount(status: number): Promise<number> {
    const body = (await api(t.url, 'GET', '/metrics')).text;
    const line = body
      .split('\n')
      .find((l) => l.startsWith(`pavilion_http_requests_total{route="/v1/ws",method="WS",status="${status}"} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  }

  it('refusals included: 429 TOO_MANY_IN_FLIGHT, a missing id and validation errors (422)', async () => {
    const before = { 200: await wsCount(200), 422: await wsCount(422), 429: await wsCount(429) };
    const c = await open(t.tokens.rp);
    const flood = 20;
    for (let i = 0; i < flood; i++) c.send(verifyMsg(i, i));
    const answers = await Promise.all(Array.from({ length: flood }, (_, i) => c.next((m) => m.id === i)));
    const refused = answers.filter((m) => m.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((m) => m.problem.code === 'TOO_MANY_IN_FLIGHT')).toBe(true);

    const { id: _id, ...noId } = verifyMsg(0, 0);
    c.send(noId);
    await c.next((m) => m.type === 'error' && m.id === undefined && m.problem.code === 'VALIDATION_FAILED');
    c.send({ type: 'verify', id: 'incomplete', dataset: 'w' });
    expect((await c.next((m) => m.id === 'incomplete')).problem.code).toBe('VALIDATION_FAILED');
    c.ws.close();

    expect(await wsCount(429)).toBe(before[429] + refused.length);
    expect(await wsCount(200)).toBe(before[200] + flood - refused.length);
    expect(await wsCount(422)).toBe(before[422] + 2);
  });
});
