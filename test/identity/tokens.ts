/** Test key material and a token factory for the identity tests. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { CompactSign, type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export const ISSUER = 'https://idp.test/realms/pavilion';
export const AUDIENCE = 'pavilion-broker';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(alg: string, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export function b64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

export function standardClaims(overrides: JWTPayload = {}): JWTPayload {
  const t = nowSec();
  return { iss: ISSUER, aud: AUDIENCE, sub: 'acme-bank', iat: t, nbf: t, exp: t + 600, roles: ['rp'], ...overrides };
}

export async function sign(
  key: TestKey,
  claims: JWTPayload = standardClaims(),
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

/** Signs arbitrary payload bytes (for a non-JSON claims set with a valid signature). */
export async function signRaw(key: TestKey, payload: Uint8Array): Promise<string> {
  return new CompactSign(payload).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey);
}

/** The RSA public key in PEM, as an attacker would download it from the JWKS. */
export function rsaPublicPem(key: TestKey): string {
  const pub: KeyObject = createPublicKey({ key: key.publicJwk as never, format: 'jwk' });
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}
