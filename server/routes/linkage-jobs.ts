/**
 *   POST   /v1/linkage-jobs               rp          submit → 202 {id, status, ...}
 *   GET    /v1/linkage-jobs/{id}          owner/admin status and progress
 *   DELETE /v1/linkage-jobs/{id}          owner/admin cancel (wherever it runs)
 *   GET    /v1/linkage-jobs/{id}/results  owner/admin pairs (or the greedy 1:1 solution, or groups), guidance
 */
import type { Role } from '../../identity/index.js';
import type { HttpRouter } from '../http/router.js';
import { JobParams, LinkageJob, LinkageJobRequest, LinkageResults } from '../http/schemas.js';
import { jobView, type LinkageJobs } from '../linkage/jobs.js';

/**
 * Who may follow or cancel a job (its owner among them; others get JOB_NOT_FOUND): these routes and the
 * WebSocket's `subscribe` and `cancel` (routes/ws.ts), so a role is refused alike on both.
 */
export const JOB_ROLES: readonly Role[] = ['rp', 'admin'];

export function registerLinkageJobRoutes(router: HttpRouter, jobs: LinkageJobs, limits: { jobBody: number }): void {
  router.route(
    {
      method: 'post',
      path: '/v1/linkage-jobs',
      summary:
        'Submit N CLKs for batch linkage against a dataset, or several datasets for groups (rp); progress and ' +
        'results on the WebSocket (subscribe)',
      access: ['rp'],
      body: { json: LinkageJobRequest, limit: limits.jobBody },
      responses: { 202: { description: 'accepted; follow the Location', json: LinkageJob } },
      errors: [
        'DATASET_NOT_FOUND',
        'DATASET_NOT_READY',
        'POLICY_DENIED',
        'CLK_BASE64_INVALID',
        'CLK_LENGTH_MISMATCH',
        'BLOCKING_CONFIG_INVALID',
        'BLOCKS_INVALID',
        'TOPK_INVALID',
      ],
    },
    async ({ principal, body }) => {
      const job = await jobs.submit(principal, body);
      return { status: 202, json: jobView(job), headers: { location: `/v1/linkage-jobs/${job.id}` } };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/linkage-jobs/:id',
      summary: 'Job status and progress (its owner, admin)',
      access: JOB_ROLES,
      params: JobParams,
      responses: { 200: { description: 'the job', json: LinkageJob } },
      errors: ['JOB_NOT_FOUND'],
    },
    async ({ principal, params }) => ({ json: jobView(await jobs.get(principal, params.id)) }),
  );

  router.route(
    {
      method: 'del',
      path: '/v1/linkage-jobs/:id',
      summary: 'Cancel a job still queued or running, on whichever broker runs it (its owner, admin)',
      access: JOB_ROLES,
      params: JobParams,
      responses: { 200: { description: 'the job, failed with LINK_CANCELLED', json: LinkageJob } },
      errors: ['JOB_NOT_FOUND', 'JOB_ENDED'],
    },
    async ({ principal, params }) => ({ json: jobView(await jobs.cancel(principal, params.id)) }),
  );

  router.route(
    {
      method: 'get',
      path: '/v1/linkage-jobs/:id/results',
      summary: 'Job results: pairs or groups, the policy minimum, threshold guidance (its owner, admin)',
      access: JOB_ROLES,
      params: JobParams,
      responses: { 200: { description: 'the pairs', json: LinkageResults } },
      errors: ['JOB_NOT_FOUND', 'JOB_NOT_DONE', 'JOB_FAILED'],
    },
    async ({ principal, params }) => ({ json: await jobs.results(principal, params.id) }),
  );
}
