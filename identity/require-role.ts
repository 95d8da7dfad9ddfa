/**
 * Role gate for routes: the caller must hold at least one of the listed roles.
 */
import { PavilionError } from '../common/errors.js';
import type { Principal, Role } from './principal.js';

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return roles.some((r) => principal.roles.has(r));
}

/** Throws 403 FORBIDDEN_ROLE unless the principal holds one of `roles`. */
export function requireRole(principal: Principal, ...roles: Role[]): void {
  if (roles.length === 0) throw new Error('requireRole needs at least one role');
  if (!hasRole(principal, ...roles)) {
    // Names the required roles (public API facts), not the subject.
    throw new PavilionError('FORBIDDEN_ROLE', `this operation requires role ${roles.join(' or ')}`);
  }
}
