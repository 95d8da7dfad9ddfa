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

/** What would be allowed (names only): so a denial can say how to ask instead. */
export interface Permitted {
  /** Known purposes this dataset may be asked for. */
  readonly purposes: readonly string[];
  /** Claims the requested purpose may reveal from this dataset. */
  readonly claims: readonly string[];
}

export interface Decision {
  readonly allow: boolean;
  /** Stable deny reasons, sorted; empty when allowed. */
  readonly reasons: readonly string[];
  readonly obligations: Obligations;
  readonly permitted: Permitted;
}

/** Every deny reason the policy gives, with what it means (GET /v1/policy, docs/policy.md). */
export const DENY_REASONS: Readonly<Record<string, string>> = Object.freeze({
  action_unknown: 'the action is not verify, link or encode_record',
  broker_encoding_not_allowed: 'the dataset does not let the broker encode records: send a clk',
  consent_required: "the purpose needs the person's consent: send consent: true",
  no_revealable_claims: 'none of the requested claims may be revealed for this purpose from this dataset',
  principal_invalid: 'the token has no subject or no roles',
  purpose_not_permitted_by_dataset: 'the dataset restricts the purposes it serves, and this is not one of them',
  purpose_unknown: 'the policy knows no such purpose',
  request_invalid: 'the dataset or request claims are not lists',
  role_not_permitted: 'only relying parties (role rp) may verify, link or encode',
});

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
  const p = result.permitted as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null || !isStringArray(p.purposes) || !isStringArray(p.claims))
    throw policyError('permitted is not {purposes[], claims[]}');
  // Frozen: memoized decisions are shared between requests.
  return Object.freeze({
    allow,
    reasons: Object.freeze([...reasons]),
    obligations: Object.freeze({
      revealable_claims: Object.freeze([...o.revealable_claims]),
      min_score: o.min_score,
      cache_ttl_seconds: o.cache_ttl_seconds,
    }),
    permitted: Object.freeze({
      purposes: Object.freeze([...p.purposes]),
      claims: Object.freeze([...p.claims]),
    }),
  });
}

const list = (names: readonly string[]): string => (names.length > 0 ? names.join(', ') : 'none');

/** Where in the request each reason points, and what would be allowed instead. */
function hint(reason: string, permitted: Permitted): { path: string; message: string } {
  switch (reason) {
    case 'purpose_unknown':
      return { path: '$.purpose', message: `${reason}: valid purposes are ${list(permitted.purposes)}` };
    case 'purpose_not_permitted_by_dataset':
      return { path: '$.purpose', message: `${reason}: this dataset serves ${list(permitted.purposes)}` };
    case 'no_revealable_claims':
      return {
        path: '$.claims',
        message: `${reason}: this purpose may reveal ${list(permitted.claims)} from this dataset (or ask for none)`,
      };
    case 'consent_required':
      return { path: '$.consent', message: `${reason}: ${DENY_REASONS[reason]}` };
    case 'broker_encoding_not_allowed':
      return { path: '$.record', message: `${reason}: ${DENY_REASONS[reason]}` };
    default:
      return { path: '$', message: `${reason}: ${DENY_REASONS[reason] ?? 'denied'}` };
  }
}

/**
 * The 403 POLICY_DENIED for a denied decision. The problem document says which
 * rules denied (`errors[]`: the request field and the stable reason) and what
 * would be allowed; reasons and names are policy vocabulary, never request
 * values, so nothing personal can reach it. `policy` carries the same as data.
 */
export class PolicyDenied extends PavilionError {
  readonly problemErrors: { path: string; message: string }[];
  readonly policy: { reasons: readonly string[]; permitted: Permitted };

  constructor(decision: Decision) {
    const errors = decision.reasons.map((r) => hint(r, decision.permitted));
    super('POLICY_DENIED', `denied by policy: ${errors.map((e) => e.message).join('; ')}`);
    this.problemErrors = errors;
    this.policy = { reasons: decision.reasons, permitted: decision.permitted };
  }
}

export function denied(decision: Decision): PavilionError {
  return new PolicyDenied(decision);
}
