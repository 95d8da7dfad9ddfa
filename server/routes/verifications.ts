/** POST /v1/verifications (rp): one verification, answered once its audit entry is durable. */
import type { ErrorCode } from '../../common/error-codes.js';
import type { HttpRouter } from '../http/router.js';
import { VerificationAnswer, VerificationRequest } from '../http/schemas.js';
import type { VerificationService } from '../verification/service.js';

/** What a verification can answer besides the router's own codes (also the WebSocket's `verify`). */
export const VERIFICATION_ERRORS: readonly ErrorCode[] = [
  'DATASET_NOT_FOUND',
  'DATASET_NOT_READY',
  'DATASET_SECRET_MISSING',
  'POLICY_DENIED',
  'CLK_BASE64_INVALID',
  'CLK_LENGTH_MISMATCH',
  'RECORD_FIELDS_UNKNOWN',
  'RECORD_INVALID',
  'ENCODE_FAILED',
  'ENCODE_TIMEOUT',
  'AUDIT_UNAVAILABLE',
  'AUDIT_OVERLOADED',
];

export function registerVerificationRoutes(
  router: HttpRouter,
  service: VerificationService,
  limits: { body: number },
): void {
  router.route(
    {
      method: 'post',
      path: '/v1/verifications',
      summary: 'Verify one person against a dataset (rp); answered once the audit entry is durable',
      access: ['rp'],
      body: { json: VerificationRequest, limit: limits.body },
      responses: { 200: { description: 'the answer, with its audit receipt', json: VerificationAnswer } },
      errors: VERIFICATION_ERRORS,
    },
    // A client that goes away stops its record's encoding (the worker is freed); a CLK needs no signal, and
    // the cache-hit path makes none.
    async ({ x, principal, body }) => ({
      json: await service.verify(principal, body, body.record !== undefined ? x.signal : undefined),
    }),
  );
}
