/**
 * Pulls the token out of an `Authorization: Bearer <token>` header
 * (RFC 6750 §2.1). The scheme name is case-insensitive (RFC 9110 §11.1).
 * Only the compact-JWS character set is accepted, and the length is capped so
 * hashing, caching and base64 decoding are bounded for any input.
 */
import { authError } from './auth-errors.js';

/** Largest token accepted. Keycloak tokens with many roles reach 2–3 KB. */
export const MAX_TOKEN_LENGTH = 8192;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * The token of a Bearer header, checked for scheme, emptiness and length only: enough to hash it as a
 * cache key. A token found in the verified-token cache passed assertCompactJws when it was verified, so
 * identity/verifier.ts runs that check on a miss only (its regex over the whole token was ~1 µs of a
 * cache-hit answer's ~60; docs/decisions.md, "The cache-hit path").
 */
export function bearerToken(authorizationHeader: string | undefined): string {
  if (authorizationHeader === undefined || authorizationHeader.trim() === '') {
    throw authError('AUTH_MISSING', 'an Authorization: Bearer token is required');
  }
  const header = authorizationHeader.trim();
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    throw authError('AUTH_MALFORMED', 'the Authorization scheme must be Bearer');
  }
  const token = space < 0 ? '' : header.slice(space + 1).trim();
  if (token === '') throw authError('AUTH_MISSING', 'the Bearer token is empty');
  if (token.length > MAX_TOKEN_LENGTH)
    throw authError('AUTH_MALFORMED', `the token is longer than ${MAX_TOKEN_LENGTH} characters`);
  return token;
}

/** Throws AUTH_MALFORMED unless `token` is a compact JWS: three base64url parts, none of length 4n+1. */
export function assertCompactJws(token: string): string {
  if (!COMPACT_JWS.test(token)) {
    throw authError('AUTH_MALFORMED', 'the token is not a compact JWS (three base64url parts)');
  }
  // A base64url string of length 4n+1 encodes no whole byte sequence (RFC 4648
  // §5): reject it here instead of letting a lenient decoder guess.
  for (const part of token.split('.')) {
    if (part.length % 4 === 1) throw authError('AUTH_MALFORMED', 'the token has a part that is not valid base64url');
  }
  return token;
}
