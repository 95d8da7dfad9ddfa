/** Identity: JWT access-token verification, roles, and the local development issuer. */

export type { AuthErrorCode } from './auth-errors.js';
export {
  createLocalIdentity,
  DEFAULT_KEY_FILE,
  DEFAULT_TOKEN_TTL_SEC,
  type DevTokenOptions,
  type LocalIdentity,
  type LocalIdentityOptions,
  MAX_TOKEN_TTL_SEC,
  type MintOptions,
  mintDevToken,
} from './local-identity.js';
export {
  CLOCK_TOLERANCE_SEC,
  isRole,
  PARTY_CLAIM,
  type Principal,
  ROLES,
  type Role,
  rolesFromClaims,
  tokenExpired,
} from './principal.js';
export { hasRole, requireRole } from './require-role.js';
export { createVerifier, DEFAULT_ALGORITHMS, type Verifier, type VerifierOptions } from './verifier.js';
