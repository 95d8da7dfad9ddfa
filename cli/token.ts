/**
 * `pavilion token`: a development token signed with the running broker's own
 * key, so the broker accepts it. The key is the one `pavilion serve` keeps
 * in STATE_DIR/identity-key.json (server/app.ts); this command never makes
 * one: a fresh key would mint tokens no broker knows (AUTH_UNKNOWN_KEY).
 *
 * Where it looks, first hit wins:
 *   --state-dir, or STATE_DIR (environment or CONFIG_FILE): that folder only;
 *   otherwise the default `.pavilion` in the current folder, each folder
 *   above it, and the package root (where `npm start` runs the broker from).
 * When none holds a key it fails with IDENTITY_KEY_NOT_FOUND listing the
 * paths it tried. With --server it also checks that the broker there signs
 * with that key (its /.well-known/jwks.json), and says so when it does not.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PavilionError } from '../common/errors.js';
import { packageRoot } from '../common/paths.js';
import { mintDevToken } from '../identity/index.js';
import { loadConfig, SETTINGS, settingValue } from '../server/config.js';

const KEY_FILE = 'identity-key.json';
const DEFAULT_STATE_DIR = SETTINGS.find((s) => s.env === 'STATE_DIR')!.default;

export interface TokenOptions {
  role: string[];
  sub: string;
  ttl: number;
  tenant?: string;
  stateDir?: string;
  server?: string;
  /** Working folder (tests); default process.cwd(). */
  cwd?: string;
  env?: Record<string, string | undefined>;
}

/** The key files to try, in order. */
export function keyCandidates(opts: {
  stateDir?: string;
  configured: string;
  explicit: boolean;
  cwd: string;
}): string[] {
  if (opts.stateDir !== undefined) return [resolve(opts.cwd, opts.stateDir, KEY_FILE)];
  if (opts.explicit) return [resolve(opts.cwd, opts.configured, KEY_FILE)];
  const out: string[] = [];
  for (let dir = resolve(opts.cwd); ; dir = dirname(dir)) {
    out.push(join(dir, opts.configured, KEY_FILE));
    if (dirname(dir) === dir) break;
  }
  const atRoot = join(packageRoot, opts.configured, KEY_FILE);
  if (!out.includes(atRoot)) out.push(atRoot);
  return out;
}

/** The broker's key file, or IDENTITY_KEY_NOT_FOUND naming every path tried. */
export function findBrokerKey(opts: TokenOptions): string {
  const env = opts.env ?? process.env;
  const config = loadConfig(env);
  const fromFile = (() => {
    const configFile = settingValue(env.CONFIG_FILE)?.trim();
    if (!configFile) return false;
    try {
      const v = (JSON.parse(readFileSync(configFile, 'utf8')) as { STATE_DIR?: unknown }).STATE_DIR;
      return v !== undefined && settingValue(String(v)) !== undefined;
    } catch {
      return false;
    }
  })();
  // An empty STATE_DIR is unset, as for the broker (server/config.ts settingValue).
  const explicit = settingValue(env.STATE_DIR) !== undefined || fromFile || config.stateDir !== DEFAULT_STATE_DIR;
  const candidates = keyCandidates({
    ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
    configured: config.stateDir,
    explicit,
    cwd: opts.cwd ?? process.cwd(),
  });
  const found = candidates.find((c) => existsSync(c));
  if (found) return found;
  throw new PavilionError(
    'IDENTITY_KEY_NOT_FOUND',
    `no broker signing key found; looked in: ${candidates.join(', ')}. Start the broker (npx pavilion serve) ` +
      'and run this with its STATE_DIR (--state-dir), or mint tokens from your OIDC issuer',
  );
}

/** The kid in a key file, for comparing with a broker's JWKS. */
function keyId(file: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { kid?: string }).kid;
  } catch {
    return undefined;
  }
}

async function checkServer(server: string, keyFile: string): Promise<void> {
  const url = new URL('/.well-known/jwks.json', server);
  let kids: string[];
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (res.status === 404)
      throw new PavilionError(
        'IDENTITY_NOT_LOCAL',
        `${server} is not its own token issuer (no /.well-known/jwks.json): get tokens from its OIDC issuer`,
      );
    kids = ((await res.json()) as { keys?: { kid?: string }[] }).keys?.map((k) => k.kid ?? '') ?? [];
  } catch (err) {
    if (err instanceof PavilionError) throw err;
    throw new PavilionError('BROKER_UNREACHABLE', `cannot read ${url}`);
  }
  const kid = keyId(keyFile);
  if (!kid || !kids.includes(kid))
    throw new PavilionError(
      'IDENTITY_KEY_MISMATCH',
      `the broker at ${server} signs with another key than ${keyFile}: run this with that broker's STATE_DIR ` +
        `(--state-dir)`,
    );
}

export async function tokenCommand(opts: TokenOptions): Promise<string> {
  const keyFile = findBrokerKey(opts);
  if (opts.server) await checkServer(opts.server, keyFile);
  const config = loadConfig(opts.env ?? process.env);
  return mintDevToken({
    role: opts.role,
    sub: opts.sub,
    ttlSec: opts.ttl,
    ...(opts.tenant !== undefined ? { tenant: opts.tenant } : {}),
    keyFile,
    issuer: config.identity.localIssuer,
    audience: config.identity.audience,
  });
}
