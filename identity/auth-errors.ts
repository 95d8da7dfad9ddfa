/**
 * Authentication failures as PavilionErrors with stable codes (status 401).
 *
 * jose's errors are translated here, and deliberately *not* attached as
 * `cause`: jose's claim errors carry the whole token payload (personal data
 * such as a name or e-mail in an IdP token) and a logger that prints causes
 * would leak it. Messages never contain the token or its claims' values.
 */
import { errors as joseErrors } from 'jose';
import { PavilionError } from '../common/errors.js';

export type AuthErrorCode =
  | 'AUTH_MISSING'
  | 'AUTH_MALFORMED'
  | 'AUTH_ALG_NOT_ALLOWED'
  | 'AUTH_SIGNATURE_INVALID'
  | 'AUTH_EXPIRED'
  | 'AUTH_NOT_YET_VALID'
  | 'AUTH_ISSUER_INVALID'
  | 'AUTH_AUDIENCE_INVALID'
  | 'AUTH_UNKNOWN_KEY';

export function authError(code: AuthErrorCode, message: string): PavilionError {
  return new PavilionError(code, message);
}

/**
 * The identity provider's keys could not be fetched (network, timeout, bad
 * JWKS document). That is the broker's outage, not the caller's fault, so it
 * is a 503 and not one of the 401 codes: a client should retry, not re-login.
 */
export function keysUnavailable(message: string): PavilionError {
  return new PavilionError('AUTH_KEYS_UNAVAILABLE', message);
}

/** Maps an error thrown by jose's jwtVerify (or our key resolver) to a PavilionError. */
export function fromJoseError(err: unknown): PavilionError {
  if (err instanceof PavilionError) return err;
  if (err instanceof joseErrors.JWTExpired) return authError('AUTH_EXPIRED', 'token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    // iss/aud: absent or different both mean "not for us".
    if (err.claim === 'iss') return authError('AUTH_ISSUER_INVALID', 'token issuer is not accepted');
    if (err.claim === 'aud') return authError('AUTH_AUDIENCE_INVALID', 'token audience does not include this service');
    // A time check that failed; a non-numeric nbf is malformed instead (reason "invalid").
    if (err.claim === 'nbf' && err.reason === 'check_failed')
      return authError('AUTH_NOT_YET_VALID', 'token is not yet valid (nbf)');
    // A required claim (sub, exp) missing, or a claim of the wrong type.
    return authError('AUTH_MALFORMED', `token claim ${safeClaimName(err.claim)} is missing or invalid`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return authError('AUTH_ALG_NOT_ALLOWED', 'token signing algorithm is not allowed');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return authError('AUTH_SIGNATURE_INVALID', 'token signature is invalid');
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return authError('AUTH_UNKNOWN_KEY', 'token key id is not in the issuer key set');
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return authError('AUTH_UNKNOWN_KEY', 'token does not identify a single issuer key');
  if (err instanceof joseErrors.JWKSTimeout) return keysUnavailable('timed out fetching the issuer key set');
  if (err instanceof joseErrors.JWKSInvalid) return keysUnavailable('the issuer key set is invalid');
  if (err instanceof joseErrors.JOSENotSupported)
    return authError('AUTH_ALG_NOT_ALLOWED', 'token uses an unsupported algorithm or key type');
  if (
    err instanceof joseErrors.JWSInvalid ||
    err instanceof joseErrors.JWTInvalid ||
    err instanceof joseErrors.JWKInvalid
  ) {
    return authError('AUTH_MALFORMED', 'token is not a well-formed signed JWT');
  }
  if (err instanceof joseErrors.JOSEError) return authError('AUTH_MALFORMED', 'token could not be verified');
  // A fetch failure (connection refused, DNS) from the remote key set.
  if (err instanceof TypeError || (err instanceof Error && err.name === 'AbortError')) {
    return keysUnavailable('could not fetch the issuer key set');
  }
  return new PavilionError('AUTH_INTERNAL', 'token verification failed unexpectedly');
}

function safeClaimName(claim: unknown): string {
  return typeof claim === 'string' && /^[A-Za-z0-9_.-]{1,32}$/.test(claim) ? claim : 'unspecified';
}
