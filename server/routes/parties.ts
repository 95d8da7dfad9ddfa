/** GET /v1/parties (auditor, admin): the RP/DP registry. */
import type { HttpRouter } from '../http/router.js';
import { Parties } from '../http/schemas.js';
import type { PartyRegistry } from '../parties/registry.js';

export function registerPartyRoutes(router: HttpRouter, parties: PartyRegistry): void {
  router.route(
    {
      method: 'get',
      path: '/v1/parties',
      summary: 'The relying parties and data providers that have used the broker (auditor, admin)',
      access: ['auditor', 'admin'],
      responses: { 200: { description: 'the parties', json: Parties } },
    },
    async () => ({ json: { parties: await parties.list() } }),
  );
}
