/**
 * Authentication for routes and WebSocket upgrades: the bearer token is verified by identity/ (JWKS,
 * algorithm allow-list, iss/aud/exp/nbf/kid, results cached by token) and the caller is noted in the
 * party registry. 401 AUTH_* come from identity/ unchanged; the router applies the role gate
 * (403 FORBIDDEN_ROLE, server/http/router.ts).
 */
import type { Principal, Verifier } from '../../identity/index.js';

export function bearerAuthenticator(
  verifier: Verifier,
  /** Notes the caller (server/parties/registry.ts), off the request path. */
  parties: { touch(principal: Principal): void },
): (authorization: string | undefined) => Promise<Principal> {
  return async (authorization) => {
    const principal = await verifier.verify(authorization);
    parties.touch(principal);
    return principal;
  };
}
