/**
 * The wire shapes of the HTTP and WebSocket API, in one place: the shared patterns (dataset id, claim
 * name, purpose…), every request body, path and query parameter, and every JSON answer. The router
 * validates requests with these schemas and the OpenAPI document (server/http/openapi.ts) is generated
 * from the very same objects, so what is documented is what is enforced.
 *
 * Messages of the patterns name the expected form, never the value received (server/http/validation.ts).
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { SECRET_FINGERPRINT } from '../../common/secret-fingerprint.js';

extendZodWithOpenApi(z);

// --- shared patterns --------------------------------------------------------------------------------------

/**
 * Dataset ids name object-store prefixes (`datasets/<id>/…`) and folders, so the dot segments `.` and
 * `..` are refused, and ids are read as sent (never percent-decoded): every allowed character is
 * unreserved (RFC 3986 §2.3), so an id has one spelling on the wire.
 */
export const DATASET_ID = /^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$/;
export const datasetId = z
  .string()
  .regex(DATASET_ID, 'must match [A-Za-z0-9._-]{1,128} and not be . or ..')
  .openapi({ description: 'dataset id: 1–128 of A–Z a–z 0–9 . _ - (not . or ..)', example: 'licences' });

export const CLAIM_NAME = /^[a-z][a-z0-9_]{0,63}$/;
export const claimName = z.string().regex(CLAIM_NAME, 'must match [a-z][a-z0-9_]{0,63}');

export const PURPOSE = /^[A-Za-z0-9._:-]{1,64}$/;
export const purpose = z
  .string()
  .regex(PURPOSE, 'must match [A-Za-z0-9._:-]{1,64}')
  .openapi({ description: 'why the relying party asks; the policy knows which purposes it accepts', example: 'kyc' });

/**
 * Job and pull ids: UUIDs, but not validated as such, since an id that is not one of yours answers 404
 * whatever its form (the service checks; common/uuid.ts), revealing nothing about which ids exist.
 */
export const resourceId = z.string().openapi({ format: 'uuid' });

export const base64Clk = z
  .string()
  .min(1)
  .max(1 << 17)
  .openapi({ format: 'byte', description: 'standard padded base64 of the CLK (clkConfig.l bits)' });

/** The fingerprint of a linkage secret (common/secret-fingerprint.ts): 16 lowercase hex digits. */
export const secretFingerprint = z
  .string()
  .regex(SECRET_FINGERPRINT, 'must be 16 lowercase hex digits (pavilion encode prints it)')
  .openapi({
    description:
      'PBKDF2-HMAC-SHA256 of the linkage secret, salt "pavilion linkage secret fingerprint v1", 100,000 ' +
      'iterations, 8 bytes, hex: equal fingerprints, equal secrets (docs/data-providers.md)',
    example: '8db6619e82a51ed1',
  });

/** `true` or `false` as a query parameter. */
const booleanParam = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .openapi({ type: 'boolean' });

/**
 * A non-negative integer as a path or query parameter (at most 15 digits: below 2^53), spelt one way: "01" is
 * not a second URL for the version, leaf, proof or receipt of "1" (checkpoints and receipts write no leading zero).
 */
export const indexParam = z
  .string()
  .regex(/^(0|[1-9]\d{0,14})$/, 'must be a non-negative integer below 10^15, without a leading zero')
  .transform(Number)
  .openapi({ type: 'integer', minimum: 0, maximum: 999_999_999_999_999 });

/** A leaf hash as a query parameter: 32 bytes in canonical standard base64 (44 characters). */
const leafHashParam = z
  .string()
  .regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, 'must be 32 bytes in standard base64')
  .openapi({ format: 'byte', description: 'the leaf hash from a receipt (32 bytes, standard base64)' });

const timestamp = z.string().openapi({ format: 'date-time' });

/*
 * Answers that may be null, spelt so the OpenAPI document admits the null. zod-to-openapi 7.3 documents
 * `.nullable()` of an enum as `type: [string, null]` with null missing from its `enum`, and of a registered
 * schema as `allOf: [$ref, {type: [object, null]}]`; both refuse null, so a validating client refused real
 * answers (a job without blocking, a failed version).
 */

/** One of `values`, or null. */
function nullableEnum<T extends [string, ...string[]]>(values: T) {
  return z
    .enum(values)
    .nullable()
    .openapi({ enum: [...values, null] });
}

/** `schema`, registered as the component `name` (`.openapi(name)`), or null. */
function nullableRef<T extends z.ZodTypeAny>(schema: T, name: string) {
  return z.union([schema, z.null()]).openapi({ anyOf: [{ $ref: `#/components/schemas/${name}` }, { type: 'null' }] });
}

// --- problems -------------------------------------------------------------------------------------------

export const Problem = z
  .object({
    type: z.string().openapi({ format: 'uri', description: 'urn:pavilion:problem:<code in lower case with dashes>' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    code: z.string().openapi({ description: 'stable error code (docs/errors.md)', pattern: '^[A-Z0-9_]+$' }),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'VALIDATION_FAILED: JSON paths of the offending fields, never their values' }),
  })
  .openapi('Problem');

// --- datasets ---------------------------------------------------------------------------------------------

export const DatasetIdParams = z.object({ id: datasetId });
export const PullParams = z.object({ id: datasetId, pull: resourceId });

/** Types a dataset definition may give a claim (server/datasets/claim-types.ts checks values against them). */
export const CLAIM_TYPES = ['boolean', 'integer', 'number', 'string', 'date'] as const;
const claimType = z.enum(CLAIM_TYPES);
const CLAIMS_FORM =
  'a list of claim names (each `scalar`: any boolean, number or string, one type per version), or an object ' +
  'of claim name → boolean | integer | number | string | date (at most 64 claims)';
export const ClaimsDefinition = z
  .union(
    [
      z.array(claimName).max(64),
      z.record(claimName, claimType).refine((r) => Object.keys(r).length <= 64, { message: 'at most 64 claims' }),
    ],
    { errorMap: () => ({ message: `must be ${CLAIMS_FORM}` }) },
  )
  // A name listed twice is a mistake to name, not to fold into one.
  .refine((c) => !Array.isArray(c) || new Set(c).size === c.length, { message: 'a claim name is listed twice' })
  .openapi({ description: `the claims each record may carry: ${CLAIMS_FORM}` });

export const DatasetDefinition = z
  .object({
    schema: z
      .record(z.unknown())
      .openapi({ description: 'clkhash linkage schema v3; clkConfig.l is the CLK length in bits (multiple of 64)' }),
    claims: ClaimsDefinition,
    allow_broker_encoding: z.boolean().optional().openapi({
      description: 'let relying parties send a record for broker-side encoding (the policy still decides)',
    }),
    purposes: z.array(purpose).max(64).optional().openapi({ description: 'purposes accepted for this dataset' }),
  })
  .strict()
  .openapi('DatasetDefinition');
export type DatasetDefinition = z.infer<typeof DatasetDefinition>;

export const Dataset = z
  .object({
    id: z.string(),
    owner: z.string().optional().openapi({
      description: "the data provider's party name, which may be an e-mail address: given only to the owner and admins",
    }),
    schema: z.record(z.unknown()),
    claims: z.array(z.string()),
    filter_bits: z.number().int(),
    claim_types: z
      .record(z.enum([...CLAIM_TYPES, 'scalar']))
      .openapi({ description: "each claim's type; `scalar` for claims declared by name only" }),
    allow_broker_encoding: z.boolean(),
    purposes: z.array(z.string()).nullable(),
    active_version: z.number().int().nullable(),
    rows: z.number().int(),
    secret_fingerprint: z
      .string()
      .nullable()
      .openapi({
        description:
          'fingerprint of the linkage secret the active version was encoded with, as its provider declared it: ' +
          'compare it with the one pavilion encode prints for your secret (null: not declared)',
      }),
    broker_secret_fingerprint: z
      .string()
      .nullable()
      .openapi({ description: 'fingerprint of the secret registered for broker-side encoding (null: none)' }),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .openapi('Dataset');

export const VersionQuery = z.object({
  activate: booleanParam.optional().openapi({
    description: 'false: store and check the version, serve it once activated (default true: served at once)',
  }),
  dry_run: booleanParam
    .optional()
    .openapi({ description: 'true: check the upload and report what it holds; nothing is stored' }),
  secret_fingerprint: secretFingerprint
    .optional()
    .openapi({ description: 'fingerprint of the secret the CLKs were encoded with (shown to relying parties)' }),
});
export type VersionQuery = z.infer<typeof VersionQuery>;

export const VersionParams = z.object({ id: datasetId, version: indexParam });

export const VersionSummary = z
  .object({
    rows: z.number().int(),
    claims: z.record(
      z.object({
        type: z.string(),
        values: z.number().int().openapi({ description: 'rows holding a value' }),
        nulls: z.number().int().openapi({ description: 'rows holding null (the rest lack the claim)' }),
      }),
    ),
    duplicate_clks: z
      .number()
      .int()
      .openapi({ description: "rows whose CLK equals an earlier row's: those people answer ambiguous" }),
    empty_clks: z.number().int().openapi({ description: 'rows whose CLK has no bit set: they never match' }),
  })
  .openapi('VersionSummary');

const versionStatus = z.enum([
  'loading',
  'staged',
  'active',
  'superseded',
  'retired',
  'failed',
  'discarded',
  'deleted',
]);

export const VersionCreated = z
  .object({
    dataset: z.string(),
    version: z.number().int().nullable().openapi({ description: 'null for a dry run' }),
    status: z.enum(['active', 'staged', 'dry_run']),
    rows: z.number().int(),
    filter_bits: z.number().int(),
    active_version: z.number().int().nullable().openapi({
      description: 'the version serving before this upload (still serving unless status is active)',
    }),
    active_rows: z.number().int().openapi({ description: 'its rows, to compare with this upload' }),
    secret_fingerprint: z.string().nullable(),
    summary: VersionSummary,
  })
  .openapi('VersionCreated');

export const Version = z
  .object({
    version: z.number().int(),
    status: versionStatus.openapi({
      description:
        'superseded: the previous version, rows kept (what a rollback activates); retired, failed, discarded, ' +
        'deleted: rows gone',
    }),
    rows: z.number().int(),
    filter_bits: z.number().int(),
    created_by: z.string(),
    created_at: timestamp,
    activated_at: timestamp.nullable(),
    secret_fingerprint: z.string().nullable(),
    summary: nullableRef(VersionSummary, 'VersionSummary'),
    error_code: z.string().nullable().openapi({ description: 'failed: why (docs/errors.md)' }),
  })
  .openapi('Version');

export const Versions = z
  .object({ dataset: z.string(), active_version: z.number().int().nullable(), versions: z.array(Version) })
  .openapi('Versions');

export const Activation = z
  .object({
    dataset: z.string(),
    version: z.number().int(),
    previous_version: z.number().int().nullable(),
    rows: z.number().int(),
    changed: z.boolean().openapi({ description: 'false: the version was already the active one' }),
  })
  .openapi('Activation');

export const SecretBody = z
  .object({
    secret: z
      .string()
      .min(8)
      .max(4096)
      .openapi({ description: 'the linkage secret as text; a lone surrogate (no UTF-8 form) is 422 SECRET_INVALID' }),
  })
  .strict()
  .openapi('LinkageSecret');

export const PullRequest = z
  .object({
    // Bounded by the object-key check, not here, so every key it refuses answers OBJECT_KEY_INVALID.
    object: z.string().openapi({
      description:
        'key below datasets/{id}/ in the object store: slash-separated segments of 1–128 of [A-Za-z0-9._-], ' +
        'none . or .., the whole key datasets/{id}/{object} at most 512 bytes; otherwise 422 OBJECT_KEY_INVALID',
    }),
    format: z
      .enum(['jsonl', 'binary'])
      .optional()
      .openapi({ description: 'default: from the extension (.jsonl/.ndjson, .pvds)' }),
    activate: z
      .boolean()
      .optional()
      .openapi({ description: 'false: stage the version, served once activated (default true)' }),
    secret_fingerprint: secretFingerprint.optional(),
  })
  .strict()
  .openapi('PullRequest');

export const Pull = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    dataset: z.string(),
    object: z.string().openapi({ description: 'the full object key read' }),
    format: z.enum(['jsonl', 'binary']),
    status: z.enum(['running', 'succeeded', 'failed']),
    bytes: z.number().int().nullable(),
    version: z.number().int().nullable().openapi({ description: 'the version published (succeeded)' }),
    rows: z.number().int().nullable(),
    error: z
      .object({ code: z.string(), detail: z.string().nullable() })
      .nullable()
      .openapi({ description: 'failed: the problem code the upload would have answered (docs/errors.md)' }),
    created_at: timestamp,
    finished_at: timestamp.nullable(),
  })
  .openapi('Pull');

// --- verifications ----------------------------------------------------------------------------------------

export const VerificationRequest = z
  .object({
    dataset: datasetId,
    clk: base64Clk.optional(),
    record: z
      .record(z.string().max(1024))
      .optional()
      .openapi({
        description:
          "field → value, encoded by the broker with the DP's linkage secret when the dataset and policy allow; " +
          "every field of the dataset's schema but its ignored ones, '' for an unknown value; never stored or logged",
      }),
    claims: z.array(claimName).max(64).default([]),
    purpose,
    consent: z.boolean().optional(),
  })
  .strict()
  // One refinement for both rules: every verification parses this, and in zod 3 each refinement layer costs
  // about 0.9 µs a parse (the whole schema 3.1 µs with two layers, 2.2 µs with one).
  .superRefine((b, ctx) => {
    if (b.clk !== undefined && b.record !== undefined)
      ctx.addIssue({ code: 'custom', message: 'send clk or record, not both', path: ['record'] });
    if (b.clk === undefined && b.record === undefined)
      ctx.addIssue({ code: 'custom', message: 'one of clk or record is required', path: ['clk'] });
  })
  .openapi('VerificationRequest', {
    description: 'exactly one of clk or record',
    oneOf: [{ required: ['clk'] }, { required: ['record'] }],
  });
export type VerificationRequest = z.infer<typeof VerificationRequest>;

export const Receipt = z
  .object({ origin: z.string(), index: z.number().int(), leaf_hash: z.string().openapi({ format: 'byte' }) })
  .openapi('Receipt');

export const VerificationAnswer = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    decision: z.enum(['match', 'no_match', 'ambiguous']).openapi({
      description: 'ambiguous: two records at or above the policy min score within AMBIGUITY_MARGIN of each other',
    }),
    score: z.number().min(0).max(1).openapi({ description: 'best Dice score (0 for no_match)' }),
    claims: z
      .record(z.unknown())
      .openapi({ description: 'claims of the matched record that were requested and the policy releases' }),
    dataset_version: z.number().int(),
    receipt: Receipt,
    cached: z.boolean(),
  })
  .openapi('VerificationAnswer');
export type VerificationAnswer = z.infer<typeof VerificationAnswer>;

// --- linkage jobs -----------------------------------------------------------------------------------------

export const JobParams = z.object({ id: resourceId });

/** Most datasets one multi-party job may name. */
export const MAX_JOB_DATASETS = 16;
/** Most chunks one job is split into (server/linkage/jobs.ts). */
export const MAX_JOB_CHUNKS = 1024;

export const LinkageBlockingRequest = z
  .object({ type: z.enum(['lambda-fold', 'blocks']) })
  .passthrough()
  .openapi('LinkageBlocking', {
    description:
      "compare only blocking candidates (docs/linkage.md). Either blocklib's lambda-fold config on CLKs, " +
      '`{"type": "lambda-fold", "version": 1, "config": {"blocking-features": [0], "Lambda": 100, "K": 20, ' +
      '"bf-len": 1024, "num-hash-funcs": 1, "input-clks": true, "random_state": 0}}` (Hamming LSH, run by the ' +
      'broker; a bad config is 422 BLOCKING_CONFIG_INVALID), or blocks the parties computed (p-sig with ' +
      '`pavilion block`, blocklib, anonlink-client): `{"type": "blocks", "datasets": {"<dataset>": <blocks>}, ' +
      '"queries": <blocks>}`, each <blocks> anonlink-client\'s `{"blocks": {"<record index>": [keys…]}}` or ' +
      '`{"clknblocks": […]}`; blocks that do not fit the records are 422 BLOCKS_INVALID',
  });
export type LinkageBlockingRequest = z.infer<typeof LinkageBlockingRequest>;

export const LinkageJobRequest = z
  .object({
    dataset: datasetId.optional().openapi({ description: 'the dataset to link the clks against (two parties)' }),
    datasets: z
      .array(datasetId)
      .min(2)
      .max(MAX_JOB_DATASETS)
      .optional()
      .openapi({
        uniqueItems: true,
        description:
          'a multi-party job: these datasets (and the clks, when sent, as one more party) linked into groups ' +
          "of records, one entity across parties (anonlink's multi-party greedy solution)",
      }),
    clks: z.array(base64Clk).min(1).max(1_000_000).optional().openapi({ description: 'required with `dataset`' }),
    threshold: z.number().min(0).max(1).openapi({ description: 'raised to the policy min score if lower' }),
    top_k: z.number().int().min(1).max(10_000).optional().openapi({ description: 'two parties without blocking' }),
    solution: z
      .enum(['pairs', 'greedy'])
      .default('pairs')
      .openapi({
        description:
          'greedy: 1:1, pairs taken best first when neither side is taken (anonlink greedy_solve); multi-party ' +
          'jobs are always greedy (groups)',
      }),
    claims: z.array(claimName).max(64).default([]).openapi({
      description: 'claims of each matched record to return, as far as the policy releases them for the purpose',
    }),
    blocking: LinkageBlockingRequest.optional(),
    chunks: z
      .number()
      .int()
      .min(1)
      .max(MAX_JOB_CHUNKS)
      .optional()
      .openapi({
        description:
          'split the job into this many chunks, which any broker replica runs (default: sized by ' +
          'LINKAGE_CHUNK_COMPARISONS; an LSH job has at most one chunk per band that does work)',
      }),
    purpose,
    consent: z.boolean().optional(),
  })
  .strict()
  .refine((b) => (b.dataset === undefined) !== (b.datasets === undefined), {
    message: 'send dataset (two parties) or datasets (multi-party), one of them',
    path: ['dataset'],
  })
  .refine((b) => b.dataset === undefined || b.clks !== undefined, {
    message: 'a job on one dataset needs clks',
    path: ['clks'],
  })
  .refine((b) => b.datasets === undefined || new Set(b.datasets).size === b.datasets.length, {
    message: 'each dataset once',
    path: ['datasets'],
  })
  .openapi('LinkageJobRequest', {
    description: 'exactly one of dataset (with clks) or datasets',
    oneOf: [
      { required: ['dataset', 'clks'], not: { required: ['datasets'] } },
      { required: ['datasets'], not: { required: ['dataset'] } },
    ],
  });
export type LinkageJobRequest = z.infer<typeof LinkageJobRequest>;

export const LinkageJob = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    dataset: z.string().openapi({ description: 'the (first) dataset' }),
    dataset_version: z.number().int().nullable(),
    datasets: z
      .array(z.object({ dataset: z.string(), version: z.number().int() }))
      .openapi({ description: 'every dataset of the job with the version it runs on, in party order' }),
    threshold: z.number(),
    policy_minimum: z
      .number()
      .nullable()
      .openapi({ description: "the policy's min score (the highest over the datasets): no pair below it is released" }),
    top_k: z.number().int().nullable(),
    solution: z.enum(['pairs', 'greedy']),
    blocking: nullableEnum(['lambda-fold', 'blocks']),
    claims: z.array(z.string()).openapi({ description: 'the claims the results carry (requested ∩ released)' }),
    done: z.number().int().openapi({ description: 'queries processed (share of the work done × total)' }),
    total: z.number().int().openapi({ description: 'queries submitted; records of every party for multi-party jobs' }),
    chunks: z
      .object({ count: z.number().int(), done: z.number().int() })
      .nullable()
      .openapi({ description: 'a job split into chunks any broker replica runs: how many, and how many stored' }),
    pair_count: z.number().int().nullable().openapi({ description: 'pairs, or groups of a multi-party job' }),
    comparisons: z
      .object({ compared: z.number().int(), full: z.number().int(), avoided: z.number().int() })
      .nullable()
      .openapi({
        description:
          'once done: pairs of records compared, the cross-party pairs brute force compares, and those blocking ' +
          'avoided (full − compared; a pair met in several blocks counts each time it is compared)',
      }),
    error_code: z.string().nullable(),
    created_at: timestamp,
    finished_at: timestamp.nullable(),
  })
  .openapi('LinkageJob');

export const LinkedPair = z
  .object({
    query: z.number().int().openapi({ description: 'position of the query in the submitted clks' }),
    candidate: z
      .number()
      .int()
      .openapi({
        description:
          "the matched record, numbered within this job's results (0, 1, … in order of first appearance): pairs " +
          "naming one candidate matched one record. Never the data provider's record id or row",
      }),
    score: z.number(),
    claims: z.record(z.unknown()).openapi({ description: "the matched record's released claims" }),
  })
  .openapi('LinkedPair');

export const GroupMember = z
  .object({
    dataset: z.string().optional().openapi({ description: 'the dataset of a data provider record' }),
    candidate: z
      .number()
      .int()
      .optional()
      .openapi({
        description:
          "the dataset's record, numbered within this job's results per dataset (in order of first appearance); " +
          "never the data provider's record id",
      }),
    claims: z.record(z.unknown()).optional().openapi({ description: "the record's released claims" }),
    query: z.number().int().optional().openapi({ description: 'position of a submitted CLK (the clks party)' }),
  })
  .openapi('GroupMember', { description: '{dataset, candidate, claims} or {query}' });

const ThresholdPoint = z.object({
  threshold: z.number(),
  links: z.number().int(),
  precision: z.number(),
  recall: z.number(),
});

export const ThresholdGuidance = z
  .object({
    floor: z.number(),
    histogram: z.object({
      floor: z.number(),
      width: z.number(),
      links: z.array(z.number().int()).openapi({ description: "sampled queries' best scores, counted per bin" }),
      strangers: z.array(z.number().int()).openapi({ description: 'runner-up scores of surely matched queries' }),
    }),
    curve: z.array(ThresholdPoint).openapi({ description: 'estimated precision and recall per threshold' }),
    suggested: ThresholdPoint.openapi({ description: 'highest estimated F1, never below the policy minimum' }),
    at_policy_minimum: ThresholdPoint.nullable().openapi({ description: "what the policy's minimum costs" }),
    policy_minimum: z.number().nullable(),
    match_share: z.number(),
    sampled_queries: z.number().int(),
  })
  .openapi('ThresholdGuidance', {
    description:
      'aggregate score histograms of a sample of the queries against the (first) dataset and the estimated ' +
      'precision and recall per threshold (docs/linkage.md, "Threshold guidance"); counts, never pairs',
  });

export const LinkageResults = z
  .object({
    job: z.string(),
    solution: z.enum(['pairs', 'greedy']),
    pair_count: z.number().int().optional(),
    pairs: z.array(LinkedPair).optional().openapi({ description: 'two-party jobs' }),
    group_count: z.number().int().optional(),
    groups: z
      .array(z.array(GroupMember))
      .optional()
      .openapi({ description: 'multi-party jobs: groups of two or more records, one entity across parties' }),
    policy_minimum: z.number().nullable(),
    guidance: ThresholdGuidance.nullable().openapi({
      description: 'null for jobs without clks, or when the sample had too few scores (GUIDANCE_TOO_FEW_SCORES)',
    }),
  })
  .openapi('LinkageResults');

// --- audit ------------------------------------------------------------------------------------------------

export const InclusionQuery = z.object({
  index: indexParam.optional().openapi({ description: 'leaf index (or give leaf_hash; one of the two, not both)' }),
  leaf_hash: leafHashParam
    .optional()
    .openapi({ description: 'the leaf hash from a receipt, instead of index (one of the two, not both)' }),
  size: indexParam.optional().openapi({ description: 'tree size (default: the current size)' }),
});

export const ConsistencyQuery = z.object({
  from: indexParam
    .refine((n) => n >= 1, 'must be at least 1 (a proof from the empty tree is meaningless)')
    .openapi({ minimum: 1 }),
  to: indexParam.optional().openapi({ description: 'default: the current size' }),
});

export const IndexParams = z.object({ index: indexParam });
export const TileParams = z.object({
  path: z.string().openapi({
    description:
      'C2SP tlog-tiles resource below the prefix /v1/audit (slashes included): `<L>/<N>[.p/<W>]` for a hash ' +
      'tile, `entries/<N>[.p/<W>]` for an entry bundle; N in 3-digit groups, all but the last prefixed with x',
  }),
});

export const InclusionProof = z
  .object({
    index: z.number().int(),
    size: z.number().int(),
    leaf_hash: z.string().openapi({ format: 'byte' }),
    hashes: z.array(z.string().openapi({ format: 'byte' })),
  })
  .openapi('InclusionProof');

export const ConsistencyProof = z
  .object({
    from: z.number().int(),
    to: z.number().int(),
    hashes: z.array(z.string().openapi({ format: 'byte' })),
  })
  .openapi('ConsistencyProof');

export const LogKeys = z
  .object({
    origin: z.string(),
    verifier_key: z.string(),
    verifier_keys: z.array(z.string()),
    witnesses: z
      .array(z.object({ url: z.string(), key: z.string() }).passthrough())
      .openapi({ description: 'the witnesses asked to cosign each checkpoint (C2SP tlog-witness)' }),
  })
  .openapi('LogKeys');

export const AnchoringFactsBody = z
  .object({
    enabled: z.boolean(),
    origin: z.string(),
    log_id: z.string(),
    chain: z.string().optional(),
    contract: z.string().optional(),
    deploy_block: z.number().int().nullable().optional(),
    rpc_url: z.string().nullable().optional(),
    anchored_event: z.string().optional(),
    anchored_topic: z.string().optional(),
    abi: z.array(z.unknown()).optional(),
  })
  .openapi('AnchoringFacts');

export const AuditEntry = z
  .object({
    index: z.number().int(),
    leaf_hash: z.string().openapi({ format: 'byte' }),
    event: z.record(z.unknown()),
  })
  .openapi('AuditEntry');

// --- policy -------------------------------------------------------------------------------------------

export const PolicyDescription = z
  .object({
    version: z.string().openapi({ description: '<bundle revision>+<digest prefix>: what audit events carry' }),
    revision: z.string().openapi({ description: 'the bundle manifest revision' }),
    digest: z.string().openapi({ description: "SHA-256 over the bundle's members" }),
    signed: z.boolean().openapi({ description: "the bundle's signature was verified (POLICY_BUNDLE_KEY)" }),
    purposes: z.record(
      z
        .object({
          claims: z.array(z.string()).openapi({ description: 'the only claims it may reveal' }),
          consent_required: z.boolean().openapi({ description: 'requests must carry consent: true' }),
          min_score: z.number().openapi({ description: 'Dice score below which no match is reported' }),
          cache_ttl_seconds: z.number().int(),
          description: z.string().optional(),
        })
        .passthrough(),
    ),
    actions: z.record(z.array(z.string())),
    reasons: z.record(z.string()).openapi({ description: 'deny reason → meaning' }),
  })
  .passthrough()
  .openapi('PolicyDescription');

export const PolicyReloaded = z
  .object({ changed: z.boolean(), previous: z.string(), version: z.string(), policy: PolicyDescription })
  .openapi('PolicyReloaded');

// --- parties and health -----------------------------------------------------------------------------------

export const Parties = z
  .object({
    parties: z.array(
      z.object({
        subject: z.string(),
        roles: z.array(z.string()),
        tenant: z.string().nullable(),
        first_seen: timestamp,
        last_seen: timestamp,
      }),
    ),
  })
  .openapi('Parties');

export const Health = z.object({ status: z.literal('ok') }).openapi('Health');
export const Readiness = z.object({ status: z.literal('ready'), checks: z.record(z.boolean()) }).openapi('Readiness');
