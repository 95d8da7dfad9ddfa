/**
 * Access-token verification against an in-memory JWKS: every class of bad
 * token is rejected with its own stable code, good tokens produce the right
 * principal, and the verified-token cache behaves (hit = same principal,
 * expiry still enforced, bounded size).
 */
import { createHmac } from 'node:crypto';
import { CompactSign, type JSONWebKeySet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { createVerifier, type Principal, requireRole, type Verifier } from '../../identity/index.js';
import {
  AUDIENCE,
  b64url,
  ISSUER,
  makeKey,
  nowSec,
  rsaPublicPem,
  sign,
  signRaw,
  standardClaims,
  type TestKey,
} from './tokens.js';

let es: TestKey;
let rs: TestKey;
let es384: TestKey;
let ps256: TestKey;
let ed: TestKey;
let outsider: TestKey;
let jwks: JSONWebKeySet;
let verifier: Verifier;

beforeAll(async () => {
  [es, rs, es384, ps256, ed, outsider] = await Promise.all([
    makeKey('ES256', 'es-1'),
    makeKey('RS256', 'rs-1'),
    makeKey('ES384', 'es384-1'),
    makeKey('PS256', 'ps-1'),
    makeKey('EdDSA', 'ed-1'),
    makeKey('ES256', 'not-in-jwks'),
  ]);
  // ES384 and PS256 keys are *in* the key set, so the only reason to reject
  // their tokens is the algorithm allow-list.
  jwks = { keys: [es.publicJwk, rs.publicJwk, es384.publicJwk, ps256.publicJwk, ed.publicJwk] };
  verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: jwks, clockToleranceSec: 5 });
});

async function rejection(header: string | undefined, v: Verifier = verifier): Promise<PavilionError> {
  try {
    await v.verify(header);
  } catch (err) {
    expect(err).toBeInstanceOf(PavilionError);
    return err as PavilionError;
  }
  throw new Error('token was accepted');
}

async function expectRejected(token: string, code: string, v: Verifier = verifier): Promise<void> {
  const err = await rejection(`Bearer ${token}`, v);
  expect(err.code).toBe(code);
  expect(err.status).toBe(401);
  // Never echo the credential: not the token, nor any of its three parts.
  for (const part of token.split('.').filter((p) => p.length >= 8)) expect(err.message).not.toContain(part);
  expect(JSON.stringify(err)).not.toContain(token);
  expect(err.cause).toBeUndefined();
}

function withPayload(token: string, change: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
  change(payload);
  return `${h}.${b64url(JSON.stringify(payload))}.${s}`;
}

describe('bad tokens are rejected with their code', () => {
  it('alg none', async () => {
    const header = b64url(JSON.stringify({ alg: 'none', kid: 'es-1', typ: 'JWT' }));
    const unsigned = `${header}.${b64url(JSON.stringify(standardClaims()))}.`;
    await expectRejected(unsigned, 'AUTH_ALG_NOT_ALLOWED');
  });

  it('algorithms outside the allow-list, even with their key in the JWKS (ES384, PS256)', async () => {
    await expectRejected(await sign(es384), 'AUTH_ALG_NOT_ALLOWED');
    await expectRejected(await sign(ps256), 'AUTH_ALG_NOT_ALLOWED');
  });

  it('HS256 signed with the RSA public key bytes as HMAC secret (key confusion)', async () => {
    const secret = new TextEncoder().encode(rsaPublicPem(rs));
    const header = b64url(JSON.stringify({ alg: 'HS256', kid: 'rs-1', typ: 'JWT' }));
    const payload = b64url(JSON.stringify(standardClaims({ roles: ['admin'] })));
    const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    await expectRejected(`${header}.${payload}.${mac}`, 'AUTH_ALG_NOT_ALLOWED');
    // Same attack through jose's own signer, and with the JWK's modulus as secret.
    const viaJose = await new CompactSign(new TextEncoder().encode(JSON.stringify(standardClaims())))
      .setProtectedHeader({ alg: 'HS256', kid: 'rs-1' })
      .sign(secret);
    await expectRejected(viaJose, 'AUTH_ALG_NOT_ALLOWED');
  });

  it('a verifier cannot be configured to accept none or HS* with a JWKS', () => {
    for (const algorithms of [['none'], ['HS256'], ['ES256', 'HS512'], []]) {
      expect(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: jwks, algorithms })).toThrow(
        expect.objectContaining({ code: 'IDENTITY_CONFIG_INVALID' }),
      );
    }
  });

  it('wrong audience', async () => {
    await expectRejected(await sign(es, standardClaims({ aud: 'some-other-service' })), 'AUTH_AUDIENCE_INVALID');
    await expectRejected(await sign(es, standardClaims({ aud: ['account', 'x'] })), 'AUTH_AUDIENCE_INVALID');
  });

  it('wrong issuer', async () => {
    await expectRejected(
      await sign(es, standardClaims({ iss: 'https://evil.test/realms/pavilion' })),
      'AUTH_ISSUER_INVALID',
    );
    // Prefix/trailing-slash variants are different issuers (exact match).
    await expectRejected(await sign(es, standardClaims({ iss: `${ISSUER}/` })), 'AUTH_ISSUER_INVALID');
    // Another issuer's token names a key we do not have (another Keycloak realm): still the issuer's code.
    await expectRejected(
      await sign(outsider, standardClaims({ iss: 'https://idp.test/realms/master' })),
      'AUTH_ISSUER_INVALID',
    );
  });

  it('expired, beyond the clock tolerance', async () => {
    const t = nowSec();
    await expectRejected(await sign(es, standardClaims({ iat: t - 7200, nbf: t - 7200, exp: t - 60 })), 'AUTH_EXPIRED');
  });

  it('expired but within the tolerance is still accepted', async () => {
    const t = nowSec();
    const p = await verifier.verify(
      `Bearer ${await sign(es, standardClaims({ iat: t - 100, nbf: t - 100, exp: t - 2 }))}`,
    );
    expect(p.subject).toBe('acme-bank');
  });

  it('not yet valid (nbf in the future)', async () => {
    const t = nowSec();
    await expectRejected(await sign(es, standardClaims({ nbf: t + 3600, exp: t + 7200 })), 'AUTH_NOT_YET_VALID');
  });

  it('unknown kid, and no kid at all', async () => {
    await expectRejected(await sign(outsider), 'AUTH_UNKNOWN_KEY');
    const noKid = await new CompactSign(new TextEncoder().encode(JSON.stringify(standardClaims())))
      .setProtectedHeader({ alg: 'ES256' })
      .sign(es.privateKey);
    await expectRejected(noKid, 'AUTH_UNKNOWN_KEY');
  });

  it('a kid from the JWKS but signed by another key', async () => {
    await expectRejected(await sign({ ...outsider, kid: 'es-1' }), 'AUTH_SIGNATURE_INVALID');
  });

  it('tampered signature', async () => {
    const token = await sign(es);
    const [h, p, s] = token.split('.');
    const i = 10; // a middle character: every bit of it is significant
    const flipped = s!.slice(0, i) + (s![i] === 'A' ? 'B' : 'A') + s!.slice(i + 1);
    await expectRejected(`${h}.${p}.${flipped}`, 'AUTH_SIGNATURE_INVALID');
    const rsToken = await sign(rs);
    const parts = rsToken.split('.');
    await expectRejected(`${parts[0]}.${parts[1]}.${b64url(Buffer.alloc(256, 7))}`, 'AUTH_SIGNATURE_INVALID');
  });

  it('tampered payload (privilege escalation attempt)', async () => {
    await expectRejected(
      withPayload(await sign(es), (p) => (p.roles = ['admin'])),
      'AUTH_SIGNATURE_INVALID',
    );
    await expectRejected(
      withPayload(await sign(rs), (p) => (p.sub = 'someone-else')),
      'AUTH_SIGNATURE_INVALID',
    );
  });

  it('malformed: two parts, four parts, bad base64url, non-JSON header, non-JSON payload', async () => {
    const token = await sign(es);
    const [h, p, s] = token.split('.');
    await expectRejected(`${h}.${p}`, 'AUTH_MALFORMED');
    await expectRejected(`${h}.${p}.${s}.${s}`, 'AUTH_MALFORMED');
    await expectRejected(`${h}.${p}!.${s}`, 'AUTH_MALFORMED');
    await expectRejected(`${h}.${p.replace(/./, '+')}.${s}`, 'AUTH_MALFORMED');
    await expectRejected(`${b64url('{"alg":"ES256",')}.${p}.${s}`, 'AUTH_MALFORMED');
    await expectRejected(`${b64url('not json at all')}.${p}.${s}`, 'AUTH_MALFORMED');
    await expectRejected(`${b64url('[1,2]')}.${p}.${s}`, 'AUTH_MALFORMED');
    await expectRejected(
      `${b64url('{"alg":"ES256","kid":"es-1"}')}.${p}.${s}`.replace(/\..*?\./, '.A.'),
      'AUTH_MALFORMED',
    );
    // Correctly signed, but the payload is not a JSON object.
    await expectRejected(await signRaw(es, new TextEncoder().encode('hello')), 'AUTH_MALFORMED');
    await expectRejected(await signRaw(es, new TextEncoder().encode('[1,2,3]')), 'AUTH_MALFORMED');
  });

  it('missing sub or exp, or a wrong claim type', async () => {
    const noSub = standardClaims();
    delete noSub.sub;
    await expectRejected(await sign(es, noSub), 'AUTH_MALFORMED');
    const noExp = standardClaims();
    delete noExp.exp;
    await expectRejected(await sign(es, noExp), 'AUTH_MALFORMED');
    await expectRejected(await sign(es, standardClaims({ sub: '' })), 'AUTH_MALFORMED');
    await expectRejected(await sign(es, standardClaims({ nbf: 'yesterday' as never })), 'AUTH_MALFORMED');
    await expectRejected(await sign(es, standardClaims({ exp: '2099-01-01' as never })), 'AUTH_MALFORMED');
    await expectRejected(await sign(es, standardClaims({ sub: 42 as never })), 'AUTH_MALFORMED');
    const noIss = standardClaims();
    delete noIss.iss;
    await expectRejected(await sign(es, noIss), 'AUTH_ISSUER_INVALID');
  });

  it('missing header, empty header, non-Bearer scheme, empty bearer, oversized token', async () => {
    expect((await rejection(undefined)).code).toBe('AUTH_MISSING');
    expect((await rejection('')).code).toBe('AUTH_MISSING');
    expect((await rejection('   ')).code).toBe('AUTH_MISSING');
    expect((await rejection('Bearer')).code).toBe('AUTH_MISSING');
    expect((await rejection('Bearer    ')).code).toBe('AUTH_MISSING');
    const token = await sign(es);
    for (const h of [`Basic ${token}`, `Token ${token}`, `${token}`, `DPoP ${token}`]) {
      const err = await rejection(h);
      expect(err.code).toBe('AUTH_MALFORMED');
      expect(err.message).not.toContain(token.split('.')[2]);
    }
    expect((await rejection(`Bearer ${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`)).code).toBe('AUTH_MALFORMED');
  });
});

describe('good tokens', () => {
  it('ES256, RS256 and EdDSA tokens verify; the scheme is case-insensitive', async () => {
    for (const key of [es, rs, ed]) {
      const p = await verifier.verify(
        `Bearer ${await sign(key, standardClaims({ sub: `sub-${key.kid}`, jti: 'j-1', tenant: 't-9' }))}`,
      );
      expect(p.subject).toBe(`sub-${key.kid}`);
      expect([...p.roles]).toEqual(['rp']);
      expect(p.tokenId).toBe('j-1');
      expect(p.tenant).toBe('t-9');
    }
    const p = await verifier.verify(`bearer ${await sign(es)}`);
    expect(p.subject).toBe('acme-bank');
  });

  it('Keycloak-shaped payload: realm and own-client roles, other clients and unknown roles ignored', async () => {
    const claims = standardClaims({
      aud: [AUDIENCE, 'account'],
      roles: undefined,
      azp: 'acme-portal',
      realm_access: { roles: ['dp', 'offline_access', 'uma_authorization', 'default-roles-pavilion'] },
      resource_access: {
        [AUDIENCE]: { roles: ['auditor'] },
        'other-client': { roles: ['admin'] },
        account: { roles: ['manage-account'] },
      },
      preferred_username: 'registry-bot',
    });
    delete claims.roles;
    const p = await verifier.verify(`Bearer ${await sign(rs, claims)}`);
    expect([...p.roles].sort()).toEqual(['auditor', 'dp']);
    expect(p.roles.has('admin')).toBe(false);
    expect(p.tenant).toBeUndefined();
  });

  it('roles claim of the wrong type grants nothing', async () => {
    const p = await verifier.verify(
      `Bearer ${await sign(es, standardClaims({ roles: 'admin' as never, realm_access: { roles: 'rp' } }))}`,
    );
    expect(p.roles.size).toBe(0);
  });

  it('requireRole passes with any listed role and throws 403 FORBIDDEN_ROLE otherwise', async () => {
    const p = await verifier.verify(`Bearer ${await sign(es)}`);
    expect(() => requireRole(p, 'rp')).not.toThrow();
    expect(() => requireRole(p, 'admin', 'rp')).not.toThrow();
    try {
      requireRole(p, 'auditor', 'admin');
      throw new Error('not thrown');
    } catch (err) {
      expect(err).toMatchObject({ code: 'FORBIDDEN_ROLE', status: 403 });
      expect((err as Error).message).not.toContain('acme-bank');
    }
  });
});

describe('verified-token cache', () => {
  it('a hit returns the same (frozen) principal without verifying again', async () => {
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: jwks });
    const header = `Bearer ${await sign(es)}`;
    const first = await v.verify(header);
    const second = await v.verify(header);
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(v.cachedTokens).toBe(1);
  });

  it('an expired cached token is rejected, with the same tolerance as a full verify', async () => {
    let clock = Date.now();
    const v = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      localJwks: jwks,
      clockToleranceSec: 5,
      now: () => clock,
    });
    const t = Math.floor(clock / 1000);
    const header = `Bearer ${await sign(es, standardClaims({ iat: t, nbf: t, exp: t + 60 }))}`;
    const p: Principal = await v.verify(header);
    expect(v.cachedTokens).toBe(1);
    clock = (t + 64) * 1000; // inside exp + tolerance: still served from cache
    expect(await v.verify(header)).toBe(p);
    clock = (t + 66) * 1000;
    const err = await rejection(header, v);
    expect(err.code).toBe('AUTH_EXPIRED');
    expect(v.cachedTokens).toBe(0);
    expect((await rejection(header, v)).code).toBe('AUTH_EXPIRED'); // and on the full path too
  });

  it('entries are re-verified after cacheMaxAgeSec (bounds key revocation)', async () => {
    let clock = Date.now();
    const v = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      localJwks: jwks,
      cacheMaxAgeSec: 60,
      now: () => clock,
    });
    const header = `Bearer ${await sign(es)}`;
    const p = await v.verify(header);
    clock += 61_000;
    const again = await v.verify(header);
    expect(again).not.toBe(p);
    expect(again).toEqual(p);
  });

  it('is bounded, keeps entries in use, evicts idle ones, and can be disabled', async () => {
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: jwks, cacheSize: 10 });
    const headers = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => `Bearer ${await sign(es, standardClaims({ sub: `s${i}` }))}`),
    );
    const hot = await v.verify(headers[0]);
    const idle = await v.verify(headers[1]);
    for (let i = 2; i < 30; i++) {
      await v.verify(headers[i]);
      expect(await v.verify(headers[0])).toBe(hot); // used all along: never evicted
      expect(v.cachedTokens).toBeLessThanOrEqual(10);
    }
    const idleAgain = await v.verify(headers[1]);
    expect(idleAgain).not.toBe(idle); // evicted, verified afresh
    expect(idleAgain).toEqual(idle);
    const none = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: jwks, cacheSize: 0 });
    const h = `Bearer ${await sign(es)}`;
    expect(await none.verify(h)).not.toBe(await none.verify(h));
    expect(none.cachedTokens).toBe(0);
  });

  it('bad tokens are not cached', async () => {
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: jwks });
    await rejection(`Bearer ${await sign(outsider)}`, v);
    expect(v.cachedTokens).toBe(0);
  });
});
