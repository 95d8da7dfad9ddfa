/**
 * Party identity: the `party` claim an issuer pins wins over `sub`, which an
 * IdP may regenerate (identity/principal.ts, PARTY_CLAIM). Real Keycloak
 * tokens and a realm re-import are in keycloak.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { createVerifier, PARTY_CLAIM, type Verifier } from '../../identity/index.js';
import { AUDIENCE, ISSUER, makeKey, sign, standardClaims, type TestKey } from './tokens.js';

let key: TestKey;
let verifier: Verifier;

beforeAll(async () => {
  key = await makeKey('ES256', 'party-1');
  verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: { keys: [key.publicJwk] } });
});

describe('party identity', () => {
  it('is the party claim when the issuer sets one, whatever the sub', async () => {
    const first = await verifier.verify(`Bearer ${await sign(key, standardClaims({ sub: 'uuid-1', party: 'acme' }))}`);
    const again = await verifier.verify(`Bearer ${await sign(key, standardClaims({ sub: 'uuid-2', party: 'acme' }))}`);
    expect(PARTY_CLAIM).toBe('party');
    expect(first).toMatchObject({ subject: 'acme', tokenSubject: 'uuid-1' });
    expect(again).toMatchObject({ subject: 'acme', tokenSubject: 'uuid-2' });
  });

  it('is the sub without a party claim', async () => {
    const p = await verifier.verify(`Bearer ${await sign(key, standardClaims({ sub: 'registry' }))}`);
    expect(p).toMatchObject({ subject: 'registry', tokenSubject: 'registry' });
  });

  it('refuses a party claim that is not a usable string instead of falling back to the sub', async () => {
    for (const party of ['', 42, ['acme'], 'x'.repeat(256)]) {
      const token = await sign(key, standardClaims({ sub: 'uuid-3', party }));
      const err = await verifier.verify(`Bearer ${token}`).catch((e: unknown) => e);
      expect(err, JSON.stringify(party)).toBeInstanceOf(PavilionError);
      expect((err as PavilionError).code).toBe('AUTH_MALFORMED');
      expect((err as PavilionError).status).toBe(401);
    }
  });
});
