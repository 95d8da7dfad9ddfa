/**
 * The JWS algorithms a published public key may verify (RFC 7518 §3.1, RFC 8037, RFC 9864's Ed25519): the
 * one list for access tokens checked against a JWKS (identity/verifier.ts) and for the policy bundle's
 * signature key (POLICY_BUNDLE_KEY_ALG, server/config.ts). `none` is unsigned, and HS* would turn a
 * published public key into an HMAC secret anyone can sign with.
 */
export const PUBLIC_KEY_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
] as const;

export type PublicKeyAlgorithm = (typeof PUBLIC_KEY_ALGORITHMS)[number];
