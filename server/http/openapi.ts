/**
 * The OpenAPI 3.1 document, generated from the route declarations (server/http/router.ts) and their zod
 * schemas (server/http/schemas.ts) with @asteasolutions/zod-to-openapi: the document cannot say anything
 * the router does not enforce. Served at /openapi.json; `npm run openapi` writes the committed copy
 * (openapi/openapi.json), which test/server/http/openapi.test.ts keeps equal to the served one.
 *
 * Error answers are listed per route and status, each with the codes of the error catalogue
 * (common/error-codes.ts) that route can answer: those it declares, and those the router itself raises
 * for what the route accepts (a token, a JSON body, parameters).
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../common/error-codes.js';
import type { RouteSpec } from './router.js';
import { Problem } from './schemas.js';

const DESCRIPTION =
  'Privacy-preserving verification: relying parties (rp) ask whether a person, given as a CLK (a clkhash ' +
  'v3 Bloom filter encoding), matches a record of a data provider (dp), and learn only the claims the ' +
  'policy releases. Every answer carries an audit receipt. Errors are RFC 9457 problem documents with a ' +
  'stable `code` (docs/errors.md). A query parameter an operation does not list, or one given twice, is 422 ' +
  '`VALIDATION_FAILED`. Roles: rp, dp, auditor, admin (JWT `roles`, or Keycloak ' +
  '`realm_access.roles`). A broker run with AUDIT_PUBLIC=true serves the audit checkpoint, key, proofs, ' +
  'receipts and hash tiles without a token; audit entries need auditor or admin, or the caller that caused them.';

/** Codes the router raises for what a route accepts (server/http/router.ts, identity/). */
const AUTHENTICATED: readonly ErrorCode[] = [
  'AUTH_MISSING',
  'AUTH_MALFORMED',
  'AUTH_EXPIRED',
  'AUTH_NOT_YET_VALID',
  'AUTH_ISSUER_INVALID',
  'AUTH_AUDIENCE_INVALID',
  'AUTH_ALG_NOT_ALLOWED',
  'AUTH_SIGNATURE_INVALID',
  'AUTH_UNKNOWN_KEY',
  'AUTH_KEYS_UNAVAILABLE',
  'FORBIDDEN_ROLE',
];
const JSON_BODY: readonly ErrorCode[] = [
  'BODY_EMPTY',
  'BODY_INVALID_JSON',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'VALIDATION_FAILED',
];
const ANY_ROUTE: readonly ErrorCode[] = [
  'INTERNAL',
  'SHUTTING_DOWN',
  'DATABASE_UNAVAILABLE',
  'REQUEST_FRAMING_INVALID',
  'LENGTH_REQUIRED',
  // A query parameter the route does not list (every route checks its query, declared or not).
  'VALIDATION_FAILED',
];

export type DocumentedRoute = RouteSpec & { template: string };

/** Every code a route can answer with, by status. */
export function routeErrorCodes(route: RouteSpec): Map<number, ErrorCode[]> {
  const codes = new Set<ErrorCode>(ANY_ROUTE);
  if (route.access !== 'public') for (const c of AUTHENTICATED) codes.add(c);
  if (route.body) {
    if ('json' in route.body) for (const c of JSON_BODY) codes.add(c);
    // A streamed body is an upload: its limit is UPLOAD_LIMIT_BYTES (server/http/router.ts).
    else codes.add('UPLOAD_TOO_LARGE');
  }
  for (const c of route.errors ?? []) codes.add(c);
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [...codes].sort()) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return byStatus;
}

function problemResponse(codes: readonly ErrorCode[]): ResponseConfig {
  return {
    description: codes.map((c) => `\`${c}\``).join(', '),
    content: { 'application/problem+json': { schema: Problem } },
  };
}

function responsesOf(route: DocumentedRoute): Record<string, ResponseConfig> {
  const out: Record<string, ResponseConfig> = {};
  for (const [status, doc] of Object.entries(route.responses)) {
    if ('json' in doc)
      out[status] = { description: doc.description, content: { 'application/json': { schema: doc.json } } };
    else if ('mediaType' in doc)
      out[status] = {
        description: doc.description,
        content: { [doc.mediaType]: { schema: { type: 'string', ...(doc.format ? { format: doc.format } : {}) } } },
      };
    else out[status] = { description: doc.description };
  }
  for (const [status, codes] of routeErrorCodes(route)) {
    if (status === 499) continue; // CLIENT_ABORTED is never sent
    out[String(status)] = problemResponse(codes);
  }
  return out;
}

function requestOf(route: DocumentedRoute) {
  const body = route.body;
  return {
    ...(route.params ? { params: route.params as z.AnyZodObject } : {}),
    ...(route.query ? { query: route.query as z.AnyZodObject } : {}),
    ...(body
      ? {
          body: {
            required: true,
            content:
              'json' in body
                ? { 'application/json': { schema: body.json } }
                : Object.fromEntries(
                    Object.entries(body.stream).map(([type, m]) => [
                      type,
                      {
                        schema: {
                          type: 'string' as const,
                          description: m.description,
                          ...(m.format ? { format: m.format } : {}),
                        },
                      },
                    ]),
                  ),
          },
        }
      : {}),
  };
}

export function openApiDocument(routes: readonly DocumentedRoute[]): object {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  registry.register('Problem', Problem);
  for (const route of routes) {
    registry.registerPath({
      method: route.method === 'del' ? 'delete' : route.method,
      path: route.template,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.access === 'public' ? {} : { security: [{ bearerAuth: [] }] }),
      request: requestOf(route),
      responses: responsesOf(route),
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'Pavilion Trust Broker', version: '0.1.0', description: DESCRIPTION },
    servers: [{ url: '/' }],
  });
}
