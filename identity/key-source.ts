/**
 * Where verification keys come from: a local JWKS (the broker's own dev
 * issuer), a JWKS URL (JWKS_URL), or OIDC discovery from the issuer
 * (OIDC_ISSUER → <issuer>/.well-known/openid-configuration → jwks_uri,
 * OpenID Connect Discovery 1.0 §4).
 *
 * A remote key set (remoteKeySet) is held by jose's createRemoteJWKSet, but fetched on our terms:
 * - every JWKS_REFRESH_MS it is fetched again, so a key the IdP removed (a revoked signing key) stops
 *   authorising new tokens within that time; jose's own expiry (10 min) was the bound before, not the token
 *   cache's 5 min the docs promised. A fetch that fails keeps the set we have: an IdP outage does not lock
 *   out tokens signed by keys we know;
 * - a kid it does not know makes one fetch, unless one was tried within the cooldown, failed or not: jose
 *   counted the cooldown from its last successful fetch, so while the IdP failed every token with a random
 *   kid became a request to it;
 * - a failed fetch (an error status, a timeout, a document that is not a key set) is AUTH_KEYS_UNAVAILABLE,
 *   503: jose's error for a non-200 answer was taken for a malformed token (401).
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  errors as joseErrors,
} from 'jose';
import { authError, fromJoseError, keysUnavailable } from './auth-errors.js';

export interface KeySourceOptions {
  issuer?: string;
  jwksUrl?: string;
  localJwks?: JSONWebKeySet;
  /** Minimum time between two fetches of a remote JWKS for an unknown kid, or after a failure. Default 30 s. */
  jwksCooldownMs?: number;
  /** A remote JWKS fetched longer ago than this is fetched again before use. Default JWKS_REFRESH_MS. */
  jwksMaxAgeMs?: number;
  /** Timeout for discovery and JWKS requests. */
  fetchTimeoutMs?: number;
}

/** After a failed discovery, further attempts wait this long (protects the IdP and our latency). */
const DISCOVERY_RETRY_MS = 5_000;
/** How often a remote key set in use is fetched again (see above). */
export const JWKS_REFRESH_MS = 60_000;

/** A remote key set fetched on the terms above. */
function remoteKeySet(url: URL, o: { refreshMs: number; cooldownMs: number; timeoutMs: number }): JWTVerifyGetKey {
  // jose never fetches by itself (its set never expires, its unknown-kid cooldown never ends): we call reload().
  const remote = createRemoteJWKSet(url, {
    cacheMaxAge: Number.POSITIVE_INFINITY,
    cooldownDuration: Number.POSITIVE_INFINITY,
    timeoutDuration: o.timeoutMs,
  });
  let loadedAt = Number.NEGATIVE_INFINITY;
  let triedAt = Number.NEGATIVE_INFINITY;
  let failure: Error | undefined;
  const fetchKeys = async (): Promise<void> => {
    triedAt = Date.now();
    try {
      await remote.reload();
      loadedAt = Date.now();
      failure = undefined;
    } catch (err) {
      const mapped = fromJoseError(err);
      failure =
        mapped.code === 'AUTH_KEYS_UNAVAILABLE' ? mapped : keysUnavailable('could not fetch the issuer key set');
      throw failure;
    }
  };
  const coolingDown = () => Date.now() - triedAt < o.cooldownMs;
  return async (header, token) => {
    if (remote.jwks() === undefined) {
      if (failure && coolingDown()) throw failure;
      await fetchKeys();
    } else if (Date.now() - loadedAt >= o.refreshMs && !coolingDown()) {
      await fetchKeys().catch(() => {}); // the IdP failing: go on with the keys we have
    }
    try {
      return await remote(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      if (coolingDown()) throw failure ?? err;
      await fetchKeys();
      return remote(header, token);
    }
  };
}

function parseHttpUrl(value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw keysUnavailable(`${what} is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw keysUnavailable(`${what} must be an http(s) URL`);
  return url;
}

/** `<issuer>/.well-known/openid-configuration`, keeping any path (Keycloak issuers are /realms/<name>). */
export function discoveryUrl(issuer: string): URL {
  const base = parseHttpUrl(issuer, 'OIDC issuer');
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  return base;
}

async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<URL> {
  let response: Response;
  try {
    response = await fetch(discoveryUrl(issuer), {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
    });
  } catch {
    throw keysUnavailable('could not reach the OIDC discovery document');
  }
  if (!response.ok) throw keysUnavailable(`OIDC discovery answered HTTP ${response.status}`);
  let doc: unknown;
  try {
    doc = await response.json();
  } catch {
    throw keysUnavailable('OIDC discovery document is not JSON');
  }
  const d = doc as { issuer?: unknown; jwks_uri?: unknown };
  // OIDC Discovery §4.3: the document's issuer must be exactly the one we
  // asked; otherwise an attacker-controlled document could name other keys.
  if (typeof doc !== 'object' || doc === null || d.issuer !== issuer) {
    throw keysUnavailable('OIDC discovery document names a different issuer');
  }
  if (typeof d.jwks_uri !== 'string') throw keysUnavailable('OIDC discovery document has no jwks_uri');
  return parseHttpUrl(d.jwks_uri, 'jwks_uri');
}

/**
 * The getKey function handed to jose's jwtVerify. It insists on a `kid`:
 * every key set we trust names its keys, and without a kid jose would try
 * "the" key of the right type, which silently breaks on the first rotation.
 */
export function createKeySource(opts: KeySourceOptions): JWTVerifyGetKey {
  const fetchTimeoutMs = opts.fetchTimeoutMs ?? 5_000;
  const remoteOptions = {
    cooldownMs: opts.jwksCooldownMs ?? 30_000,
    refreshMs: opts.jwksMaxAgeMs ?? JWKS_REFRESH_MS,
    timeoutMs: fetchTimeoutMs,
  };

  let resolve: JWTVerifyGetKey;
  if (opts.localJwks !== undefined) {
    resolve = createLocalJWKSet(opts.localJwks);
  } else if (opts.jwksUrl !== undefined) {
    resolve = remoteKeySet(parseHttpUrl(opts.jwksUrl, 'JWKS URL'), remoteOptions);
  } else if (opts.issuer !== undefined) {
    const issuer = opts.issuer;
    let remote: JWTVerifyGetKey | undefined;
    let pending: Promise<JWTVerifyGetKey> | undefined;
    let lastFailure: { at: number; error: unknown } | undefined;
    resolve = async (header, token) => {
      if (remote === undefined) {
        if (lastFailure !== undefined && Date.now() - lastFailure.at < DISCOVERY_RETRY_MS) throw lastFailure.error;
        pending ??= discoverJwksUri(issuer, fetchTimeoutMs).then(
          (uri) => (remote = remoteKeySet(uri, remoteOptions)),
          (error: unknown) => {
            lastFailure = { at: Date.now(), error };
            pending = undefined;
            throw error;
          },
        );
        await pending;
      }
      return remote!(header, token);
    };
  } else {
    throw new Error('createKeySource needs localJwks, jwksUrl or issuer');
  }

  return async (header, token) => {
    if (typeof header.kid !== 'string' || header.kid === '')
      throw authError('AUTH_UNKNOWN_KEY', 'token header has no kid');
    return resolve(header, token);
  };
}
