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

export interface Principal {
  /** The token's `sub`. */
  readonly subject: string;
  readonly roles: ReadonlySet<Role>;
  /** The token's `tenant` claim, when the issuer sets one. */
  readonly tenant?: string;
  /** Token expiry, seconds since the epoch (the `exp` claim). */
  readonly expiresAt: number;
  /** The token's `jti`, for audit correlation (never the token itself). */
  readonly tokenId?: string;
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
 * here guard against an issuer that puts the wrong JSON types in them.
 * Returns undefined when a claim has an unusable type.
 */
export function principalFromClaims(payload: JWTPayload, audience: string): Principal | undefined {
  const { sub, exp, jti } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) return undefined;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
  const tenant = payload.tenant;
  const principal: Principal = {
    subject: sub,
    roles: rolesFromClaims(payload, audience),
    expiresAt: exp,
    ...(typeof tenant === 'string' && tenant.length > 0 ? { tenant } : {}),
    ...(typeof jti === 'string' && jti.length > 0 ? { tokenId: jti } : {}),
  };
  // Principals are shared between requests through the verified-token cache,
  // so nobody may change one in place.
  return Object.freeze(principal);
}
