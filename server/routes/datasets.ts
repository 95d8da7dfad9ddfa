/**
 * Dataset routes (DP side, plus read access for relying parties that fetch the schema to encode
 * locally).
 *
 *   PUT    /v1/datasets/{id}            dp, admin   define or update
 *   GET    /v1/datasets/{id}            any role    schema, claims, active version, rows (owner: to it and admins)
 *   DELETE /v1/datasets/{id}            dp, admin   delete every version's rows, the secret, cached answers
 *   POST   /v1/datasets/{id}/versions   dp, admin   upload a version (JSONL or PVDS binary), streamed: served at
 *                                                   once, or staged (?activate=false), or only checked (?dry_run=true)
 *   GET    /v1/datasets/{id}/versions   dp, admin   every version, newest first: status, rows, summary
 *   POST   /v1/datasets/{id}/versions/{v}/activate  dp, admin   serve a staged version (or the previous one)
 *   DELETE /v1/datasets/{id}/versions/{v}           dp, admin   discard a staged version (or the previous one)
 *   POST   /v1/datasets/{id}/rollback   dp, admin   serve the previous version again
 *   PUT    /v1/datasets/{id}/secret     dp          register the linkage secret (never returned)
 *   POST   /v1/datasets/{id}/pulls      dp, admin   publish a version from the object store (202, in the background)
 *   GET    /v1/datasets/{id}/pulls/{p}  dp, admin   how that pull went
 */

import type { Principal } from '../../identity/index.js';
import type { PullRecord } from '../datasets/pull-store.js';
import type { DatasetPulls } from '../datasets/pulls.js';
import { type Activated, type DatasetService, mayManage, type Published, uploadFormat } from '../datasets/service.js';
import type { DatasetRecord, VersionRecord } from '../datasets/store.js';
import type { HttpRouter } from '../http/router.js';
import {
  Activation,
  Dataset,
  DatasetDefinition,
  DatasetIdParams,
  Pull,
  PullParams,
  PullRequest,
  SecretBody,
  Version,
  VersionCreated,
  VersionParams,
  VersionQuery,
  Versions,
} from '../http/schemas.js';

export function pullView(p: PullRecord): Record<string, unknown> {
  return {
    id: p.id,
    dataset: p.datasetId,
    object: p.objectKey,
    format: p.format,
    status: p.status,
    bytes: p.bytes,
    version: p.version,
    rows: p.rows,
    error: p.errorCode === null ? null : { code: p.errorCode, detail: p.errorDetail },
    created_at: p.createdAt.toISOString(),
    finished_at: p.finishedAt?.toISOString() ?? null,
  };
}

/**
 * `owner` is the data provider's party name, which may be a person's e-mail address (an issuer's
 * subject): only the owner and admins see it, as only they manage the dataset (mayManage). Relying
 * parties, auditors and other providers read what they need to encode and verify, not whose it is.
 */
export function datasetView(r: DatasetRecord, principal: Principal): Record<string, unknown> {
  return {
    id: r.id,
    ...(mayManage(principal, r) ? { owner: r.owner } : {}),
    schema: r.schema,
    claims: r.claims,
    claim_types: r.claimTypes,
    filter_bits: r.filterBits,
    allow_broker_encoding: r.allowBrokerEncoding,
    purposes: r.purposes,
    active_version: r.activeVersion,
    rows: r.rowCount,
    secret_fingerprint: r.secretFingerprint,
    broker_secret_fingerprint: r.brokerSecretFingerprint,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export function versionView(v: VersionRecord): Record<string, unknown> {
  return {
    version: v.version,
    status: v.status,
    rows: v.rows,
    filter_bits: v.filterBits,
    created_by: v.createdBy,
    created_at: v.createdAt.toISOString(),
    activated_at: v.activatedAt?.toISOString() ?? null,
    secret_fingerprint: v.secretFingerprint,
    summary: v.summary,
    error_code: v.errorCode,
  };
}

function publishedView(p: Published): Record<string, unknown> {
  return {
    dataset: p.dataset,
    version: p.version,
    status: p.status,
    rows: p.rows,
    filter_bits: p.filterBits,
    active_version: p.activeVersion,
    active_rows: p.activeRows,
    secret_fingerprint: p.secretFingerprint,
    summary: p.summary,
  };
}

function activationView(a: Activated): Record<string, unknown> {
  return {
    dataset: a.dataset,
    version: a.version,
    previous_version: a.previousVersion,
    rows: a.rows,
    changed: a.changed,
  };
}

/** The PVDS binary upload format, as the OpenAPI document states it (server/datasets/upload.ts). */
const PVDS =
  'PVDS, little-endian: "PVDS" | u32 format version (1) | u32 filterBits | u32 count | count × (u16 ref length ' +
  '| ref UTF-8 | CLK filterBits/8 bytes) | optional: u32 claims length | UTF-8 JSON array of count claims objects';
const JSONL =
  'one JSON object per line: {"ref": string (≤256 bytes, unique), "clk": base64, "claims": {name: value of ' +
  "the claim's type}}";

export function registerDatasetRoutes(
  router: HttpRouter,
  service: DatasetService,
  pulls: DatasetPulls,
  limits: { body: number; upload: number },
): void {
  router.route(
    {
      method: 'put',
      path: '/v1/datasets/:id',
      summary: 'Define or update a dataset (dp owner, admin)',
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      body: { json: DatasetDefinition, limit: limits.body },
      responses: {
        200: { description: 'updated', json: Dataset },
        201: { description: 'created', json: Dataset },
      },
      errors: [
        'SCHEMA_INVALID',
        'SCHEMA_UNSUPPORTED',
        'DATASET_NOT_OWNER',
        'DATASET_POLICY_MISMATCH',
        'DATASET_SCHEMA_CONFLICT',
        'DATASET_CLAIM_TYPE_CONFLICT',
      ],
    },
    async ({ principal, params, body }) => {
      const { created, record } = await service.define(principal, params.id, body);
      return { status: created ? 201 : 200, json: datasetView(record, principal) };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/datasets/:id',
      summary: 'A dataset: schema (to encode locally), claims, active version, rows (any role)',
      description: 'The owner is named only to itself and to admins: a party name may be an e-mail address.',
      access: ['rp', 'dp', 'auditor', 'admin'],
      params: DatasetIdParams,
      responses: { 200: { description: 'the dataset', json: Dataset } },
      errors: ['DATASET_NOT_FOUND'],
    },
    async ({ params, principal }) => ({ json: datasetView(await service.get(params.id), principal) }),
  );

  router.route(
    {
      method: 'del',
      path: '/v1/datasets/:id',
      summary: 'Delete a dataset (dp owner, admin)',
      description:
        "Every version's rows, the linkage secret and cached answers go at once; requests already running " +
        "finish. The id stays the owner's: defining it again continues the version numbers.",
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      responses: { 204: { description: 'deleted' } },
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER'],
    },
    async ({ principal, params }) => {
      await service.delete(principal, params.id);
      return { status: 204 };
    },
  );

  router.route(
    {
      method: 'post',
      path: '/v1/datasets/:id/versions',
      summary: 'Upload a new version (dp owner, admin): served at once, staged, or only checked; streamed',
      description:
        'By default the version is swapped in atomically once committed. With activate=false it is stored and ' +
        'checked but not served until POST …/versions/{version}/activate; with dry_run=true nothing is stored and ' +
        'the answer says what the upload holds. Declare secret_fingerprint so relying parties can check their secret.',
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      query: VersionQuery,
      body: {
        stream: {
          'application/x-ndjson': { description: JSONL },
          'application/vnd.pavilion.dataset': { description: PVDS, format: 'binary' },
        },
        limit: limits.upload,
      },
      responses: {
        200: { description: 'dry run: what the upload holds; nothing stored', json: VersionCreated },
        201: { description: 'the version is active, or staged', json: VersionCreated },
      },
      errors: [
        'DATASET_NOT_FOUND',
        'DATASET_NOT_OWNER',
        'DATASET_EMPTY',
        'UNSUPPORTED_MEDIA_TYPE',
        'CLK_BASE64_INVALID',
        'CLK_LENGTH_MISMATCH',
        'UPLOAD_BINARY_INVALID',
        'UPLOAD_CLAIM_TYPE',
        'UPLOAD_CLAIM_UNKNOWN',
        'UPLOAD_DUPLICATE_REF',
        'UPLOAD_INTERRUPTED',
        'UPLOAD_LINE_INVALID',
        'UPLOAD_LINE_TOO_LONG',
        'UPLOAD_ROW_INVALID',
        'UPLOAD_TRUNCATED',
        'DATASET_TOO_LARGE',
      ],
    },
    async ({ principal, params, query, x, body }) => {
      const format = uploadFormat(x.headers['content-type']);
      const r = await service.publishStream(principal, params.id, format, body, {
        ...(query.activate !== undefined ? { activate: query.activate } : {}),
        ...(query.dry_run !== undefined ? { dryRun: query.dry_run } : {}),
        ...(query.secret_fingerprint ? { secretFingerprint: query.secret_fingerprint } : {}),
      });
      return { status: r.status === 'dry_run' ? 200 : 201, json: publishedView(r) };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/datasets/:id/versions',
      summary: 'Every version of a dataset, newest first: state, rows, what its upload held (dp owner, admin)',
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      responses: { 200: { description: 'the versions', json: Versions } },
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER'],
    },
    async ({ principal, params }) => {
      const { record, versions } = await service.versions(principal, params.id);
      return {
        json: { dataset: record.id, active_version: record.activeVersion, versions: versions.map(versionView) },
      };
    },
  );

  const ACTIVATION_ERRORS = [
    'DATASET_NOT_FOUND',
    'DATASET_NOT_OWNER',
    'VERSION_NOT_FOUND',
    'VERSION_STATE_CONFLICT',
    'UPLOAD_INTERRUPTED',
    'DATASET_SCHEMA_CONFLICT',
    'DATASET_CORRUPT',
    'DATASET_TOO_LARGE',
  ] as const;

  router.route(
    {
      method: 'post',
      path: '/v1/datasets/:id/versions/:version/activate',
      summary: 'Serve a staged version, or the previous one (dp owner, admin); swapped in once committed',
      description:
        'The version the active one replaces is kept as the previous version (POST …/rollback serves it again); ' +
        'the one before it is retired and its rows are dropped. Activating the active version changes nothing.',
      access: ['dp', 'admin'],
      params: VersionParams,
      responses: { 200: { description: 'the version is active', json: Activation } },
      errors: [...ACTIVATION_ERRORS],
    },
    async ({ principal, params }) => ({
      json: activationView(await service.activate(principal, params.id, params.version)),
    }),
  );

  router.route(
    {
      method: 'post',
      path: '/v1/datasets/:id/rollback',
      summary: 'Serve the previous version again (dp owner, admin)',
      description: 'The version it replaces becomes the previous one, so a second rollback undoes the first.',
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      responses: { 200: { description: 'the previous version is active', json: Activation } },
      errors: [...ACTIVATION_ERRORS, 'VERSION_ROLLBACK_UNAVAILABLE'],
    },
    async ({ principal, params }) => ({ json: activationView(await service.rollback(principal, params.id)) }),
  );

  router.route(
    {
      method: 'del',
      path: '/v1/datasets/:id/versions/:version',
      summary: 'Discard a staged version, or the previous one (dp owner, admin); its rows go',
      access: ['dp', 'admin'],
      params: VersionParams,
      responses: { 200: { description: 'discarded', json: Version } },
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER', 'VERSION_NOT_FOUND', 'VERSION_STATE_CONFLICT'],
    },
    async ({ principal, params }) => ({
      json: versionView(await service.discard(principal, params.id, params.version)),
    }),
  );

  router.route(
    {
      method: 'put',
      path: '/v1/datasets/:id/secret',
      summary: 'Register the linkage secret for broker-side encoding (dp owner); stored encrypted, never returned',
      access: ['dp'],
      params: DatasetIdParams,
      body: { json: SecretBody, limit: 16 * 1024, sensitive: true },
      responses: { 204: { description: 'stored' } },
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER', 'SECRET_INVALID'],
    },
    async ({ principal, params, body }) => {
      await service.setSecret(principal, params.id, body.secret);
      return { status: 204 };
    },
  );

  router.route(
    {
      method: 'post',
      path: '/v1/datasets/:id/pulls',
      summary: 'Publish a version from the object store (dp owner, admin), in the background',
      description: 'The object is streamed, checked and swapped in like an upload; poll the Location for the outcome.',
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      body: { json: PullRequest, limit: 16 * 1024 },
      responses: { 202: { description: 'pull started; poll the Location', json: Pull } },
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER', 'OBJECT_KEY_INVALID', 'PULL_FORMAT_UNKNOWN'],
    },
    async ({ principal, params, body }) => {
      const pull = await pulls.start(principal, params.id, body);
      return {
        status: 202,
        json: pullView(pull),
        headers: { location: `/v1/datasets/${params.id}/pulls/${pull.id}` },
      };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/datasets/:id/pulls/:pull',
      summary: 'How a pull went (dp owner, admin)',
      access: ['dp', 'admin'],
      params: PullParams,
      responses: { 200: { description: 'the pull', json: Pull } },
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER', 'PULL_NOT_FOUND'],
    },
    async ({ principal, params }) => ({ json: pullView(await pulls.get(principal, params.id, params.pull)) }),
  );
}
