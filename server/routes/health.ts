/** Liveness, readiness, metrics, the OpenAPI document and (local issuer only) the JWKS: all public. */
import { z } from 'zod';
import type { Metrics } from '../../metrics/index.js';
import { makeProblem } from '../http/problem.js';
import type { HttpRouter } from '../http/router.js';
import { Health, Readiness } from '../http/schemas.js';

export interface ReadinessReport {
  ok: boolean;
  checks: Record<string, boolean>;
}

export function registerHealthRoutes(
  router: HttpRouter,
  deps: {
    ready(): Promise<ReadinessReport>;
    metrics: Metrics;
    /** Built once all routes are registered (server/http/openapi.ts). */
    openApiDocument(): object;
    /** Public keys of the local development issuer, when the broker is its own issuer. */
    localJwks?: object;
  },
): void {
  router.route(
    {
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      access: 'public',
      database: false,
      responses: { 200: { description: 'alive', json: Health } },
    },
    () => ({ json: { status: 'ok' } }),
  );

  router.route(
    {
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: database, audit log, accepting requests (and Redis, reported without failing)',
      access: 'public',
      database: false,
      responses: { 200: { description: 'ready', json: Readiness } },
      errors: ['DEPENDENCY_UNAVAILABLE'],
    },
    async () => {
      const r = await deps.ready();
      if (r.ok) return { json: { status: 'ready', checks: r.checks } };
      const failing = Object.entries(r.checks)
        .filter(([, ok]) => !ok)
        .map(([k]) => k);
      const p = makeProblem('DEPENDENCY_UNAVAILABLE', `not ready: ${failing.join(', ')}`);
      return { status: 503, body: JSON.stringify({ ...p, checks: r.checks }), contentType: 'application/problem+json' };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format)',
      access: 'public',
      database: false,
      responses: { 200: { description: 'metrics', mediaType: 'text/plain' } },
    },
    async () => {
      const m = await deps.metrics.render();
      return { body: m.body, contentType: m.contentType };
    },
  );

  let doc: string | null = null;
  router.route(
    {
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      access: 'public',
      database: false,
      responses: { 200: { description: 'OpenAPI 3.1', json: z.record(z.unknown()) } },
    },
    () => {
      doc ??= JSON.stringify(deps.openApiDocument());
      return { body: doc, contentType: 'application/json' };
    },
  );

  if (deps.localJwks) {
    const jwks = JSON.stringify(deps.localJwks);
    router.route(
      {
        method: 'get',
        path: '/.well-known/jwks.json',
        summary: 'Public keys of the local development issuer (only when no OIDC issuer is configured)',
        access: 'public',
        database: false,
        responses: { 200: { description: 'JWKS', json: z.object({ keys: z.array(z.record(z.unknown())) }) } },
      },
      () => ({ body: jwks, contentType: 'application/json' }),
    );
  }
}
