/** Identity: JWT access-token verification, roles, and the local development issuer. */
export { createVerifier, DEFAULT_ALGORITHMS, type Verifier, type VerifierOptions } from './verifier.js';
export { ROLES, isRole, rolesFromClaims, type Principal, type Role } from './principal.js';
export { requireRole, hasRole } from './requireRole.js';
export { extractBearerToken, MAX_TOKEN_LENGTH } from './bearer.js';
export type { AuthErrorCode } from './authErrors.js';
export {
  createLocalIdentity,
  mintDevToken,
  DEFAULT_KEY_FILE,
  DEFAULT_TOKEN_TTL_SEC,
  MAX_TOKEN_TTL_SEC,
  type LocalIdentity,
  type LocalIdentityOptions,
  type MintOptions,
  type DevTokenOptions,
} from './localIdentity.js';
