/**
 * The names a token gives its caller (sub, party, tenant) are stored in Postgres, written to the audit
 * log and compared for dataset ownership, so a name that cannot survive that unchanged is refused at
 * authentication (401 AUTH_MALFORMED): a lone surrogate (stored as U+FFFD, which is another party's
 * name) or a control character (Postgres refuses NUL). And the one rule for an expired token, shared by
 * the verifier and WebSocket sessions (identity/principal.ts, tokenExpired).
 */
import type { JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { CLOCK_TOLERANCE_SEC, createVerifier, tokenExpired, type Verifier } from '../../identity/index.js';
import { AUDIENCE, ISSUER, makeKey, nowSec, sign, standardClaims, type TestKey } from './tokens.js';

let key: TestKey;
let verifier: Verifier;

beforeAll(async () => {
  key = await makeKey('ES256', 'names-1');
  verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: { keys: [key.publicJwk] } });
});

async function verifyClaims(overrides: JWTPayload) {
  return verifier.verify(`Bearer ${await sign(key, standardClaims(overrides))}`);
}

const UNSTORABLE = {
  'a lone high surrogate': 'd\ud800',
  'a lone low surrogate': '\udfffd',
  'a reversed surrogate pair': 'd\ude00\ud83d',
  NUL: 'dp\u0000x',
  'a newline': 'dp\nx',
  DEL: 'dp\u007fx',
  'a C1 control (NEL)': 'dp\u0085x',
};

describe('principal identifiers', () => {
  for (const claim of ['sub', 'party', 'tenant'] as const) {
    for (const [what, value] of Object.entries(UNSTORABLE)) {
      it(`refuses a ${claim} with ${what}: 401 AUTH_MALFORMED, never quoting it`, async () => {
        const err = await verifyClaims({ [claim]: value }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PavilionError);
        expect(err).toMatchObject({ code: 'AUTH_MALFORMED', status: 401 });
        expect((err as PavilionError).message).not.toContain(value);
        expect((err as PavilionError).message).toMatch(/sub, party, tenant or exp/);
      });
    }
  }

  it('accepts astral characters (a well-formed surrogate pair) in sub, party and tenant', async () => {
    const p = await verifyClaims({ sub: 'rp-😀', party: 'acme-𝔸', tenant: 'eu-🇪🇺' });
    expect(p).toMatchObject({ subject: 'acme-𝔸', tokenSubject: 'rp-😀', tenant: 'eu-🇪🇺' });
    expect((await verifyClaims({ sub: '😀' })).subject).toBe('😀');
    // Non-ASCII letters, and a space, are names like any other.
    expect((await verifyClaims({ sub: 'Zürich Bank' })).subject).toBe('Zürich Bank');
  });

  it('a tenant that is not a string, or empty, is still ignored (it is not ours)', async () => {
    for (const tenant of [42, '', ['t'], { id: 't' }]) {
      const p = await verifyClaims({ tenant });
      expect(p.tenant, JSON.stringify(tenant)).toBeUndefined();
    }
  });

  it('a tenant longer than 255 characters is refused like sub and party', async () => {
    expect(await verifyClaims({ tenant: 't'.repeat(256) }).catch((e: unknown) => e)).toMatchObject({
      code: 'AUTH_MALFORMED',
    });
    expect((await verifyClaims({ tenant: 't'.repeat(255) })).tenant).toHaveLength(255);
  });

  it('role names that are ill-formed or hold controls grant nothing and do not refuse the token', async () => {
    const p = await verifyClaims({ roles: ['rp\ud800', 'dp\u0000', 'admin\n', 'auditor'] });
    expect([...p.roles]).toEqual(['auditor']);
  });
});

describe('tokenExpired: the one rule for an expired token', () => {
  it('is jose’s rule on a full verify, at and around exp + tolerance', async () => {
    const tolerance = 5;
    const t = nowSec();
    const exp = t + 60;
    const header = `Bearer ${await sign(key, standardClaims({ iat: t, nbf: t, exp }))}`;
    const principal = await verifier.verify(header);
    for (const atMs of [(exp + tolerance - 1) * 1000 + 999, (exp + tolerance) * 1000, (exp + tolerance) * 1000 + 1]) {
      // A verifier without a cache verifies in full every time: jose decides.
      const fresh = createVerifier({
        issuer: ISSUER,
        audience: AUDIENCE,
        localJwks: { keys: [key.publicJwk] },
        clockToleranceSec: tolerance,
        cacheSize: 0,
        now: () => atMs,
      });
      const joseSaysExpired = await fresh.verify(header).then(
        () => false,
        (err: PavilionError) => err.code === 'AUTH_EXPIRED',
      );
      expect(tokenExpired(principal, atMs, tolerance), `at ${atMs - exp * 1000} ms past exp`).toBe(joseSaysExpired);
    }
  });

  it('defaults to the verifier’s default tolerance, 30 s', () => {
    const principal = { subject: 's', roles: new Set<never>(), expiresAt: 1_000_000 };
    expect(CLOCK_TOLERANCE_SEC).toBe(30);
    expect(tokenExpired(principal, (1_000_000 + 10) * 1000)).toBe(false);
    expect(tokenExpired(principal, (1_000_000 + 29) * 1000 + 999)).toBe(false);
    expect(tokenExpired(principal, (1_000_000 + 30) * 1000)).toBe(true);
  });
});
