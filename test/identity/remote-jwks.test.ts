/**
 * Verification against keys served over real HTTP (node:http on 127.0.0.1):
 * JWKS_URL, OIDC discovery from the issuer (Keycloak's URL layout), key
 * rotation through the unknown-kid refetch, the refetch cooldown, and the
 * identity provider being unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { createVerifier, type Verifier } from '../../identity/index.js';
import { type JwksServer, startJwksServer } from './jwks-server.js';
import { AUDIENCE, makeKey, sign, standardClaims, type TestKey } from './tokens.js';

let idp: JwksServer;
let rsOld: TestKey;
let rsNew: TestKey;

beforeAll(async () => {
  [rsOld, rsNew] = await Promise.all([makeKey('RS256', 'rs-2025'), makeKey('RS256', 'rs-2026')]);
  idp = await startJwksServer({ keys: [rsOld.publicJwk] });
});
afterAll(async () => {
  await idp?.close();
});

function claims(overrides: Record<string, unknown> = {}) {
  return standardClaims({ iss: idp.issuer, ...overrides });
}

async function codeOf(v: Verifier, header: string): Promise<{ code: string; status: number }> {
  try {
    await v.verify(header);
  } catch (err) {
    expect(err).toBeInstanceOf(PavilionError);
    const e = err as PavilionError;
    return { code: e.code, status: e.status };
  }
  throw new Error('accepted');
}

/** A verifier that fetches the key set again at every use, with no token cache. */
const refetchingVerifier = (): Verifier =>
  createVerifier({
    issuer: idp.issuer,
    jwksUrl: idp.jwksUrl,
    audience: AUDIENCE,
    jwksMaxAgeMs: 0,
    jwksCooldownMs: 0,
    cacheSize: 0,
  });

describe('remote JWKS', () => {
  it('a jwksUrl without an issuer is refused: no `iss` would be checked', () => {
    expect(() => createVerifier({ jwksUrl: idp.jwksUrl, audience: AUDIENCE })).toThrow('jwksUrl needs an issuer');
  });

  it('RS256 via jwksUrl', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    const before = idp.jwksFetches;
    const v = createVerifier({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: AUDIENCE });
    const p = await v.verify(`Bearer ${await sign(rsOld, claims({ sub: 'bank-1' }))}`);
    expect(p.subject).toBe('bank-1');
    // The key set is cached: a second (different) token needs no fetch.
    await v.verify(`Bearer ${await sign(rsOld, claims({ sub: 'bank-2' }))}`);
    expect(idp.jwksFetches - before).toBe(1);
    expect(idp.discoveryFetches).toBe(0);
  });

  it('RS256 via OIDC discovery from the issuer, Keycloak-shaped token', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    const v = createVerifier({ issuer: idp.issuer, audience: AUDIENCE });
    const token = await sign(rsOld, claims({ roles: undefined, realm_access: { roles: ['rp', 'offline_access'] } }));
    const p = await v.verify(`Bearer ${token}`);
    expect([...p.roles]).toEqual(['rp']);
    expect(idp.discoveryFetches).toBe(1);
    await v.verify(`Bearer ${await sign(rsOld, claims({ sub: 'x' }))}`);
    expect(idp.discoveryFetches).toBe(1); // discovery happens once
  });

  it('key rotation: a new kid is accepted after one refetch', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    const v = createVerifier({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: AUDIENCE, jwksCooldownMs: 0 });
    await v.verify(`Bearer ${await sign(rsOld, claims())}`);
    const afterFirst = idp.jwksFetches;
    idp.jwks = { keys: [rsNew.publicJwk, rsOld.publicJwk] };
    const p = await v.verify(`Bearer ${await sign(rsNew, claims({ sub: 'after-rotation' }))}`);
    expect(p.subject).toBe('after-rotation');
    expect(idp.jwksFetches - afterFirst).toBe(1);
    // An unknown kid is refetched once and then rejected.
    const stranger = await makeKey('RS256', 'rs-unknown');
    const n = idp.jwksFetches;
    expect(await codeOf(v, `Bearer ${await sign(stranger, claims())}`)).toEqual({
      code: 'AUTH_UNKNOWN_KEY',
      status: 401,
    });
    expect(idp.jwksFetches - n).toBe(1);
  });

  it('within the cooldown an unknown kid is rejected without hitting the IdP', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    const v = createVerifier({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: AUDIENCE }); // default 30 s cooldown
    await v.verify(`Bearer ${await sign(rsOld, claims())}`);
    const n = idp.jwksFetches;
    const stranger = await makeKey('RS256', 'rs-random');
    for (let i = 0; i < 5; i++) {
      expect((await codeOf(v, `Bearer ${await sign(stranger, claims({ sub: `s${i}` }))}`)).code).toBe(
        'AUTH_UNKNOWN_KEY',
      );
    }
    expect(idp.jwksFetches).toBe(n);
  });

  it('a key the IdP removed stops authorising new tokens once the set is fetched again', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    // jose alone kept the set 10 minutes.
    const v = refetchingVerifier();
    await v.verify(`Bearer ${await sign(rsOld, claims())}`);
    idp.jwks = { keys: [rsNew.publicJwk] };
    expect((await codeOf(v, `Bearer ${await sign(rsOld, claims({ sub: 'after-removal' }))}`)).code).toBe(
      'AUTH_UNKNOWN_KEY',
    );
  });

  it('an IdP answering an error: 503 AUTH_KEYS_UNAVAILABLE, one fetch per cooldown, known keys kept', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    idp.jwksStatus = 503;
    try {
      const v = createVerifier({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: AUDIENCE }); // 30 s cooldown
      const n = idp.jwksFetches;
      // Tokens with random kids, as anyone can send: one fetch, then refused from the remembered failure.
      for (let i = 0; i < 5; i++) {
        const stranger = await makeKey('RS256', `random-${i}`);
        expect(await codeOf(v, `Bearer ${await sign(stranger, claims())}`)).toEqual({
          code: 'AUTH_KEYS_UNAVAILABLE',
          status: 503,
        });
      }
      expect(idp.jwksFetches - n).toBe(1);
      // A broker that has the keys goes on with them while the IdP fails to serve them again.
      idp.jwksStatus = undefined;
      const ok = refetchingVerifier();
      await ok.verify(`Bearer ${await sign(rsOld, claims())}`);
      idp.jwksStatus = 503;
      const m = idp.jwksFetches;
      expect((await ok.verify(`Bearer ${await sign(rsOld, claims({ sub: 'during-outage' }))}`)).subject).toBe(
        'during-outage',
      );
      expect(idp.jwksFetches - m).toBe(1);
    } finally {
      idp.jwksStatus = undefined;
    }
  });

  it('issuer check still applies to remote keys', async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    const v = createVerifier({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: AUDIENCE });
    expect((await codeOf(v, `Bearer ${await sign(rsOld, claims({ iss: 'https://other.test' }))}`)).code).toBe(
      'AUTH_ISSUER_INVALID',
    );
  });

  it("another issuer's token with a key we do not know is AUTH_ISSUER_INVALID, and costs no JWKS refetch", async () => {
    idp.jwks = { keys: [rsOld.publicJwk] };
    // No cooldown: an unknown kid of a token for this issuer is refetched every time.
    const v = createVerifier({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: AUDIENCE, jwksCooldownMs: 0 });
    await v.verify(`Bearer ${await sign(rsOld, claims())}`);
    // Another realm of the same Keycloak signs with its own key.
    const master = await makeKey('RS256', 'master-realm-key');
    const n = idp.jwksFetches;
    const foreign = await sign(master, claims({ iss: `${idp.baseUrl}/realms/master` }));
    expect(await codeOf(v, `Bearer ${foreign}`)).toEqual({ code: 'AUTH_ISSUER_INVALID', status: 401 });
    const noIss = claims();
    delete noIss.iss;
    expect((await codeOf(v, `Bearer ${await sign(master, noIss)}`)).code).toBe('AUTH_ISSUER_INVALID');
    expect(idp.jwksFetches).toBe(n);
    // Our issuer with a kid we do not know is still looked up (one refetch) and refused as such.
    expect(await codeOf(v, `Bearer ${await sign(master, claims())}`)).toEqual({
      code: 'AUTH_UNKNOWN_KEY',
      status: 401,
    });
    expect(idp.jwksFetches - n).toBe(1);
  });

  it('a discovery document naming another issuer is refused (503, not a 401)', async () => {
    idp.discoveryIssuer = 'https://attacker.test/realms/pavilion';
    try {
      const v = createVerifier({ issuer: idp.issuer, audience: AUDIENCE });
      expect(await codeOf(v, `Bearer ${await sign(rsOld, claims())}`)).toEqual({
        code: 'AUTH_KEYS_UNAVAILABLE',
        status: 503,
      });
    } finally {
      idp.discoveryIssuer = undefined;
    }
  });

  it('an unreachable JWKS endpoint gives 503 AUTH_KEYS_UNAVAILABLE quickly', async () => {
    const down = await startJwksServer({ keys: [] });
    const url = down.jwksUrl;
    const issuer = down.issuer;
    await down.close();
    const v = createVerifier({ issuer, jwksUrl: url, audience: AUDIENCE, fetchTimeoutMs: 2000 });
    const t0 = performance.now();
    expect(await codeOf(v, `Bearer ${await sign(rsOld, claims({ iss: issuer }))}`)).toEqual({
      code: 'AUTH_KEYS_UNAVAILABLE',
      status: 503,
    });
    const d = createVerifier({ issuer, audience: AUDIENCE, fetchTimeoutMs: 2000 });
    expect(await codeOf(d, `Bearer ${await sign(rsOld, claims({ iss: issuer }))}`)).toEqual({
      code: 'AUTH_KEYS_UNAVAILABLE',
      status: 503,
    });
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
