/**
 * OpenAPI for the policy routes (server/policy-wiring.ts), spread into
 * server/openapi.ts so the document lists every registered route.
 */
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });
const bearer = [{ bearerAuth: [] }];

export const policySchemas = {
  PolicyDescription: {
    type: 'object',
    required: ['version', 'revision', 'digest', 'signed', 'purposes', 'actions', 'reasons'],
    properties: {
      version: { type: 'string', description: '<bundle revision>+<digest prefix>: what audit events carry' },
      revision: { type: 'string', description: 'the bundle manifest revision' },
      digest: { type: 'string', description: "SHA-256 over the bundle's members" },
      signed: { type: 'boolean', description: "the bundle's signature was verified (POLICY_BUNDLE_KEY)" },
      purposes: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          properties: {
            claims: { type: 'array', items: { type: 'string' }, description: 'the only claims it may reveal' },
            consent_required: { type: 'boolean', description: 'requests must carry consent: true' },
            min_score: { type: 'number', description: 'Dice score below which no match is reported' },
            cache_ttl_seconds: { type: 'integer' },
            description: { type: 'string' },
          },
        },
      },
      actions: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
      reasons: { type: 'object', additionalProperties: { type: 'string' }, description: 'deny reason → meaning' },
    },
  },
};

export const policyPaths = {
  '/v1/policy': {
    get: {
      summary: 'The policy in force: purposes, their claims, minimum scores and consent rules (docs/policy.md)',
      security: bearer,
      responses: {
        '200': json('the policy', { $ref: '#/components/schemas/PolicyDescription' }),
        '401': problem('Missing or invalid access token (AUTH_*)'),
      },
    },
  },
  '/v1/policy/reload': {
    post: {
      summary: 'admin: re-read the policy bundle now (it is also polled every POLICY_RELOAD_MS)',
      security: bearer,
      responses: {
        '200': json('whether it changed, and the policy now in force', {
          type: 'object',
          properties: {
            changed: { type: 'boolean' },
            previous: { type: 'string' },
            version: { type: 'string' },
            policy: { $ref: '#/components/schemas/PolicyDescription' },
          },
        }),
        '401': problem('Missing or invalid access token (AUTH_*)'),
        '403': problem('Not an admin (FORBIDDEN_ROLE)'),
        '422': problem(
          'The bundle is refused and the running one stays (POLICY_BUNDLE_INVALID, POLICY_BUNDLE_SIGNATURE_INVALID)',
        ),
        '500': problem('The bundle cannot be read (POLICY_LOAD_FAILED)'),
      },
    },
  },
};
