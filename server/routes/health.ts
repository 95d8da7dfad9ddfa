/** Liveness, readiness, metrics, the OpenAPI document and (local issuer only) the JWKS. */

import type { BrokerContext } from '../context.js';
import { openApiDocument } from '../http/openapi.js';
import { makeProblem } from '../http/problem.js';
import type { HttpRouter } from '../http/router.js';

export function registerHealthRoutes(router: HttpRouter, ctx: BrokerContext): void {
  router.route('get', '/healthz', () => ({ json: { status: 'ok' } }));

  router.route('get', '/readyz', async () => {
    const r = await ctx.ready();
    if (r.ok) return { json: { status: 'ready', checks: r.checks } };
    const failing = Object.entries(r.checks)
      .filter(([, ok]) => !ok)
      .map(([k]) => k);
    const p = makeProblem('DEPENDENCY_UNAVAILABLE', `not ready: ${failing.join(', ')}`);
    return { status: 503, body: JSON.stringify({ ...p, checks: r.checks }), contentType: 'application/problem+json' };
  });

  router.route('get', '/metrics', async () => {
    const m = await ctx.metrics.render();
    return { body: m.body, contentType: m.contentType };
  });

  let doc: string | null = null;
  router.route('get', '/openapi.json', () => {
    doc ??= JSON.stringify(openApiDocument());
    return { body: doc, contentType: 'application/json' };
  });

  if (ctx.localJwks) {
    const jwks = JSON.stringify(ctx.localJwks);
    router.route('get', '/.well-known/jwks.json', () => ({ body: jwks, contentType: 'application/json' }));
  }
}
