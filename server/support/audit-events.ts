/**
 * The broker's audit event vocabulary: one builder per event type, each checking its fields' shape
 * (identifier alphabet, keyed hashes, claim names, RFC 3339 UTC times) so free text, and with it
 * personal data, cannot slip into the log through a field. audit/ stores any plain JSON object; this
 * file decides what the broker writes. The shapes are listed in audit/README.md ("Event shape").
 */

import { type JsonValue, PreparedEvent } from '../../audit/index.js';
import { PavilionError } from '../../common/errors.js';

export type AuditEvent = { readonly type: string; readonly v: 1 } & Record<string, JsonValue>;

export type VerificationDecision = 'match' | 'no_match' | 'ambiguous';

const ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;
const HASH = /^(?:[0-9a-f]{32,128}|[A-Za-z0-9_-]{22,172})$/;
const CLAIM = /^[a-z][a-z0-9_]{0,63}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

function check(type: string, ok: boolean, name: string): void {
  if (!ok) throw new PavilionError('EVENT_INVALID', `${type} event field ${name} is malformed`);
}
const isId = (v: unknown): v is string => typeof v === 'string' && ID.test(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isScore = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
const isClaims = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length <= 64 && v.every((c) => typeof c === 'string' && CLAIM.test(c));

/** The current time as events write it, formatted once per millisecond (every verification stamps one). */
let nowMs = Number.NaN;
let nowIso = '';
function now(): string {
  const ms = Date.now();
  if (ms !== nowMs) {
    nowMs = ms;
    nowIso = new Date(ms).toISOString();
  }
  return nowIso;
}

function stamped(type: string, time: string | undefined): string {
  if (time === undefined) return now();
  check(type, typeof time === 'string' && RFC3339_UTC.test(time), 'time');
  return time;
}

function ids<T extends object>(type: string, f: T, names: readonly (keyof T & string)[]): void {
  for (const k of names) check(type, isId(f[k]), k);
}

export interface VerificationEventFields {
  requestId: string;
  /** Relying party (tenant or subject, see AuditTrail.party), never a person. */
  relyingParty: string;
  dataset: string;
  datasetVersion: string;
  /** Keyed hash of the query CLK (AuditTrail.queryHash), never the CLK itself. */
  queryHash: string;
  decision: VerificationDecision;
  score: number;
  /** Names (not values) of the claims released. */
  releasedClaims: string[];
  purpose: string;
  policyDecisionId: string;
  /** The authenticated caller. */
  actor: string;
  encodedByBroker?: boolean;
  cached?: boolean;
  time?: string;
}

/** Checks a verification's fields (every builder of the event runs this) and returns its time and claims. */
function checkedVerification(f: VerificationEventFields): { time: string; claims: string[] } {
  const type = 'verification';
  ids(type, f, ['requestId', 'relyingParty', 'dataset', 'datasetVersion', 'purpose', 'policyDecisionId', 'actor']);
  check(type, typeof f.queryHash === 'string' && HASH.test(f.queryHash), 'queryHash');
  check(type, f.decision === 'match' || f.decision === 'no_match' || f.decision === 'ambiguous', 'decision');
  check(type, isScore(f.score), 'score');
  check(type, isClaims(f.releasedClaims), 'releasedClaims');
  const claims = f.releasedClaims.length < 2 ? [...f.releasedClaims] : [...new Set(f.releasedClaims)].sort();
  return { time: stamped(type, f.time), claims };
}

export function verificationEvent(f: VerificationEventFields): AuditEvent {
  const { time, claims } = checkedVerification(f);
  const event: AuditEvent = {
    type: 'verification',
    v: 1,
    request_id: f.requestId,
    relying_party: f.relyingParty,
    dataset: f.dataset,
    dataset_version: f.datasetVersion,
    query_hash: f.queryHash,
    decision: f.decision,
    score: f.score,
    released_claims: claims,
    purpose: f.purpose,
    policy_decision_id: f.policyDecisionId,
    actor: f.actor,
    time,
  };
  if (f.encodedByBroker) event.encoded_by_broker = true;
  if (f.cached) event.cached = true;
  return event;
}

/**
 * The verification event as its RFC 8785 text, written directly: the one event every verification
 * appends, so the generic check and canonicaliser of audit/event.ts are skipped (audit/event.ts,
 * PreparedEvent). Keys are written in JCS order (UTF-16 code units: actor, cached, dataset,
 * dataset_version, decision, encoded_by_broker, policy_decision_id, purpose, query_hash, released_claims,
 * relying_party, request_id, score, time, type, v). Every string was checked against ID, HASH, CLAIM or
 * RFC3339_UTC above, alphabets with nothing JSON escapes, so each is written between quotes as it is; the
 * score is a finite number, which JSON.stringify writes as RFC 8785 does (ECMAScript Number::toString).
 * Equal to canonicalEvent(verificationEvent(f)) (test/server/support/audit-events.test.ts).
 */
export function preparedVerificationEvent(f: VerificationEventFields): PreparedEvent {
  const { time, claims } = checkedVerification(f);
  let released = '';
  for (let i = 0; i < claims.length; i++) released += i === 0 ? `"${claims[i]}"` : `,"${claims[i]}"`;
  return new PreparedEvent(
    `{"actor":"${f.actor}",${f.cached ? '"cached":true,' : ''}"dataset":"${f.dataset}",` +
      `"dataset_version":"${f.datasetVersion}","decision":"${f.decision}",` +
      `${f.encodedByBroker ? '"encoded_by_broker":true,' : ''}"policy_decision_id":"${f.policyDecisionId}",` +
      `"purpose":"${f.purpose}","query_hash":"${f.queryHash}","released_claims":[${released}],` +
      `"relying_party":"${f.relyingParty}","request_id":"${f.requestId}","score":${JSON.stringify(f.score)},` +
      `"time":"${time}","type":"verification","v":1}`,
  );
}

export function datasetDefinedEvent(f: {
  dataset: string;
  created: boolean;
  filterBits: number;
  claims: string[];
  allowBrokerEncoding: boolean;
  actor: string;
  time?: string;
}): AuditEvent {
  const type = 'dataset_defined';
  ids(type, f, ['dataset', 'actor']);
  check(type, isCount(f.filterBits), 'filterBits');
  check(type, isClaims(f.claims), 'claims');
  return {
    type,
    v: 1,
    dataset: f.dataset,
    created: f.created === true,
    filter_bits: f.filterBits,
    claims: [...f.claims],
    allow_broker_encoding: f.allowBrokerEncoding === true,
    actor: f.actor,
    time: stamped(type, f.time),
  };
}

/** A version uploaded: `status` active (served at once) or staged (served once activated: dataset_activated). */
export function datasetVersionEvent(f: {
  dataset: string;
  version: number;
  rows: number;
  filterBits: number;
  status?: 'active' | 'staged';
  actor: string;
  time?: string;
}): AuditEvent {
  const type = 'dataset_version';
  ids(type, f, ['dataset', 'actor']);
  for (const k of ['version', 'rows', 'filterBits'] as const) check(type, isCount(f[k]), k);
  const status = f.status ?? 'active';
  check(type, status === 'active' || status === 'staged', 'status');
  return {
    type,
    v: 1,
    dataset: f.dataset,
    version: f.version,
    rows: f.rows,
    filter_bits: f.filterBits,
    status,
    actor: f.actor,
    time: stamped(type, f.time),
  };
}

/** A stored version made the one that answers: a staged one activated, or the previous one (`rollback`). */
export function datasetActivatedEvent(f: {
  dataset: string;
  version: number;
  previousVersion: number | null;
  rollback: boolean;
  rows: number;
  actor: string;
  time?: string;
}): AuditEvent {
  const type = 'dataset_activated';
  ids(type, f, ['dataset', 'actor']);
  for (const k of ['version', 'rows'] as const) check(type, isCount(f[k]), k);
  check(type, f.previousVersion === null || isCount(f.previousVersion), 'previousVersion');
  return {
    type,
    v: 1,
    dataset: f.dataset,
    version: f.version,
    previous_version: f.previousVersion,
    rollback: f.rollback === true,
    rows: f.rows,
    actor: f.actor,
    time: stamped(type, f.time),
  };
}

export function datasetVersionDiscardedEvent(f: {
  dataset: string;
  version: number;
  actor: string;
  time?: string;
}): AuditEvent {
  const type = 'dataset_version_discarded';
  ids(type, f, ['dataset', 'actor']);
  check(type, isCount(f.version), 'version');
  return { type, v: 1, dataset: f.dataset, version: f.version, actor: f.actor, time: stamped(type, f.time) };
}

const REASON = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * A request the policy refused (403 POLICY_DENIED): who asked, what for, and the policy's reasons.
 * No query, record or CLK hash: nothing was searched. The purpose is recorded only when the policy
 * knows it (an unknown one is the caller's free text).
 */
export function policyDeniedEvent(f: {
  action: 'verify' | 'link' | 'encode_record';
  relyingParty: string;
  dataset: string;
  purpose: string | null;
  requestedClaims: string[];
  reasons: readonly string[];
  actor: string;
  time?: string;
}): AuditEvent {
  const type = 'policy_denied';
  ids(type, f, ['relyingParty', 'dataset', 'actor']);
  check(type, f.action === 'verify' || f.action === 'link' || f.action === 'encode_record', 'action');
  check(type, f.purpose === null || isId(f.purpose), 'purpose');
  check(type, isClaims(f.requestedClaims), 'requestedClaims');
  check(type, Array.isArray(f.reasons) && f.reasons.length > 0 && f.reasons.every((r) => REASON.test(r)), 'reasons');
  return {
    type,
    v: 1,
    action: f.action,
    relying_party: f.relyingParty,
    dataset: f.dataset,
    purpose: f.purpose,
    requested_claims: [...new Set(f.requestedClaims)].sort(),
    reasons: [...f.reasons],
    actor: f.actor,
    time: stamped(type, f.time),
  };
}

export function datasetDeletedEvent(f: {
  dataset: string;
  versions: number;
  actor: string;
  time?: string;
}): AuditEvent {
  const type = 'dataset_deleted';
  ids(type, f, ['dataset', 'actor']);
  check(type, isCount(f.versions), 'versions');
  return { type, v: 1, dataset: f.dataset, versions: f.versions, actor: f.actor, time: stamped(type, f.time) };
}

export function datasetSecretSetEvent(f: { dataset: string; actor: string; time?: string }): AuditEvent {
  const type = 'dataset_secret_set';
  ids(type, f, ['dataset', 'actor']);
  return { type, v: 1, dataset: f.dataset, actor: f.actor, time: stamped(type, f.time) };
}

export function linkageJobEvent(f: {
  job: string;
  actor: string;
  relyingParty: string;
  /** The (first) dataset and the version the job ran on. */
  dataset: string;
  datasetVersion: string;
  /** A multi-party job: every dataset, in party order, with its version. */
  datasets?: { dataset: string; version: string }[];
  queries: number;
  threshold: number;
  solution: 'pairs' | 'greedy';
  /** Pairs released (two parties), or candidate pairs grouped (multi-party). */
  pairs: number;
  /** Groups released by a multi-party job. */
  groups?: number;
  /** Chunks a chunked job ran in, across the broker replicas. */
  chunks?: number;
  blocking?: 'lsh' | 'blocks';
  /** Names (not values) of the claims the results carry. */
  releasedClaims?: string[];
  time?: string;
}): AuditEvent {
  const type = 'linkage_job';
  ids(type, f, ['job', 'actor', 'relyingParty', 'dataset', 'datasetVersion']);
  check(type, isCount(f.queries), 'queries');
  check(type, isCount(f.pairs), 'pairs');
  check(type, isScore(f.threshold), 'threshold');
  check(type, f.solution === 'pairs' || f.solution === 'greedy', 'solution');
  check(type, f.releasedClaims === undefined || isClaims(f.releasedClaims), 'releasedClaims');
  check(
    type,
    f.datasets === undefined ||
      (Array.isArray(f.datasets) &&
        f.datasets.length <= 255 &&
        f.datasets.every((d) => isId(d?.dataset) && isId(d?.version))),
    'datasets',
  );
  check(type, f.groups === undefined || isCount(f.groups), 'groups');
  check(type, f.chunks === undefined || (isCount(f.chunks) && f.chunks > 0), 'chunks');
  check(type, f.blocking === undefined || f.blocking === 'lsh' || f.blocking === 'blocks', 'blocking');
  return {
    type,
    v: 1,
    job: f.job,
    actor: f.actor,
    relying_party: f.relyingParty,
    dataset: f.dataset,
    dataset_version: f.datasetVersion,
    ...(f.datasets ? { datasets: f.datasets.map((d) => ({ dataset: d.dataset, version: d.version })) } : {}),
    queries: f.queries,
    threshold: f.threshold,
    solution: f.solution,
    pairs: f.pairs,
    ...(f.groups !== undefined ? { groups: f.groups } : {}),
    ...(f.chunks !== undefined ? { chunks: f.chunks } : {}),
    ...(f.blocking ? { blocking: f.blocking } : {}),
    released_claims: [...new Set(f.releasedClaims ?? [])].sort(),
    time: stamped(type, f.time),
  };
}
