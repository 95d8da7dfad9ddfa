/** GET /v1/parties (auditor, admin): the RP/DP registry. */

import type { BrokerContext } from '../context.js';
import { authenticate } from '../http/auth.js';
import type { HttpRouter } from '../http/router.js';

export function registerPartyRoutes(router: HttpRouter, ctx: BrokerContext): void {
  router.route('get', '/v1/parties', async (x) => {
    await authenticate(ctx, x, 'auditor', 'admin');
    return { json: { parties: await ctx.parties.list() } };
  });
}
