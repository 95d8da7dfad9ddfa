/**
 * Dataset routes (DP side, plus read access for relying parties that fetch
 * the schema to encode locally).
 *
 *   PUT  /v1/datasets/{id}            dp, admin   define or update
 *   GET  /v1/datasets/{id}            any role    schema, claims, active version, rows
 *   DELETE /v1/datasets/{id}          dp, admin   delete every version's rows, the secret, cached answers
 *   POST /v1/datasets/{id}/versions   dp, admin   upload a version (JSONL or PVDS binary), streamed
 *   PUT  /v1/datasets/{id}/secret     dp          register the linkage secret (never returned)
 *   POST /v1/datasets/{id}/pulls      dp, admin   publish a version from the object store (202, runs in the background)
 *   GET  /v1/datasets/{id}/pulls/{p}  dp, admin   how that pull went
 */
import { z } from 'zod';
import type { BrokerContext } from '../context.js';
import type { PullRecord } from '../datasets/pull-store.js';
import type { DatasetPulls } from '../datasets/pulls.js';
import { type DatasetService, uploadFormat } from '../datasets/service.js';
import type { DatasetRecord } from '../datasets/store.js';
import { authenticate } from '../http/auth.js';
import type { HttpRouter } from '../http/router.js';
import { parseAndValidate, validate } from '../http/validation.js';
import { claimNameSchema, datasetIdSchema, type VerificationService } from '../verification/service.js';

const DefineBody = z
  .object({
    schema: z.record(z.unknown()),
    claims: z.array(claimNameSchema).max(64),
    allow_broker_encoding: z.boolean().optional(),
    purposes: z
      .array(z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must match [A-Za-z0-9._:-]{1,64}'))
      .max(64)
      .optional(),
  })
  .strict();

const SecretBody = z.object({ secret: z.string().min(8).max(4096) }).strict();

const PullBody = z
  .object({
    object: z.string().min(1).max(400),
    format: z.enum(['jsonl', 'binary']).optional(),
  })
  .strict();

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

function datasetId(raw: string | undefined): string {
  return validate(datasetIdSchema, raw);
}

export function registerDatasetRoutes(
  router: HttpRouter,
  ctx: BrokerContext,
  service: DatasetService,
  verification: VerificationService,
  pulls: DatasetPulls,
): void {
  router.route(
    'put',
    '/v1/datasets/:id',
    async (x) => {
      const principal = await authenticate(ctx, x, 'dp', 'admin');
      const id = datasetId(x.params.id);
      const body = parseAndValidate(DefineBody, await x.body.buffer());
      const { created, record } = await service.define(principal, id, body);
      return { status: created ? 201 : 200, json: datasetView(record) };
    },
    { bodyLimit: ctx.config.limits.body },
  );

  router.route('get', '/v1/datasets/:id', async (x) => {
    await authenticate(ctx, x, 'rp', 'dp', 'auditor', 'admin');
    const record = await service.get(datasetId(x.params.id));
    return { json: datasetView(record) };
  });

  router.route('del', '/v1/datasets/:id', async (x) => {
    const principal = await authenticate(ctx, x, 'dp', 'admin');
    const id = datasetId(x.params.id);
    await service.delete(principal, id);
    verification.forgetSecret(id);
    return { status: 204 };
  });

  router.route(
    'post',
    '/v1/datasets/:id/versions',
    async (x) => {
      const principal = await authenticate(ctx, x, 'dp', 'admin');
      const id = datasetId(x.params.id);
      const format = uploadFormat(x.headers['content-type']);
      const r = await service.publishStream(principal, id, format, x.body);
      return { status: 201, json: { dataset: id, version: r.version, rows: r.rows, filter_bits: r.filterBits } };
    },
    { bodyLimit: ctx.config.limits.upload },
  );

  router.route(
    'put',
    '/v1/datasets/:id/secret',
    async (x) => {
      const principal = await authenticate(ctx, x, 'dp');
      const id = datasetId(x.params.id);
      const raw = await x.body.buffer();
      const { secret } = parseAndValidate(SecretBody, raw);
      raw.fill(0);
      await service.setSecret(principal, id, secret);
      verification.forgetSecret(id);
      return { status: 204 };
    },
    { bodyLimit: 16 * 1024 },
  );

  router.route(
    'post',
    '/v1/datasets/:id/pulls',
    async (x) => {
      const principal = await authenticate(ctx, x, 'dp', 'admin');
      const id = datasetId(x.params.id);
      const body = parseAndValidate(PullBody, await x.body.buffer());
      const pull = await pulls.start(principal, id, body);
      return { status: 202, json: pullView(pull), headers: { location: `/v1/datasets/${id}/pulls/${pull.id}` } };
    },
    { bodyLimit: 16 * 1024 },
  );

  router.route('get', '/v1/datasets/:id/pulls/:pull', async (x) => {
    const principal = await authenticate(ctx, x, 'dp', 'admin');
    const pull = await pulls.get(principal, datasetId(x.params.id), x.params.pull ?? '');
    return { json: pullView(pull) };
  });
}
