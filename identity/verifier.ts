/**
 * Access-token verification for every request: Bearer header → verified
 * Principal, or a 401 PavilionError with a stable code (see auth-errors.ts).
 *
 * Checks: compact-JWS shape; with an issuer configured, the *unverified* `iss`
 * (only to answer AUTH_ISSUER_INVALID for another issuer's token, e.g. another
 * Keycloak realm, instead of AUTH_UNKNOWN_KEY, and so such a token costs no
 * JWKS refetch for its unknown kid); then jose's full verify, in its order:
 * `alg` in the allow-list (before any key is looked up, so `none` and
 * HS*-with-a-public-key confusion never reach a verifier); `kid` present in
 * the key set (remote sets are refetched once for an unknown kid); signature;
 * `iss`, `aud`, `exp`, `nbf` with a small clock tolerance; `sub` and `exp`
 * present.
 *
 * Verified tokens are cached (verified-token-cache.ts), and a hit still checks
 * `exp` against the clock.
 */
import { decodeJwt, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import { PavilionError } from '../common/errors.js';
import { PUBLIC_KEY_ALGORITHMS } from './algorithms.js';
import { authError, fromJoseError } from './auth-errors.js';
import { assertCompactJws, bearerToken } from './bearer.js';
import { createKeySource } from './key-source.js';
import { CLOCK_TOLERANCE_SEC, type Principal, principalFromClaims, tokenExpired } from './principal.js';
import { tokenCacheKey, VerifiedTokenCache } from './verified-token-cache.js';

export interface VerifierOptions {
  /** Expected `iss`. Without jwksUrl/localJwks, also the OIDC discovery base (OIDC_ISSUER). */
  issuer?: string;
  /** JWKS endpoint (JWKS_URL); skips discovery. */
  jwksUrl?: string;
  /** In-memory key set (the broker's local development issuer). */
  localJwks?: JSONWebKeySet;
  /** This broker's audience; tokens must list it in `aud`. */
  audience: string;
  /** Allowed signature algorithms; asymmetric only. Default ES256, RS256, EdDSA. */
  algorithms?: string[];
  /** Clock skew accepted on exp/nbf, seconds. Default CLOCK_TOLERANCE_SEC (30), as WebSocket sessions use. */
  clockToleranceSec?: number;
  /** Verified tokens kept (approximate LRU, see verified-token-cache.ts). Default 10 000; 0 disables the cache. */
  cacheSize?: number;
  /**
   * A cached token is fully re-verified after this long even if it has not
   * expired, default 300 s. With the key set's refresh (jwksMaxAgeMs) it bounds
   * how long a key removed from the JWKS (a revoked signing key) keeps
   * authorising tokens from the cache.
   */
  cacheMaxAgeSec?: number;
  /** Minimum interval between remote JWKS fetches for unknown kids or after a failed one. Default 30 000. */
  jwksCooldownMs?: number;
  /** A remote JWKS is fetched again after this long (identity/key-source.ts). Default 60 000. */
  jwksMaxAgeMs?: number;
  /** Timeout for discovery and JWKS fetches. Default 5 000. */
  fetchTimeoutMs?: number;
  /** Clock in ms since the epoch (tests). Default Date.now. */
  now?: () => number;
}

export interface Verifier {
  verify(authorizationHeader: string | undefined): Promise<Principal>;
  /** Number of verified tokens currently cached (for metrics). */
  readonly cachedTokens: number;
  /** Drops all cached verifications (e.g. after an operator revokes a key). */
  clearCache(): void;
}

export const DEFAULT_ALGORITHMS: readonly string[] = ['ES256', 'RS256', 'EdDSA'];

/** The only algorithms a JWKS-based verifier may accept (identity/algorithms.ts says why). */
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set(PUBLIC_KEY_ALGORITHMS);

function configError(message: string): PavilionError {
  return new PavilionError('IDENTITY_CONFIG_INVALID', message);
}

function checkedAlgorithms(algorithms: readonly string[] | undefined): string[] {
  const list = [...(algorithms ?? DEFAULT_ALGORITHMS)];
  if (list.length === 0) throw configError('the algorithm allow-list is empty');
  for (const alg of list) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg))
      throw configError(`algorithm ${JSON.stringify(alg)} may not be used with a JWKS (asymmetric algorithms only)`);
  }
  return list;
}

/**
 * Whether the token's unverified payload names another `iss` than `issuer` (or
 * none, as jose's check counts it). It only chooses the error: nothing else is
 * read from the payload before its signature is checked. A payload that does
 * not decode is left to jose's verify, which reports it as malformed.
 */
function foreignIssuer(token: string, issuer: string): boolean {
  let unverified: JWTPayload;
  try {
    unverified = decodeJwt(token);
  } catch {
    return false;
  }
  return unverified.iss !== issuer;
}

export function createVerifier(opts: VerifierOptions): Verifier {
  if (typeof opts.audience !== 'string' || opts.audience === '') throw configError('an audience is required');
  if (opts.localJwks === undefined && opts.jwksUrl === undefined && opts.issuer === undefined) {
    throw configError('one of issuer, jwksUrl or localJwks is required');
  }
  // A remote key set with no issuer would let in a token of any `iss` its keys verify (server/config.ts).
  if (opts.jwksUrl !== undefined && opts.issuer === undefined) throw configError('jwksUrl needs an issuer');
  const algorithms = checkedAlgorithms(opts.algorithms);
  const toleranceSec = opts.clockToleranceSec ?? CLOCK_TOLERANCE_SEC;
  if (!(toleranceSec >= 0 && toleranceSec <= 300)) throw configError('clockToleranceSec must be between 0 and 300');
  const cacheMaxAgeMs = (opts.cacheMaxAgeSec ?? 300) * 1000;
  const now = opts.now ?? Date.now;
  const audience = opts.audience;
  const cache = new VerifiedTokenCache(opts.cacheSize ?? 10_000);
  const getKey = createKeySource({
    issuer: opts.issuer,
    jwksUrl: opts.jwksUrl,
    localJwks: opts.localJwks,
    jwksCooldownMs: opts.jwksCooldownMs,
    jwksMaxAgeMs: opts.jwksMaxAgeMs,
    fetchTimeoutMs: opts.fetchTimeoutMs,
  });

  async function verifyToken(token: string, nowMs: number): Promise<Principal> {
    if (opts.issuer !== undefined && foreignIssuer(token, opts.issuer))
      throw authError('AUTH_ISSUER_INVALID', 'token issuer is not accepted');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms,
        audience,
        ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
        clockTolerance: toleranceSec,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(nowMs),
      }));
    } catch (err) {
      throw fromJoseError(err);
    }
    const principal = principalFromClaims(payload, audience);
    if (principal === undefined)
      throw authError(
        'AUTH_MALFORMED',
        'token sub, party, tenant or exp claim has an invalid type, length or characters',
      );
    return principal;
  }

  return {
    async verify(authorizationHeader) {
      const token = bearerToken(authorizationHeader);
      const nowMs = now();
      const key = tokenCacheKey(token);
      const hit = cache.get(key);
      if (hit !== undefined) {
        // The rule jose applies on a full verify (principal.ts, tokenExpired).
        if (tokenExpired(hit.principal, nowMs, toleranceSec)) {
          cache.delete(key);
          throw authError('AUTH_EXPIRED', 'token has expired');
        }
        if (nowMs <= hit.recheckAfterMs) return hit.principal;
        cache.delete(key);
      }
      const principal = await verifyToken(assertCompactJws(token), nowMs);
      cache.set(key, { principal, recheckAfterMs: nowMs + cacheMaxAgeMs });
      return principal;
    },
    get cachedTokens() {
      return cache.size;
    },
    clearCache() {
      cache.clear();
    },
  };
}
