/**
 * The authenticated caller as the rest of the broker sees it, built from the
 * claims of a verified access token.
 *
 * Roles come from three places because the broker accepts tokens from its own
 * local issuer and from an OIDC provider (Keycloak in the compose stack):
 *  - a top-level `roles` array (our local issuer, many IdPs' custom mappers);
 *  - `realm_access.roles` (Keycloak realm roles);
 *  - `resource_access[<audience>].roles` (Keycloak client roles of *this*
 *    broker's client only: roles granted for some other client must not count).
 * Unknown role names are ignored rather than rejected: an IdP typically adds
 * its own (`offline_access`, `uma_authorization`, `default-roles-…`).
 */
import type { JWTPayload } from 'jose';

export const ROLES = ['rp', 'dp', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const KNOWN_ROLES: ReadonlySet<string> = new Set(ROLES);

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && KNOWN_ROLES.has(value);
}

/**
 * The claim an identity provider sets to pin a caller's party. A party owns
 * datasets and linkage jobs, so it must outlive the IdP's own user ids:
 * Keycloak gives a service account or a user a new `sub` whenever the realm is
 * imported again, and a data provider would lose its datasets (DATASET_NOT_OWNER).
 * The committed realm (deploy/keycloak/pavilion-realm.json) sets `party` to
 * the client id for service accounts and to the user attribute `party` for
 * people; docs/operations.md says how to do the same in another realm.
 */
export const PARTY_CLAIM = 'party';

export interface Principal {
  /** The party: the token's `party` claim when the issuer sets one, otherwise its `sub`. */
  readonly subject: string;
  /** The token's own `sub`, which an IdP may change (see PARTY_CLAIM); for logs and correlation only. */
  readonly tokenSubject?: string;
  readonly roles: ReadonlySet<Role>;
  /** The token's `tenant` claim, when the issuer sets one. */
  readonly tenant?: string;
  /** Token expiry, seconds since the epoch (the `exp` claim). */
  readonly expiresAt: number;
  /** The token's `jti`, for audit correlation (never the token itself). */
  readonly tokenId?: string;
}

/** Clock skew accepted on a token's `exp` and `nbf`, seconds: the verifier's default, and a WebSocket session's. */
export const CLOCK_TOLERANCE_SEC = 30;

/**
 * Whether the principal's token counts as expired at `nowMs`. The one rule for it: jose's on a full
 * verify (expired once the clock, in whole seconds, reaches exp + tolerance). The verifier applies it to
 * cached tokens and a WebSocket session to every message, so no token is accepted by one and refused
 * by the other.
 */
export function tokenExpired(principal: Principal, nowMs: number, toleranceSec = CLOCK_TOLERANCE_SEC): boolean {
  return Math.floor(nowMs / 1000) >= principal.expiresAt + toleranceSec;
}

/** C0 controls, DEL and C1 controls. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A party name is stored in Postgres, written to the audit log and compared for ownership, so it must
 * survive all three unchanged: a lone surrogate is stored as U+FFFD (another party's name) and Postgres
 * refuses NUL outright. Control characters have no place in a name and would forge log lines.
 */
export function isIdentifier(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 255 &&
    // isWellFormed is in Node 20's V8; TypeScript's ES2023 lib does not declare it.
    (value as string & { isWellFormed(): boolean }).isWellFormed() &&
    !CONTROL_CHARACTER.test(value)
  );
}

function addKnownRoles(into: Set<Role>, list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const r of list) if (isRole(r)) into.add(r);
}

function objectField(obj: unknown, key: string): unknown {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  return Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Roles granted by the token, known ones only. */
export function rolesFromClaims(payload: JWTPayload, audience: string): Set<Role> {
  const roles = new Set<Role>();
  addKnownRoles(roles, payload.roles);
  addKnownRoles(roles, objectField(payload.realm_access, 'roles'));
  addKnownRoles(roles, objectField(objectField(payload.resource_access, audience), 'roles'));
  return roles;
}

/**
 * Builds the principal. The caller has already verified the signature and
 * that `sub` and `exp` are present (jose's requiredClaims); the shape checks
 * here guard against an issuer that puts the wrong JSON types in them, or
 * names no broker can store (isIdentifier).
 * Returns undefined when `sub`, `party`, `tenant` or `exp` is unusable.
 */
export function principalFromClaims(payload: JWTPayload, audience: string): Principal | undefined {
  const { sub, exp, jti } = payload;
  if (!isIdentifier(sub)) return undefined;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
  // A party claim that is present but unusable is refused, not skipped: falling
  // back to `sub` would hand the caller a different party's (empty) namespace.
  const party = payload[PARTY_CLAIM];
  if (party !== undefined && !isIdentifier(party)) return undefined;
  // The tenant names the relying party in audit entries and linkage jobs, so a tenant string must be an
  // identifier too; an issuer's non-string or empty tenant was never ours and is still ignored.
  const tenant = payload.tenant;
  const hasTenant = typeof tenant === 'string' && tenant.length > 0;
  if (hasTenant && !isIdentifier(tenant)) return undefined;
  const principal: Principal = {
    subject: party ?? sub,
    tokenSubject: sub,
    // Only the fixed ASCII role names count, so an ill-formed or odd role string grants nothing.
    roles: rolesFromClaims(payload, audience),
    expiresAt: exp,
    ...(hasTenant ? { tenant } : {}),
    ...(typeof jti === 'string' && jti.length > 0 ? { tokenId: jti } : {}),
  };
  // Principals are shared between requests through the verified-token cache,
  // so nobody may change one in place.
  return Object.freeze(principal);
}
