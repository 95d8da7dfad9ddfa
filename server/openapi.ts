/**
 * The OpenAPI 3.1 description of the broker's HTTP API, served at
 * /openapi.json. test/server checks that every registered route appears
 * here and every path here is registered.
 */
import { policyPaths, policySchemas } from './policy-openapi.js';

const problemRef = { $ref: '#/components/schemas/Problem' };
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemRef } },
});
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const errors = {
  '400': problem('Malformed request (BODY_INVALID_JSON, CLK_BASE64_INVALID, …)'),
  '401': problem('Missing or invalid access token (AUTH_*)'),
  '403': problem(
    'Role or policy forbids it (FORBIDDEN_ROLE, DATASET_NOT_OWNER; POLICY_DENIED with errors[] naming the rule and what would be allowed)',
  ),
  '404': problem('Unknown dataset, job or pull (DATASET_NOT_FOUND, JOB_NOT_FOUND, PULL_NOT_FOUND)'),
  '413': problem('Body over the limit (PAYLOAD_TOO_LARGE)'),
  '422': problem(
    'Well-formed but invalid (VALIDATION_FAILED with JSON paths, CLK_LENGTH_MISMATCH, SCHEMA_INVALID, DATASET_POLICY_MISMATCH)',
  ),
  '500': problem('Internal error (INTERNAL, no detail)'),
  '503': problem('A dependency is unavailable (AUDIT_UNAVAILABLE, DATABASE_UNAVAILABLE)'),
};
const pick = (...codes: (keyof typeof errors)[]) => Object.fromEntries(codes.map((c) => [c, errors[c]]));
const datasetIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
};
const bearer = [{ bearerAuth: [] }];

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Pavilion Trust Broker',
      version: '0.1.0',
      description:
        'Privacy-preserving verification: relying parties (rp) ask whether a person, given as a CLK (a clkhash v3 Bloom filter encoding), matches a record of a data provider (dp), and learn only the claims the policy releases. Every answer carries an audit receipt. Errors are RFC 9457 problem documents with a stable `code`. Roles: rp, dp, auditor, admin (JWT `roles`, or Keycloak `realm_access.roles`). A broker run with AUDIT_PUBLIC=true serves the audit checkpoint, key, proofs, receipts and hash tiles without a token; audit entries always need auditor or admin.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        ...policySchemas,
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code'],
          properties: {
            type: { type: 'string', format: 'uri' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string', pattern: '^[A-Z0-9_]+$', description: 'stable machine-readable error code' },
            instance: { type: 'string' },
            errors: {
              type: 'array',
              items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
              description: 'VALIDATION_FAILED: JSON paths, never values',
            },
          },
        },
        DatasetDefinition: {
          type: 'object',
          required: ['schema', 'claims'],
          additionalProperties: false,
          properties: {
            schema: {
              type: 'object',
              description: 'clkhash linkage schema v3; clkConfig.l is the CLK length in bits (multiple of 64)',
            },
            claims: { type: 'array', items: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' }, maxItems: 64 },
            allow_broker_encoding: {
              type: 'boolean',
              default: false,
              description: 'let relying parties send a record for broker-side encoding (policy still decides)',
            },
            purposes: {
              type: 'array',
              items: { type: 'string' },
              description: 'purposes the policy accepts for this dataset',
            },
          },
        },
        Dataset: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            owner: { type: 'string' },
            schema: { type: 'object' },
            claims: { type: 'array', items: { type: 'string' } },
            filter_bits: { type: 'integer' },
            allow_broker_encoding: { type: 'boolean' },
            purposes: { type: ['array', 'null'], items: { type: 'string' } },
            active_version: { type: ['integer', 'null'] },
            rows: { type: 'integer' },
            created_at: { type: 'string', format: 'date-time' },
            updated_at: { type: 'string', format: 'date-time' },
          },
        },
        VersionCreated: {
          type: 'object',
          properties: {
            dataset: { type: 'string' },
            version: { type: 'integer' },
            rows: { type: 'integer' },
            filter_bits: { type: 'integer' },
          },
        },
        VerificationRequest: {
          type: 'object',
          required: ['dataset', 'purpose'],
          additionalProperties: false,
          description: 'exactly one of clk or record',
          properties: {
            dataset: { type: 'string' },
            clk: {
              type: 'string',
              contentEncoding: 'base64',
              description: 'standard padded base64 of the CLK (clkConfig.l bits)',
            },
            record: {
              type: 'object',
              additionalProperties: { type: 'string' },
              description:
                "field → value, encoded by the broker with the DP's linkage secret when the dataset and policy allow; never stored or logged",
            },
            claims: {
              type: 'array',
              items: { type: 'string' },
              default: [],
              description:
                "claims to reveal; none (the default): a match-only question (GET /v1/policy lists each purpose's claims)",
            },
            purpose: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
            consent: { type: 'boolean' },
          },
        },
        Receipt: {
          type: 'object',
          properties: {
            origin: { type: 'string' },
            index: { type: 'integer' },
            leaf_hash: { type: 'string', contentEncoding: 'base64' },
          },
        },
        VerificationAnswer: {
          type: 'object',
          required: ['id', 'decision', 'score', 'claims', 'dataset_version', 'receipt', 'cached'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            decision: {
              type: 'string',
              enum: ['match', 'no_match', 'ambiguous'],
              description:
                'ambiguous: two records at or above the policy min score within AMBIGUITY_MARGIN of each other',
            },
            score: { type: 'number', minimum: 0, maximum: 1, description: 'best Dice score (0 for no_match)' },
            claims: {
              type: 'object',
              description: 'claims of the matched record that were requested and the policy releases',
            },
            dataset_version: { type: 'integer' },
            receipt: ref('Receipt'),
            cached: { type: 'boolean' },
          },
        },
        LinkageJobRequest: {
          type: 'object',
          required: ['dataset', 'clks', 'threshold', 'purpose'],
          additionalProperties: false,
          properties: {
            dataset: { type: 'string' },
            clks: { type: 'array', items: { type: 'string', contentEncoding: 'base64' }, minItems: 1 },
            threshold: {
              type: 'number',
              minimum: 0,
              maximum: 1,
              description: 'raised to the policy min score if lower',
            },
            top_k: { type: 'integer', minimum: 1, maximum: 10000 },
            solution: {
              type: 'string',
              enum: ['pairs', 'greedy'],
              default: 'pairs',
              description: 'greedy: 1:1, pairs taken best first when neither side is taken (anonlink greedy_solve)',
            },
            purpose: { type: 'string', description: 'a purpose the policy knows (e.g. kyc)' },
          },
        },
        LinkageJob: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            status: { type: 'string', enum: ['queued', 'running', 'done', 'failed'] },
            dataset: { type: 'string' },
            dataset_version: { type: ['integer', 'null'] },
            threshold: { type: 'number' },
            top_k: { type: ['integer', 'null'] },
            solution: { type: 'string' },
            done: { type: 'integer', description: 'queries processed' },
            total: { type: 'integer', description: 'queries submitted' },
            pair_count: { type: ['integer', 'null'] },
            error_code: { type: ['string', 'null'] },
            created_at: { type: 'string', format: 'date-time' },
            finished_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        LinkageResults: {
          type: 'object',
          properties: {
            job: { type: 'string' },
            solution: { type: 'string' },
            pair_count: { type: 'integer' },
            pairs: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  query: { type: 'integer' },
                  index: { type: 'integer' },
                  ref: { type: 'string' },
                  score: { type: 'number' },
                },
              },
            },
          },
        },
        PullRequest: {
          type: 'object',
          required: ['object'],
          additionalProperties: false,
          properties: {
            object: {
              type: 'string',
              description: 'key below datasets/{id}/ in the object store: slash-separated segments of [A-Za-z0-9._-]',
            },
            format: {
              type: 'string',
              enum: ['jsonl', 'binary'],
              description: 'default: from the extension (.jsonl/.ndjson, .pvds)',
            },
          },
        },
        Pull: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            dataset: { type: 'string' },
            object: { type: 'string', description: 'the full object key read' },
            format: { type: 'string', enum: ['jsonl', 'binary'] },
            status: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
            bytes: { type: ['integer', 'null'] },
            version: { type: ['integer', 'null'], description: 'the version published (succeeded)' },
            rows: { type: ['integer', 'null'] },
            error: {
              type: ['object', 'null'],
              properties: { code: { type: 'string' }, detail: { type: 'string' } },
              description:
                'failed: the problem code the upload would have answered (OBJECT_NOT_FOUND, UPLOAD_ROW_INVALID, OBJECT_STORE_UNAVAILABLE, PULL_INTERRUPTED, …)',
            },
            created_at: { type: 'string', format: 'date-time' },
            finished_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Proof: {
          type: 'object',
          properties: {
            index: { type: 'integer' },
            from: { type: 'integer' },
            to: { type: 'integer' },
            size: { type: 'integer' },
            leaf_hash: { type: 'string', contentEncoding: 'base64' },
            hashes: { type: 'array', items: { type: 'string', contentEncoding: 'base64' } },
          },
        },
      },
    },
    paths: {
      ...policyPaths,
      '/healthz': { get: { summary: 'Liveness', responses: { '200': json('alive', { type: 'object' }) } } },
      '/readyz': {
        get: {
          summary: 'Readiness: database, audit log, engine, policy, cache',
          responses: { '200': json('ready', { type: 'object' }), '503': problem('DEPENDENCY_UNAVAILABLE') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: {
            '200': { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', responses: { '200': json('OpenAPI 3.1', { type: 'object' }) } },
      },
      '/.well-known/jwks.json': {
        get: {
          summary: 'Public keys of the local development issuer (only when no OIDC issuer is configured)',
          responses: { '200': json('JWKS', { type: 'object' }) },
        },
      },
      '/v1/datasets/{id}': {
        parameters: [datasetIdParam],
        put: {
          summary: 'Define or update a dataset (dp owner, admin)',
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('DatasetDefinition') } } },
          responses: {
            '200': json('updated', ref('Dataset')),
            '201': json('created', ref('Dataset')),
            '409': problem('DATASET_SCHEMA_CONFLICT: filter length change with an active version'),
            ...pick('400', '401', '403', '413', '422'),
          },
        },
        get: {
          summary: 'A dataset: schema (to encode locally), claims, active version, rows (any role)',
          security: bearer,
          responses: { '200': json('the dataset', ref('Dataset')), ...pick('401', '403', '404') },
        },
        delete: {
          summary:
            "Delete a dataset (dp owner, admin): every version's rows, the linkage secret and cached answers go at once; requests already running finish. The id stays the owner's: defining it again continues the version numbers",
          security: bearer,
          responses: { '204': { description: 'deleted' }, ...pick('401', '403', '404') },
        },
      },
      '/v1/datasets/{id}/versions': {
        parameters: [datasetIdParam],
        post: {
          summary: 'Upload a new version (dp owner, admin); streamed, swapped in atomically once loaded',
          security: bearer,
          requestBody: {
            required: true,
            content: {
              'application/x-ndjson': {
                schema: {
                  type: 'string',
                  description:
                    'one JSON object per line: {"ref": string (≤256 bytes, unique), "clk": base64, "claims": {name: scalar}}',
                },
              },
              'application/vnd.pavilion.dataset': {
                schema: {
                  type: 'string',
                  format: 'binary',
                  description:
                    'PVDS, little-endian: "PVDS" | u32 format version (1) | u32 filterBits | u32 count | count × (u16 ref length | ref UTF-8 | CLK filterBits/8 bytes) | optional: u32 claims length | UTF-8 JSON array of count claims objects or nulls',
                },
              },
            },
          },
          responses: {
            '201': json('version active', ref('VersionCreated')),
            '415': problem('UNSUPPORTED_MEDIA_TYPE'),
            ...pick('400', '401', '403', '404', '413', '422'),
          },
        },
      },
      '/v1/datasets/{id}/secret': {
        parameters: [datasetIdParam],
        put: {
          summary:
            'Register the linkage secret for broker-side encoding (dp owner); stored AES-256-GCM-encrypted, never returned',
          security: bearer,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['secret'],
                  properties: { secret: { type: 'string', minLength: 8 } },
                },
              },
            },
          },
          responses: { '204': { description: 'stored' }, ...pick('400', '401', '403', '404', '413', '422') },
        },
      },
      '/v1/datasets/{id}/pulls': {
        parameters: [datasetIdParam],
        post: {
          summary:
            'Publish a version from the object store (dp owner, admin): the file is streamed, checked and swapped in like an upload, in the background',
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('PullRequest') } } },
          responses: {
            '202': json('pull started; poll the Location', ref('Pull')),
            ...pick('400', '401', '403', '404', '413', '422'),
          },
        },
      },
      '/v1/datasets/{id}/pulls/{pull}': {
        parameters: [
          datasetIdParam,
          { name: 'pull', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        ],
        get: {
          summary: 'How a pull went (dp owner, admin)',
          security: bearer,
          responses: { '200': json('the pull', ref('Pull')), ...pick('401', '403', '404') },
        },
      },
      '/v1/verifications': {
        post: {
          summary: 'Verify one person against a dataset (rp); answered after the audit entry is durable',
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('VerificationRequest') } } },
          responses: {
            '200': json('the answer', ref('VerificationAnswer')),
            '409': problem('DATASET_NOT_READY, DATASET_SECRET_MISSING'),
            ...pick('400', '401', '403', '404', '413', '422', '503'),
          },
        },
      },
      '/v1/linkage-jobs': {
        post: {
          summary: 'Submit N CLKs for batch linkage (rp); progress and results on the WebSocket (subscribe)',
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('LinkageJobRequest') } } },
          responses: { '202': json('accepted', ref('LinkageJob')), ...pick('400', '401', '403', '404', '413', '422') },
        },
      },
      '/v1/linkage-jobs/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        get: {
          summary: 'Job status (owner, admin)',
          security: bearer,
          responses: { '200': json('status', ref('LinkageJob')), ...pick('401', '403', '404') },
        },
      },
      '/v1/linkage-jobs/{id}/results': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        get: {
          summary: 'Job results (owner, admin)',
          security: bearer,
          responses: {
            '200': json('pairs', ref('LinkageResults')),
            '409': problem('JOB_NOT_DONE, JOB_FAILED'),
            ...pick('401', '403', '404'),
          },
        },
      },
      '/v1/audit/checkpoint': {
        get: {
          summary: 'Latest signed checkpoint (C2SP signed note)',
          security: bearer,
          responses: {
            '200': { description: 'note', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...pick('401', '403'),
          },
        },
      },
      '/v1/audit/key': {
        get: {
          summary: 'The log origin and verifier key(s)',
          security: bearer,
          responses: { '200': json('keys', { type: 'object' }), ...pick('401', '403') },
        },
      },
      '/v1/audit/proofs/inclusion': {
        get: {
          summary: 'RFC 9162 inclusion proof',
          security: bearer,
          parameters: [
            { name: 'index', in: 'query', schema: { type: 'integer' }, description: 'leaf index (or give leaf_hash)' },
            {
              name: 'leaf_hash',
              in: 'query',
              schema: { type: 'string', contentEncoding: 'base64' },
              description: 'the leaf hash from a receipt, instead of index',
            },
            { name: 'size', in: 'query', schema: { type: 'integer' }, description: 'default: current size' },
          ],
          responses: {
            '200': json('proof', ref('Proof')),
            '400': problem('SIZE_INVALID: a size above the committed tree size, or from = 0'),
            ...pick('401', '403', '422'),
          },
        },
      },
      '/v1/audit/proofs/consistency': {
        get: {
          summary: 'RFC 9162 consistency proof',
          security: bearer,
          parameters: [
            { name: 'from', in: 'query', required: true, schema: { type: 'integer' } },
            { name: 'to', in: 'query', schema: { type: 'integer' } },
          ],
          responses: {
            '200': json('proof', ref('Proof')),
            '400': problem('SIZE_INVALID: a size above the committed tree size, or from = 0'),
            ...pick('401', '403', '422'),
          },
        },
      },
      '/v1/audit/receipts/{index}': {
        parameters: [{ name: 'index', in: 'path', required: true, schema: { type: 'integer' } }],
        get: {
          summary: 'C2SP tlog-proof receipt for a leaf (409 RECEIPT_NOT_READY until a checkpoint covers it)',
          security: bearer,
          responses: {
            '200': { description: 'receipt', content: { 'text/plain': { schema: { type: 'string' } } } },
            '409': problem('RECEIPT_NOT_READY'),
            ...pick('401', '403', '422'),
          },
        },
      },
      '/v1/audit/entries/{index}': {
        parameters: [{ name: 'index', in: 'path', required: true, schema: { type: 'integer' } }],
        get: {
          summary: 'An audit entry: canonical event and leaf hash (auditor, admin)',
          security: bearer,
          responses: { '200': json('entry', { type: 'object' }), ...pick('401', '403', '404', '422') },
        },
      },
      '/v1/audit/tile/{path}': {
        parameters: [
          {
            name: 'path',
            in: 'path',
            required: true,
            description:
              'C2SP tlog-tiles resource below the prefix /v1/audit (slashes included): `<L>/<N>[.p/<W>]` for a hash tile, `entries/<N>[.p/<W>]` for an entry bundle; N in 3-digit groups, all but the last prefixed with x (1234067 → x001/x234/067)',
            schema: { type: 'string' },
          },
        ],
        get: {
          summary:
            'C2SP tlog-tiles: a tile of up to 256 consecutive tree hashes (any role), or an entry bundle of canonical events, each a big-endian uint16 length and its bytes (auditor, admin); immutable',
          security: bearer,
          responses: {
            '200': {
              description: 'the tile or bundle',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
            '404': problem('TILE_NOT_FOUND: not a tile path, or the committed tree does not have it yet'),
            ...pick('401', '403'),
          },
        },
      },
      '/v1/parties': {
        get: {
          summary: 'The relying parties and data providers that have used the broker (auditor, admin)',
          security: bearer,
          responses: {
            '200': json('parties', {
              type: 'object',
              properties: {
                parties: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      subject: { type: 'string' },
                      roles: { type: 'array', items: { type: 'string' } },
                      tenant: { type: ['string', 'null'] },
                      first_seen: { type: 'string', format: 'date-time' },
                      last_seen: { type: 'string', format: 'date-time' },
                    },
                  },
                },
              },
            }),
            ...pick('401', '403'),
          },
        },
      },
      '/v1/ws': {
        get: {
          summary:
            'WebSocket: verify and subscribe messages (see server/ws.ts); auth by Authorization header on upgrade or a first {"type":"auth","token"} message',
          responses: { '101': { description: 'switching protocols' }, ...pick('401') },
        },
      },
    },
  };
}

/** `node --import tsx server/openapi.ts --write` regenerates openapi/openapi.json (a test keeps it in step). */
if (process.argv.includes('--write') && /server\/openapi\.[tj]s$/.test(process.argv[1] ?? '')) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { fromRoot } = await import('../common/paths.js');
  mkdirSync(fromRoot('openapi'), { recursive: true });
  writeFileSync(fromRoot('openapi', 'openapi.json'), `${JSON.stringify(openApiDocument(), null, 2)}\n`);
}
