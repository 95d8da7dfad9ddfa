/**
 * The broker's own development issuer, used when no OIDC issuer is
 * configured: an ES256 key generated on first use and persisted (mode 0600),
 * its public half served as the broker's JWKS, and a minting function for
 * `pavilion token`. Because the key lives in a file, a token minted by a
 * separate `pavilion token` process verifies in the running broker as long
 * as both use the same key file, issuer and audience.
 */
import { randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from 'jose';
import { isPavilionError, PavilionError } from '../common/errors.js';
import { isIdentifier, isRole, ROLES, type Role } from './principal.js';
import { createVerifier, type Verifier } from './verifier.js';

export const DEFAULT_KEY_FILE = join('.pavilion', 'identity-key.json');
export const DEFAULT_TOKEN_TTL_SEC = 3600;
/** Dev tokens are for development; a week is the longest one may live. */
export const MAX_TOKEN_TTL_SEC = 7 * 24 * 3600;

const SIGNING_ALG = 'ES256';

export interface LocalIdentityOptions {
  /** Persisted private JWK. Default .pavilion/identity-key.json under the current directory. */
  keyFile?: string;
  /** `iss` of minted tokens, e.g. http://127.0.0.1:8080. */
  issuer: string;
  /** `aud` of minted tokens and the audience the verifier requires. */
  audience: string;
  /** Verifier cache size (see createVerifier). */
  cacheSize?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface MintOptions {
  sub: string;
  roles: string[];
  ttlSec?: number;
  tenant?: string;
}

export interface LocalIdentity {
  /** Public key set for GET /.well-known/jwks.json. */
  readonly jwks: JSONWebKeySet;
  readonly keyId: string;
  readonly issuer: string;
  readonly audience: string;
  mint(opts: MintOptions): Promise<string>;
  /** A verifier that accepts exactly this issuer's tokens. */
  readonly verifier: Verifier;
}

function isPrivateP256(jwk: unknown): jwk is JWK & { kid: string; d: string; x: string; y: string } {
  const k = jwk as Record<string, unknown>;
  return (
    typeof jwk === 'object' &&
    jwk !== null &&
    k.kty === 'EC' &&
    k.crv === 'P-256' &&
    typeof k.d === 'string' &&
    typeof k.x === 'string' &&
    typeof k.y === 'string' &&
    typeof k.kid === 'string'
  );
}

async function readKeyFile(path: string): Promise<JWK & { kid: string }> {
  // Like ssh with a private key: refuse a key others can read rather than use it.
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new PavilionError(
      'IDENTITY_KEY_INSECURE',
      `identity key file ${path} is readable by other users; run chmod 600 on it`,
    );
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new PavilionError('IDENTITY_KEY_INVALID', `identity key file ${path} is not JSON`);
  }
  if (!isPrivateP256(jwk))
    throw new PavilionError('IDENTITY_KEY_INVALID', `identity key file ${path} is not a private P-256 JWK with a kid`);
  return jwk;
}

/**
 * Writes a new key without ever exposing a half-written file or racing a
 * second process: write a private temp file, then hard-link it into place
 * (link fails with EEXIST if another process won; we then use theirs).
 */
async function createKeyFile(path: string): Promise<JWK & { kid: string }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'sha256');
  const full = { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' };
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temp, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(temp, 0o600); // the process umask cannot widen it, but make it explicit
  try {
    await link(temp, path);
    return full;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path);
    throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function loadOrCreateKey(path: string): Promise<JWK & { kid: string }> {
  try {
    return await readKeyFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return createKeyFile(path);
    throw err;
  }
}

function checkedRoles(roles: readonly string[]): Role[] {
  if (!Array.isArray(roles) || roles.length === 0)
    throw new PavilionError('TOKEN_ROLE_INVALID', `at least one role is required (${ROLES.join(', ')})`);
  for (const r of roles) {
    if (!isRole(r)) throw new PavilionError('TOKEN_ROLE_INVALID', `unknown role; expected one of ${ROLES.join(', ')}`);
  }
  return [...new Set(roles as Role[])];
}

export async function createLocalIdentity(opts: LocalIdentityOptions): Promise<LocalIdentity> {
  if (!opts.issuer || !opts.audience)
    throw new PavilionError('IDENTITY_CONFIG_INVALID', 'issuer and audience are required');
  const keyPath = resolve(opts.keyFile ?? DEFAULT_KEY_FILE);
  const privateJwk = await loadOrCreateKey(keyPath);
  const signingKey = await importJWK(privateJwk, SIGNING_ALG);
  const { kty, crv, x, y, kid } = privateJwk;
  const publicJwk: JWK = { kty, crv, x, y, kid, alg: SIGNING_ALG, use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [publicJwk] };
  const now = opts.now ?? Date.now;

  const strict = createVerifier({
    issuer: opts.issuer,
    audience: opts.audience,
    localJwks: jwks,
    algorithms: [SIGNING_ALG],
    ...(opts.cacheSize !== undefined ? { cacheSize: opts.cacheSize } : {}),
    now,
  });
  // A token signed by another development key (minted against another STATE_DIR) says how to get one this
  // broker accepts, instead of only that the key is unknown.
  const verifier: Verifier = {
    verify: (header) =>
      strict.verify(header).catch((err: unknown) => {
        if (!isPavilionError(err) || err.code !== 'AUTH_UNKNOWN_KEY') throw err;
        throw new PavilionError(
          'AUTH_UNKNOWN_KEY',
          `${err.message}: this development broker signs with the key in its STATE_DIR; ` +
            "mint with `npx pavilion token --state-dir <the broker's STATE_DIR>`",
        );
      }),
    get cachedTokens() {
      return strict.cachedTokens;
    },
    clearCache: () => strict.clearCache(),
  };

  async function mint(m: MintOptions): Promise<string> {
    // The broker's own rule for names (principal.ts): a token it would refuse is not minted.
    if (!isIdentifier(m.sub)) {
      throw new PavilionError(
        'TOKEN_SUBJECT_INVALID',
        'sub must be 1 to 255 characters of well-formed Unicode without control characters',
      );
    }
    const roles = checkedRoles(m.roles);
    const ttl = m.ttlSec ?? DEFAULT_TOKEN_TTL_SEC;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SEC) {
      throw new PavilionError('TOKEN_TTL_INVALID', `ttlSec must be an integer from 1 to ${MAX_TOKEN_TTL_SEC}`);
    }
    const iat = Math.floor(now() / 1000);
    const claims: Record<string, unknown> = { roles };
    if (m.tenant !== undefined) claims.tenant = m.tenant;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(m.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttl)
      .setJti(randomUUID())
      .sign(signingKey);
  }

  return { jwks, keyId: kid, issuer: opts.issuer, audience: opts.audience, mint, verifier };
}

export interface DevTokenOptions {
  /** One role or several, e.g. 'rp'. */
  role: string | string[];
  sub: string;
  ttlSec?: number;
  tenant?: string;
  keyFile?: string;
  issuer: string;
  audience: string;
}

/** For `pavilion token --role rp --sub acme`: a token the broker using the same key file accepts. */
export async function mintDevToken(opts: DevTokenOptions): Promise<string> {
  const identity = await createLocalIdentity({
    issuer: opts.issuer,
    audience: opts.audience,
    keyFile: opts.keyFile,
    cacheSize: 0,
  });
  return identity.mint({
    sub: opts.sub,
    roles: Array.isArray(opts.role) ? opts.role : [opts.role],
    ...(opts.ttlSec !== undefined ? { ttlSec: opts.ttlSec } : {}),
    ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}),
  });
}
