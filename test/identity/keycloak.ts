/**
 * Talking to a real Keycloak (started by .ci/run with deploy/keycloak/pavilion-realm.json):
 * client-credentials tokens, an authorization-code login as a person (the
 * HTML login form, as a browser would post it), and the admin REST API to
 * import the realm again under another name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';

export const REALM_FILE = join(import.meta.dirname, '..', '..', 'deploy', 'keycloak', 'pavilion-realm.json');

export interface RealmJson {
  realm: string;
  clients: { clientId: string; secret?: string; serviceAccountsEnabled?: boolean; publicClient?: boolean }[];
  users: {
    username: string;
    serviceAccountClientId?: string;
    realmRoles?: string[];
    credentials?: { value: string }[];
  }[];
  [key: string]: unknown;
}

export function readRealm(): RealmJson {
  return JSON.parse(readFileSync(REALM_FILE, 'utf8')) as RealmJson;
}

export function issuerOf(keycloakUrl: string, realm: string): string {
  return `${keycloakUrl.replace(/\/+$/, '')}/realms/${realm}`;
}

async function tokenRequest(url: string, form: Record<string, string>): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`token endpoint ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { access_token: string }).access_token;
}

/** `realmUrl`: where the test reaches the realm (may differ from the issuer the tokens name). */
export function clientCredentialsToken(realmUrl: string, clientId: string, secret: string): Promise<string> {
  return tokenRequest(`${realmUrl}/protocol/openid-connect/token`, {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: secret,
  });
}

/** The secret the realm file gives a service client. */
export function clientSecret(realm: RealmJson, clientId: string): string {
  const client = realm.clients.find((c) => c.clientId === clientId);
  if (!client?.secret) throw new Error(`the realm has no secret for ${clientId}`);
  return client.secret;
}

/** Cookies of one browser session, enough for Keycloak's login pages. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq > 0) this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * A person signs in through the authorization-code flow with PKCE (RFC 7636),
 * as the console's browser would: the login page, the form post with the
 * password, the redirect carrying the code, and the code exchanged for tokens.
 */
export async function authorizationCodeToken(
  realmUrl: string,
  clientId: string,
  username: string,
  password: string,
): Promise<string> {
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://127.0.0.1:1/callback';
  const state = randomBytes(8).toString('hex');
  const auth = new URL(`${realmUrl}/protocol/openid-connect/auth`);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const page = await fetch(auth, { redirect: 'manual' });
  jar.take(page);
  const html = await page.text();
  const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (page.status !== 200 || !action) throw new Error(`no login form (HTTP ${page.status})`);
  const posted = await fetch(action.replaceAll('&amp;', '&'), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
    body: new URLSearchParams({ username, password, credentialId: '' }),
  });
  const location = posted.headers.get('location');
  if (posted.status !== 302 || !location?.startsWith(redirectUri))
    throw new Error(`login did not redirect back (HTTP ${posted.status})`);
  const back = new URL(location);
  if (back.searchParams.get('state') !== state) throw new Error('state changed on the way back');
  return tokenRequest(`${realmUrl}/protocol/openid-connect/token`, {
    grant_type: 'authorization_code',
    client_id: clientId,
    code: back.searchParams.get('code') ?? '',
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
}

export function claimsOf(token: string): Record<string, unknown> {
  return decodeJwt(token) as Record<string, unknown>;
}

/** Keycloak's admin REST API with the bootstrap admin of the master realm. */
export class KeycloakAdmin {
  private constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  static async login(keycloakUrl: string, user: string, password: string): Promise<KeycloakAdmin> {
    const base = keycloakUrl.replace(/\/+$/, '');
    const token = await tokenRequest(`${base}/realms/master/protocol/openid-connect/token`, {
      grant_type: 'password',
      client_id: 'admin-cli',
      username: user,
      password,
    });
    return new KeycloakAdmin(base, token);
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.base}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  async deleteRealm(realm: string): Promise<void> {
    const res = await this.call('DELETE', `/realms/${realm}`);
    if (res.status !== 204 && res.status !== 404) throw new Error(`deleting realm ${realm}: HTTP ${res.status}`);
  }

  /** Imports a realm representation (what --import-realm does at start), replacing one of the same name. */
  async importRealm(realm: RealmJson): Promise<void> {
    await this.deleteRealm(realm.realm);
    const res = await this.call('POST', '/realms', realm);
    if (res.status !== 201) throw new Error(`importing realm ${realm.realm}: HTTP ${res.status} ${await res.text()}`);
  }
}
