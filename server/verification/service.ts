/**
 * One verification, shared by POST /v1/verifications and the WebSocket `verify` message
 * (docs/architecture.md follows it from the socket to the kernel to the audit leaf):
 *
 *   dataset lease → policy decision (memoized by policy/) → CLK (decoded, with its query hash and cache key
 *   remembered per text by query-digests.ts, or encoded by the pool from a record when the policy allows) →
 *   cache (LRU, then Redis) → on a miss a 1:N Dice search on the engine → decision → claims filtered by the
 *   obligations → audit append (the answer waits until it is durable) → answer with receipt.
 *
 * What is cached is the match outcome for (dataset version, CLK, requested claims, min score, policy
 * version); the claims released are recomputed per caller from that caller's obligations, so one RP's
 * wider permissions never leak into another's cached answer.
 *
 * A record sent for broker-side encoding lives only inside this function: it is turned into a row,
 * handed to the pool, and dropped. It is never logged, never part of an error message, an audit event
 * or a cache key (only the CLK derived from it is, through a keyed hash). Its encoding is bounded: a
 * worker runs it for at most ENCODE_DEADLINE_MS (a schema's pattern can backtrack exponentially on a
 * value: 422 ENCODE_TIMEOUT), and stops when the caller goes away (`signal`); either way a worker
 * running it is replaced, and no verification is recorded (docs/security.md, "Broker-side encoding").
 */
import { randomUUID } from 'node:crypto';
import type { VerificationCache } from '../../cache/verification-cache.js';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import type { Principal } from '../../identity/index.js';
import type { Policy } from '../../policy/index.js';
import type { ActiveDatasets, LoadedVersion } from '../datasets/active-datasets.js';
import type { LinkageSecrets } from '../datasets/linkage-secrets.js';
import type { DatasetRecord } from '../datasets/store.js';
import type { VerificationAnswer, VerificationRequest } from '../http/schemas.js';
import { preparedVerificationEvent } from '../support/audit-events.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { MeteredEngine } from '../support/metered-engine.js';
import { authorize } from '../support/policy-gate.js';
import { type DecisionOutcome, decide } from './decision.js';
import { type QueryDigest, QueryDigests } from './query-digests.js';

/** What the verification cache holds: the match outcome, not the per-caller claim release. */
export type VerificationCacheOf = VerificationCache<DecisionOutcome>;

export interface VerificationDeps {
  datasets: ActiveDatasets;
  policy: Policy;
  cache: VerificationCacheOf;
  engine: MeteredEngine;
  secrets: LinkageSecrets;
  trail: AuditTrail;
  /** Key of the cache's keyed hash (support/master-keys.ts). */
  cacheSecret: Buffer;
  /** AMBIGUITY_MARGIN. */
  ambiguityMargin: number;
  /** ENCODE_DEADLINE_MS: most time a worker runs the encoding of one record. */
  encodeDeadlineMs: number;
  /**
   * Told the dataset whose schema a record's encoding ran past the deadline on: the operator's log says which
   * data provider's patterns to look at (the caller's 422 counts under its route like any other).
   */
  encodeTimedOut(datasetId: string): void;
  /** Counts Dice comparisons for /metrics. */
  countComparisons(n: number): void;
  /** Times each verification by cache outcome (the cache-hit and cold latency SLOs, deploy/prometheus/). */
  observeVerification(cached: boolean, seconds: number): void;
}

/** Feature order of a clkhash v3 schema: rows handed to the encoder follow it, ignored features included. */
export function schemaFeatureIds(schema: unknown): string[] {
  return schemaFeatures(schema).map((f) => f.id);
}

function schemaFeatures(schema: unknown): { id: string; ignored: boolean }[] {
  const features = (schema as { features?: { identifier?: unknown; ignored?: unknown }[] }).features;
  if (!Array.isArray(features)) return [];
  return features.map((f) => ({
    id: typeof f.identifier === 'string' ? f.identifier : '',
    ignored: f.ignored === true,
  }));
}

export class VerificationService {
  private readonly queries: QueryDigests;

  constructor(private readonly d: VerificationDeps) {
    this.queries = new QueryDigests(d.cacheSecret, (clk) => d.trail.queryHash(clk));
  }

  /**
   * `signal`: aborted when the caller is gone (the HTTP client, the WebSocket), with CLIENT_ABORTED as its
   * reason; a record's encoding stops then.
   */
  async verify(principal: Principal, req: VerificationRequest, signal?: AbortSignal): Promise<VerificationAnswer> {
    const { datasets, policy, cache, engine, trail } = this.d;
    const started = performance.now();
    const lease = datasets.acquire(req.dataset);
    try {
      const loaded = lease.version;
      const def = datasets.definition(req.dataset)!;
      const byBroker = req.record !== undefined;
      const decision = await authorize(policy, principal, def, req, byBroker ? 'encode_record' : 'verify', trail);
      const minScore = decision.obligations.min_score;

      let query: QueryDigest;
      if (req.record !== undefined) {
        if (!def.allowBrokerEncoding)
          throw new PavilionError('POLICY_DENIED', 'the dataset does not allow broker-side encoding');
        query = this.queries.of(await this.encodeRecord(def, loaded, req.record, signal));
      } else {
        query = this.queries.ofText(req.clk!, loaded.filterBits);
      }

      const key = this.queries.cacheKey(query, {
        datasetId: req.dataset,
        datasetVersion: loaded.version,
        claims: req.claims,
        threshold: minScore,
        policyVersion: policy.version,
        party: principal.subject,
        tenant: principal.tenant,
      });
      let outcome = await cache.get(key);
      const cached = outcome !== undefined;
      if (!outcome) {
        const result = await engine.match(loaded.engineId, query.clk, { threshold: minScore, topK: 2 });
        this.d.countComparisons(loaded.size);
        outcome = decide(result.candidates, minScore, this.d.ambiguityMargin);
        const ttl = decision.obligations.cache_ttl_seconds;
        if (ttl > 0) void cache.set(key, outcome, ttl);
      }

      const released = releasedClaims(outcome, loaded, req.claims, decision.obligations.revealable_claims);
      const id = randomUUID();
      const recorded = await trail.record(
        preparedVerificationEvent({
          requestId: id,
          relyingParty: trail.party(principal.tenant ?? principal.subject),
          dataset: req.dataset,
          datasetVersion: String(loaded.version),
          queryHash: query.queryHash,
          decision: outcome.decision,
          score: outcome.score,
          releasedClaims: Object.keys(released),
          purpose: req.purpose,
          policyDecisionId: policy.version,
          actor: trail.party(principal.subject),
          encodedByBroker: byBroker,
          cached,
        }),
      );
      this.d.observeVerification(cached, (performance.now() - started) / 1000);
      return {
        id,
        decision: outcome.decision,
        score: outcome.score,
        claims: released,
        dataset_version: loaded.version,
        receipt: {
          origin: trail.origin,
          index: recorded.index,
          leaf_hash: Buffer.from(recorded.leafHash).toString('base64'),
        },
        cached,
      };
    } finally {
      lease.release();
    }
  }

  private async encodeRecord(
    def: DatasetRecord,
    loaded: LoadedVersion,
    record: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const schemaFields = schemaFeatures(def.schema);
    const features = schemaFields.map((f) => f.id);
    const known = new Set(features);
    // Counted, not named: a field name is the caller's text and may be a value sent in the wrong place.
    const unknown = Object.keys(record).filter((k) => !known.has(k)).length;
    if (unknown > 0)
      throw new PavilionError(
        'RECORD_FIELDS_UNKNOWN',
        `record has ${unknown} field(s) the dataset schema does not define`,
      );
    // A field left out was encoded as empty, and a record without its surname still matched (score 0.87 in an
    // outside probe), where the client library's and the CLI's encoders refuse it (engine/clk/encoder.ts,
    // encodeRecord). Ignored features may be absent, as there. Names here are the schema's, not the caller's.
    const missing = schemaFields.filter((f) => !f.ignored && !Object.hasOwn(record, f.id)).map((f) => f.id);
    if (missing.length > 0)
      throw new PavilionError(
        'RECORD_INVALID',
        `record lacks field(s) the dataset schema encodes: ${missing.slice(0, 8).join(', ')}` +
          (missing.length > 8 ? ` and ${missing.length - 8} more` : '') +
          ' (send an empty string for a value that is unknown)',
      );
    // A secret other than the one the served CLKs were made with would answer no_match for everyone.
    if (
      def.secretFingerprint !== null &&
      def.brokerSecretFingerprint !== null &&
      def.secretFingerprint !== def.brokerSecretFingerprint
    )
      throw new PavilionError(
        'SECRET_FINGERPRINT_MISMATCH',
        `the linkage secret registered for broker-side encoding (fingerprint ${def.brokerSecretFingerprint}) is ` +
          `not the one version ${loaded.version} was encoded with (${def.secretFingerprint}); the data provider ` +
          'registers the right one',
      );
    const secret = await this.d.secrets.get(def.id);
    const row = features.map((f) => record[f] ?? '');
    const deadline = this.d.encodeDeadlineMs;
    let clk: Uint8Array;
    try {
      clk = await this.d.engine.encode(def.schema, secret, [row], {
        taskDeadlineMs: deadline,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (!isPavilionError(err) || err.code === 'CLIENT_ABORTED') throw err;
      if (err.code === 'ENCODE_TIMEOUT') {
        this.d.encodeTimedOut(def.id);
        throw new PavilionError(
          'ENCODE_TIMEOUT',
          `the record was not encoded within ${deadline} ms (ENCODE_DEADLINE_MS): the dataset schema is too ` +
            'costly to apply to it (a format pattern that backtracks on such a value?); the data provider can ' +
            'simplify it',
        );
      }
      throw new PavilionError(err.code, encodingProblem(err.message));
    }
    if (clk.length !== loaded.filterBits / 8)
      throw new PavilionError(
        'CLK_LENGTH_MISMATCH',
        'the dataset schema and the loaded version disagree on the CLK length',
      );
    return clk;
  }
}

/**
 * What to tell the caller about a record the encoder refused: the field (feature names are the schema's,
 * not personal data) and the rule it breaks. The encoder's messages have the form "feature '<name>':
 * <rule>" and never hold a value (engine/clk/prepare.ts); anything else is not passed on.
 */
export function encodingProblem(message: string): string {
  const m = /^(?:row \d+: )?feature '([^']{1,128})': ([^\n]{1,200})$/.exec(message);
  if (!m) return 'the record does not fit the dataset schema';
  return `field '${m[1]}' ${m[2]} (the dataset schema's rule for it)`;
}

/** Claims of the matched record that the caller asked for and the policy lets it see. */
export function releasedClaims(
  outcome: DecisionOutcome,
  loaded: LoadedVersion,
  requested: readonly string[],
  revealable: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (outcome.decision !== 'match' || outcome.index === null) return out;
  const row = loaded.claims.at(outcome.index);
  if (!row) return out;
  const allowed = new Set(revealable);
  for (const name of requested) {
    if (allowed.has(name) && Object.hasOwn(row, name)) out[name] = row[name];
  }
  return out;
}
