/**
 *   POST /v1/linkage-jobs               rp          submit → 202 {id, status, ...}
 *   GET  /v1/linkage-jobs/{id}          owner/admin status and progress
 *   GET  /v1/linkage-jobs/{id}/results  owner/admin pairs (or the greedy 1:1 solution)
 */

import type { BrokerContext } from '../context.js';
import { authenticate } from '../http/auth.js';
import type { HttpRouter } from '../http/router.js';
import { parseAndValidate } from '../http/validation.js';
import { JobBody, jobView, type LinkageJobs } from '../linkage/jobs.js';

export function registerLinkageJobRoutes(router: HttpRouter, ctx: BrokerContext, jobs: LinkageJobs): void {
  router.route(
    'post',
    '/v1/linkage-jobs',
    async (x) => {
      const principal = await authenticate(ctx, x, 'rp');
      const body = parseAndValidate(JobBody, await x.body.buffer());
      const job = await jobs.submit(principal, body);
      return { status: 202, json: jobView(job), headers: { location: `/v1/linkage-jobs/${job.id}` } };
    },
    { bodyLimit: ctx.config.limits.jobBody },
  );

  router.route('get', '/v1/linkage-jobs/:id', async (x) => {
    const principal = await authenticate(ctx, x, 'rp', 'admin');
    return { json: jobView(await jobs.get(principal, x.params.id!)) };
  });

  router.route('get', '/v1/linkage-jobs/:id/results', async (x) => {
    const principal = await authenticate(ctx, x, 'rp', 'admin');
    return { json: await jobs.results(principal, x.params.id!) };
  });
}
