/** POST /v1/verifications (rp): one verification, answered once its audit entry is durable. */

import type { BrokerContext } from '../context.js';
import { authenticate } from '../http/auth.js';
import type { HttpRouter } from '../http/router.js';
import { parseAndValidate } from '../http/validation.js';
import { VerificationBody, type VerificationService } from '../verification/service.js';

export function registerVerificationRoutes(router: HttpRouter, ctx: BrokerContext, service: VerificationService): void {
  router.route(
    'post',
    '/v1/verifications',
    async (x) => {
      const principal = await authenticate(ctx, x, 'rp');
      const body = parseAndValidate(VerificationBody, await x.body.buffer());
      return { json: await service.verify(principal, body) };
    },
    { bodyLimit: ctx.config.limits.body },
  );
}
