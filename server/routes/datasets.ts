/**
 * Dataset routes (DP side, plus read access for relying parties that fetch the schema to encode
 * locally).
 *
 *   PUT    /v1/datasets/{id}            dp, admin   define or update
 *   GET    /v1/datasets/{id}            any role    schema, claims, active version, rows
 *   DELETE /v1/datasets/{id}            dp, admin   delete every version's rows, the secret, cached answers
 *   POST   /v1/datasets/{id}/versions   dp, admin   upload a version (JSONL or PVDS binary), streamed
 *   PUT    /v1/datasets/{id}/secret     dp          register the linkage secret (never returned)
 *   POST   /v1/datasets/{id}/pulls      dp, admin   publish a version from the object store (202, in the background)
 *   GET    /v1/datasets/{id}/pulls/{p}  dp, admin   how that pull went
 */

import type { PullRecord } from '../datasets/pull-store.js';
import type { DatasetPulls } from '../datasets/pulls.js';
import { type DatasetService, uploadFormat } from '../datasets/service.js';
import type { DatasetRecord } from '../datasets/store.js';
import type { HttpRouter } from '../http/router.js';
import {
  Dataset,
  DatasetDefinition,
  DatasetIdParams,
  Pull,
  PullParams,
  PullRequest,
  SecretBody,
  VersionCreated,
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

export function datasetView(r: DatasetRecord): Record<string, unknown> {
  return {
    id: r.id,
    owner: r.owner,
    schema: r.schema,
    claims: r.claims,
    filter_bits: r.filterBits,
    allow_broker_encoding: r.allowBrokerEncoding,
    purposes: r.purposes,
    active_version: r.activeVersion,
    rows: r.rowCount,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

/** The PVDS binary upload format, as the OpenAPI document states it (server/datasets/upload.ts). */
const PVDS =
  'PVDS, little-endian: "PVDS" | u32 format version (1) | u32 filterBits | u32 count | count × (u16 ref length ' +
  '| ref UTF-8 | CLK filterBits/8 bytes) | optional: u32 claims length | UTF-8 JSON array of count claims objects';
const JSONL = 'one JSON object per line: {"ref": string (≤256 bytes, unique), "clk": base64, "claims": {name: scalar}}';

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
      errors: ['SCHEMA_INVALID', 'SCHEMA_UNSUPPORTED', 'DATASET_NOT_OWNER', 'DATASET_SCHEMA_CONFLICT'],
    },
    async ({ principal, params, body }) => {
      const { created, record } = await service.define(principal, params.id, body);
      return { status: created ? 201 : 200, json: datasetView(record) };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/datasets/:id',
      summary: 'A dataset: schema (to encode locally), claims, active version, rows (any role)',
      access: ['rp', 'dp', 'auditor', 'admin'],
      params: DatasetIdParams,
      responses: { 200: { description: 'the dataset', json: Dataset } },
      errors: ['DATASET_NOT_FOUND'],
    },
    async ({ params }) => ({ json: datasetView(await service.get(params.id)) }),
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
      summary: 'Upload a new version (dp owner, admin); streamed, swapped in atomically once committed',
      access: ['dp', 'admin'],
      params: DatasetIdParams,
      body: {
        stream: {
          'application/x-ndjson': { description: JSONL },
          'application/vnd.pavilion.dataset': { description: PVDS, format: 'binary' },
        },
        limit: limits.upload,
      },
      responses: { 201: { description: 'the version is active', json: VersionCreated } },
      errors: [
        'DATASET_NOT_FOUND',
        'DATASET_NOT_OWNER',
        'DATASET_EMPTY',
        'UNSUPPORTED_MEDIA_TYPE',
        'CLK_BASE64_INVALID',
        'CLK_LENGTH_MISMATCH',
        'UPLOAD_BINARY_INVALID',
        'UPLOAD_CLAIM_UNKNOWN',
        'UPLOAD_DUPLICATE_REF',
        'UPLOAD_LINE_INVALID',
        'UPLOAD_LINE_TOO_LONG',
        'UPLOAD_ROW_INVALID',
        'UPLOAD_TRUNCATED',
        'DATASET_TOO_LARGE',
      ],
    },
    async ({ principal, params, x, body }) => {
      const format = uploadFormat(x.headers['content-type']);
      const r = await service.publishStream(principal, params.id, format, body);
      return {
        status: 201,
        json: { dataset: params.id, version: r.version, rows: r.rows, filter_bits: r.filterBits },
      };
    },
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
      errors: ['DATASET_NOT_FOUND', 'DATASET_NOT_OWNER'],
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
