/**
 * Where verification keys come from: a local JWKS (the broker's own dev
 * issuer), a JWKS URL (JWKS_URL), or OIDC discovery from the issuer
 * (OIDC_ISSUER → <issuer>/.well-known/openid-configuration → jwks_uri,
 * OpenID Connect Discovery 1.0 §4).
 *
 * Remote key sets use jose's createRemoteJWKSet: it caches the set, and on a
 * kid it does not know it refetches once, unless it fetched within the
 * cooldown; that both picks up a rotated key quickly and stops a stream of
 * random kids from turning into a stream of requests to the IdP.
 */
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { authError, keysUnavailable } from './auth-errors.js';

export interface KeySourceOptions {
  issuer?: string;
  jwksUrl?: string;
  localJwks?: JSONWebKeySet;
  /** Minimum time between two refetches of a remote JWKS (jose default 30 s). */
  jwksCooldownMs?: number;
  /** A remote JWKS older than this is refetched before use (jose default 10 min). */
  jwksMaxAgeMs?: number;
  /** Timeout for discovery and JWKS requests. */
  fetchTimeoutMs?: number;
}

/** After a failed discovery, further attempts wait this long (protects the IdP and our latency). */
const DISCOVERY_RETRY_MS = 5_000;

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
    cooldownDuration: opts.jwksCooldownMs ?? 30_000,
    cacheMaxAge: opts.jwksMaxAgeMs ?? 600_000,
    timeoutDuration: fetchTimeoutMs,
  };

  let resolve: JWTVerifyGetKey;
  if (opts.localJwks !== undefined) {
    resolve = createLocalJWKSet(opts.localJwks);
  } else if (opts.jwksUrl !== undefined) {
    resolve = createRemoteJWKSet(parseHttpUrl(opts.jwksUrl, 'JWKS URL'), remoteOptions);
  } else if (opts.issuer !== undefined) {
    const issuer = opts.issuer;
    let remote: JWTVerifyGetKey | undefined;
    let pending: Promise<JWTVerifyGetKey> | undefined;
    let lastFailure: { at: number; error: unknown } | undefined;
    resolve = async (header, token) => {
      if (remote === undefined) {
        if (lastFailure !== undefined && Date.now() - lastFailure.at < DISCOVERY_RETRY_MS) throw lastFailure.error;
        pending ??= discoverJwksUri(issuer, fetchTimeoutMs).then(
          (uri) => (remote = createRemoteJWKSet(uri, remoteOptions)),
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
