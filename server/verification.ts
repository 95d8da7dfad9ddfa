/**
 * One verification, shared by POST /v1/verifications and the WebSocket
 * `verify` message (DESIGN.md "Verification"):
 *
 *   role check → dataset lease → policy decision (memoized by policy/) →
 *   CLK (decoded, or encoded by the pool from a record when the policy
 *   allows) → cache (LRU, then Redis) → on a miss a 1:N Dice search →
 *   decision → claims filtered by the obligations → audit append (the answer
 *   waits until it is durable) → answer with receipt.
 *
 * What is cached is the match outcome for (dataset version, CLK, requested
 * claims, min score, policy version); the claims released are recomputed
 * per caller from that caller's obligations, so one RP's wider permissions
 * never leak into another's cached answer.
 *
 * A record sent for broker-side encoding lives only inside this function: it
 * is turned into a row, handed to the pool, and dropped. It is never logged,
 * never part of an error message, an audit event or a cache key (only the
 * CLK derived from it is, through a keyed hash).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { verificationEvent } from '../audit/index.js';
import { cacheKey } from '../cache/cache-key.js';
import { isPavilionError, PavilionError } from '../common/errors.js';
import type { DatasetRecord } from '../datasets/store.js';
import { decodeClkBase64 } from '../engine/index.js';
import { type Principal, requireRole } from '../identity/index.js';
import { type Decision, denied } from '../policy/index.js';
import type { LoadedVersion } from './active-datasets.js';
import type { BrokerContext, CachedOutcome } from './context.js';
import { decide, type VerificationDecision } from './decision.js';

const DATASET_ID = /^[A-Za-z0-9._-]{1,128}$/;
const CLAIM_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const PURPOSE = /^[A-Za-z0-9._:-]{1,64}$/;

export const datasetIdSchema = z.string().regex(DATASET_ID, 'must match [A-Za-z0-9._-]{1,128}');
export const claimNameSchema = z.string().regex(CLAIM_NAME, 'must match [a-z][a-z0-9_]{0,63}');

export const VerificationBody = z
  .object({
    dataset: datasetIdSchema,
    clk: z
      .string()
      .min(1)
      .max(1 << 17)
      .optional(),
    record: z.record(z.string().max(1024)).optional(),
    claims: z.array(claimNameSchema).max(64).default([]),
    purpose: z.string().regex(PURPOSE, 'must match [A-Za-z0-9._:-]{1,64}'),
    consent: z.boolean().optional(),
  })
  .strict()
  .refine((b) => (b.clk === undefined) !== (b.record === undefined), {
    message: 'exactly one of clk or record is required',
    path: ['clk'],
  });

export type VerificationRequest = z.infer<typeof VerificationBody>;

export interface VerificationAnswer {
  id: string;
  decision: VerificationDecision;
  score: number;
  claims: Record<string, unknown>;
  dataset_version: number;
  receipt: { origin: string; index: number; leaf_hash: string };
  cached: boolean;
}

const AUDIT_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;
const EMAIL_SHAPED = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * Subjects and tenants (parties, not the people verified) go into audit
 * events as they are when they fit the log's identifier alphabet (Keycloak
 * subjects are UUIDs, client ids are names). One that does not, or that is
 * shaped like an e-mail address (a person's, when an issuer uses those as
 * subjects), becomes `hmac-sha256:` + a keyed digest (the audit hash key,
 * HKDF from MASTER_KEY): stable, so events of one caller still group, but
 * not reversible by hashing a list of addresses, as a plain digest would be.
 */
export function auditIdentifier(id: string, key: Uint8Array): string {
  if (AUDIT_ID.test(id) && !EMAIL_SHAPED.test(id)) return id;
  return `hmac-sha256:${createHmac('sha256', key).update('pavilion audit identifier\0').update(id, 'utf8').digest('base64url')}`;
}

/** Feature order of a clkhash v3 schema: rows handed to the encoder follow it, ignored features included. */
export function schemaFeatureIds(schema: unknown): string[] {
  const features = (schema as { features?: { identifier?: unknown }[] }).features;
  if (!Array.isArray(features)) return [];
  return features.map((f) => (typeof f.identifier === 'string' ? f.identifier : ''));
}

export class VerificationService {
  private readonly secrets = new Map<string, string>();

  constructor(private readonly ctx: BrokerContext) {}

  /** Forget a decrypted linkage secret (after PUT .../secret). */
  forgetSecret(datasetId: string): void {
    this.secrets.delete(datasetId);
  }

  async verify(principal: Principal, req: VerificationRequest): Promise<VerificationAnswer> {
    requireRole(principal, 'rp');
    const ctx = this.ctx;
    const started = performance.now();
    const lease = ctx.active.acquire(req.dataset);
    try {
      const loaded = lease.version;
      const def = ctx.active.definition(req.dataset)!;
      const byBroker = req.record !== undefined;
      const decision = await this.policyDecision(principal, def, req, byBroker ? 'encode_record' : 'verify');
      const minScore = decision.obligations.min_score;

      let clk: Uint8Array;
      if (req.record !== undefined) {
        if (!def.allowBrokerEncoding)
          throw new PavilionError('POLICY_DENIED', 'the dataset does not allow broker-side encoding', 403);
        clk = await this.encodeRecord(def, loaded, req.record);
      } else {
        clk = decodeClk(req.clk!, loaded.filterBits);
      }

      const key = cacheKey(ctx.keys.cacheSecret, {
        datasetId: req.dataset,
        datasetVersion: loaded.version,
        clk,
        claims: req.claims,
        threshold: minScore,
        policyVersion: ctx.policy.version,
      });
      let outcome = await ctx.cache.get(key);
      const cached = outcome !== undefined;
      if (!outcome) {
        const result = await ctx.engineCall('match', () =>
          ctx.engine.match(loaded.engineId, clk, { threshold: minScore, topK: 2 }),
        );
        ctx.metrics.addDiceComparisons(loaded.size);
        outcome = decide(result.candidates, minScore, ctx.config.ambiguityMargin);
        if (decision.obligations.cache_ttl_seconds > 0)
          void ctx.cache.set(key, outcome, decision.obligations.cache_ttl_seconds);
      }

      const released = releasedClaims(outcome, loaded, req.claims, decision.obligations.revealable_claims);
      const id = randomUUID();
      const event = verificationEvent({
        requestId: id,
        relyingParty: ctx.auditId(principal.tenant ?? principal.subject),
        dataset: req.dataset,
        datasetVersion: String(loaded.version),
        queryHash: createHmac('sha256', ctx.keys.auditHashKey).update(clk).digest('base64url'),
        decision: outcome.decision,
        score: outcome.score,
        releasedClaims: Object.keys(released),
        purpose: req.purpose,
        policyDecisionId: ctx.policy.version,
        actor: ctx.auditId(principal.subject),
      });
      if (byBroker) event.encoded_by_broker = true;
      if (cached) event.cached = true;
      const appended = await ctx.appendAudit(event);
      ctx.metrics.observeVerification(cached, (performance.now() - started) / 1000);
      return {
        id,
        decision: outcome.decision,
        score: outcome.score,
        claims: released,
        dataset_version: loaded.version,
        receipt: {
          origin: ctx.audit.origin,
          index: appended.index,
          leaf_hash: Buffer.from(appended.leafHash).toString('base64'),
        },
        cached,
      };
    } finally {
      lease.release();
    }
  }

  async policyDecision(
    principal: Principal,
    def: DatasetRecord,
    req: { claims: string[]; purpose: string; consent?: boolean },
    action: 'verify' | 'link' | 'encode_record',
  ): Promise<Decision> {
    const d = await this.ctx.policy.decide({
      principal: {
        sub: principal.subject,
        roles: principal.roles,
        ...(principal.tenant ? { tenant: principal.tenant } : {}),
      },
      action,
      dataset: {
        id: def.id,
        claims: def.claims,
        allow_broker_encoding: def.allowBrokerEncoding,
        ...(def.purposes ? { purposes: def.purposes } : {}),
      },
      request: {
        claims: req.claims,
        purpose: req.purpose,
        ...(req.consent !== undefined ? { consent: req.consent } : {}),
      },
    });
    if (!d.allow) throw denied(d);
    return d;
  }

  private async encodeRecord(
    def: DatasetRecord,
    loaded: LoadedVersion,
    record: Record<string, string>,
  ): Promise<Uint8Array> {
    const features = schemaFeatureIds(def.schema);
    const known = new Set(features);
    const unknown = Object.keys(record).filter((k) => !known.has(k)).length;
    if (unknown > 0)
      throw new PavilionError(
        'RECORD_FIELDS_UNKNOWN',
        `record has ${unknown} field(s) the dataset schema does not define`,
        422,
      );
    const secret = await this.secretFor(def.id);
    const row = features.map((f) => record[f] ?? '');
    let clk: Uint8Array;
    try {
      clk = await this.ctx.engineCall('encode', () => this.ctx.engine.encode(def.schema, secret, [row]));
    } catch (err) {
      // Encoder messages may describe the offending value; keep only the code.
      if (isPavilionError(err))
        throw new PavilionError(
          err.code,
          'the record does not fit the dataset schema',
          err.status >= 500 ? err.status : 422,
        );
      throw err;
    }
    if (clk.length !== loaded.filterBits / 8)
      throw new PavilionError(
        'CLK_LENGTH_MISMATCH',
        'the dataset schema and the loaded version disagree on the CLK length',
        409,
      );
    return clk;
  }

  private async secretFor(datasetId: string): Promise<string> {
    const hit = this.secrets.get(datasetId);
    if (hit !== undefined) return hit;
    const sealed = await this.ctx.datasets.getSecret(datasetId);
    if (!sealed)
      throw new PavilionError(
        'DATASET_SECRET_MISSING',
        'the data provider has not registered a linkage secret for broker-side encoding',
        409,
      );
    const secret = this.ctx.keys.open({ dataset: datasetId }, sealed).toString('utf8');
    this.secrets.set(datasetId, secret);
    return secret;
  }
}

/**
 * The request's CLK. A length that does not fit the dataset is a
 * well-formed but unusable request: 422, as for uploads (the engine's own
 * check says 400, being caller-agnostic).
 */
export function decodeClk(b64: string, filterBits: number): Uint8Array {
  try {
    return decodeClkBase64(b64, filterBits);
  } catch (err) {
    if (isPavilionError(err) && err.code === 'CLK_LENGTH_MISMATCH') throw new PavilionError(err.code, err.message, 422);
    throw err;
  }
}

/** Claims of the matched record that the caller asked for and the policy lets it see. */
export function releasedClaims(
  outcome: CachedOutcome,
  loaded: LoadedVersion,
  requested: readonly string[],
  revealable: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (outcome.decision !== 'match' || outcome.index === null) return out;
  const row = loaded.claims[outcome.index];
  if (!row) return out;
  const allowed = new Set(revealable);
  for (const name of requested) {
    if (allowed.has(name) && Object.hasOwn(row, name)) out[name] = row[name];
  }
  return out;
}
