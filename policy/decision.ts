/**
 * The policy's input and output types, and the check that a result coming
 * back from the wasm has the documented shape (policy/verification.rego,
 * header comment). A wasm built from a changed or broken Rego must fail
 * closed with POLICY_ERROR, never hand the server a half-formed decision.
 */
import { PavilionError } from '../common/errors.js';

export type PolicyAction = 'verify' | 'link' | 'encode_record';

/** Consent accompanying a request: `true`, or a record whose `granted` is true. */
export type PolicyConsent = boolean | { granted: boolean; reference?: string };

export interface PolicyInput {
  /** From identity's Principal: `{ sub: p.subject, roles: p.roles, tenant: p.tenant }`. */
  principal: { sub: string; roles: Iterable<string>; tenant?: string };
  action: PolicyAction;
  dataset: {
    id: string;
    claims: readonly string[];
    allow_broker_encoding: boolean;
    purposes?: readonly string[] | null;
  };
  request: { claims: readonly string[]; purpose: string; consent?: PolicyConsent };
}

export interface Obligations {
  /** Requested ∩ dataset claims ∩ the purpose's allow-list (empty when denied). */
  readonly revealable_claims: readonly string[];
  /** Dice score below which no match may be reported. */
  readonly min_score: number;
  /** How long the answer may be served from cache. */
  readonly cache_ttl_seconds: number;
}

export interface Decision {
  readonly allow: boolean;
  /** Stable deny reasons, sorted; empty when allowed. */
  readonly reasons: readonly string[];
  readonly obligations: Obligations;
}

function policyError(detail: string): PavilionError {
  return new PavilionError('POLICY_ERROR', `policy returned an invalid decision: ${detail}`);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Validates opa-wasm's result set (`[{result: decision}]`) and returns a frozen Decision. */
export function decisionFromResultSet(resultSet: unknown): Decision {
  if (!Array.isArray(resultSet) || resultSet.length !== 1)
    throw policyError('expected exactly one result (is the decision rule defined for every input?)');
  const result = (resultSet[0] as { result?: unknown } | null)?.result as Record<string, unknown> | undefined;
  if (typeof result !== 'object' || result === null) throw policyError('result is not an object');
  const { allow, reasons, obligations } = result;
  if (typeof allow !== 'boolean') throw policyError('allow is not a boolean');
  if (!isStringArray(reasons)) throw policyError('reasons is not an array of strings');
  // A decision that allows and gives reasons (or denies without one) means the
  // Rego broke its own contract; fail closed rather than guess which half is right.
  if (allow !== (reasons.length === 0)) throw policyError('allow disagrees with reasons');
  if (typeof obligations !== 'object' || obligations === null) throw policyError('obligations missing');
  const o = obligations as Record<string, unknown>;
  if (!isStringArray(o.revealable_claims)) throw policyError('revealable_claims is not an array of strings');
  if (!allow && o.revealable_claims.length > 0) throw policyError('a denied decision reveals claims');
  if (typeof o.min_score !== 'number' || !(o.min_score >= 0 && o.min_score <= 1))
    throw policyError('min_score is not a number in [0, 1]');
  if (typeof o.cache_ttl_seconds !== 'number' || !Number.isInteger(o.cache_ttl_seconds) || o.cache_ttl_seconds < 0) {
    throw policyError('cache_ttl_seconds is not a non-negative integer');
  }
  // Frozen: memoized decisions are shared between requests.
  return Object.freeze({
    allow,
    reasons: Object.freeze([...reasons]),
    obligations: Object.freeze({
      revealable_claims: Object.freeze([...o.revealable_claims]),
      min_score: o.min_score,
      cache_ttl_seconds: o.cache_ttl_seconds,
    }),
  });
}

/** The 403 for a denied decision; reasons are policy vocabulary, safe to show. */
export function denied(decision: Decision): PavilionError {
  return new PavilionError('POLICY_DENIED', `denied by policy: ${decision.reasons.join(', ')}`);
}
