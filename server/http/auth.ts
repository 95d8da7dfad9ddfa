/**
 * Authentication for routes: the bearer token of the request, verified by
 * identity/ (JWKS, algorithm allow-list, iss/aud/exp/nbf/kid, results cached
 * by token), then a role gate. 401 AUTH_* and 403 FORBIDDEN_ROLE come from
 * identity/ unchanged.
 */
import { type Principal, type Role, requireRole } from '../../identity/index.js';
import type { BrokerContext } from '../context.js';
import type { Exchange } from './router.js';

export async function authenticate(ctx: BrokerContext, x: Exchange, ...roles: Role[]): Promise<Principal> {
  const principal = await ctx.verifier.verify(x.headers.authorization || undefined);
  x.actor = principal.subject;
  ctx.parties.touch(principal);
  if (roles.length > 0) requireRole(principal, ...roles);
  return principal;
}
