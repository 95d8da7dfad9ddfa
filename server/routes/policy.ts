/**
 *   GET  /v1/policy         any role   purposes, their claims, minimum scores, consent; actions; deny reasons
 *   POST /v1/policy/reload  admin      re-read the bundle now (it is also polled every POLICY_RELOAD_MS)
 */
import type { Logger } from 'pino';
import type { ReloadingPolicy } from '../../policy/index.js';
import type { HttpRouter } from '../http/router.js';
import { PolicyDescription, PolicyReloaded } from '../http/schemas.js';

export function registerPolicyRoutes(router: HttpRouter, deps: { policy: ReloadingPolicy; log: Logger }): void {
  router.route(
    {
      method: 'get',
      path: '/v1/policy',
      summary: 'The policy in force: purposes, their claims, minimum scores and consent rules (docs/policy.md)',
      access: ['rp', 'dp', 'auditor', 'admin'],
      responses: { 200: { description: 'the policy', json: PolicyDescription } },
    },
    () => ({ json: deps.policy.describe() }),
  );

  router.route(
    {
      method: 'post',
      path: '/v1/policy/reload',
      summary: 'Re-read the policy bundle now (admin); it is also polled every POLICY_RELOAD_MS',
      description: 'A refused bundle leaves the running one in force.',
      access: ['admin'],
      responses: { 200: { description: 'whether it changed, and the policy now in force', json: PolicyReloaded } },
      errors: ['POLICY_BUNDLE_INVALID', 'POLICY_BUNDLE_SIGNATURE_INVALID', 'POLICY_LOAD_FAILED'],
    },
    async ({ principal }) => {
      const outcome = await deps.policy.reload();
      deps.log.info({ actor: principal?.subject, ...outcome }, 'policy reload requested');
      return { json: { ...outcome, policy: deps.policy.describe() } };
    },
  );
}
