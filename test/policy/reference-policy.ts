/**
 * A plain TypeScript statement of the verification policy, written from the
 * rules (not translated from the Rego line by line), for differential tests
 * against the compiled wasm and `opa eval`. Its input is `unknown` on
 * purpose: the fuzzed inputs include wrong types, and both sides must agree
 * on those too.
 */
export const PURPOSE_TABLE: Record<string, { claims: string[]; consent: boolean; minScore: number; ttl: number }> = {
  kyc: {
    claims: ['identity_verified', 'name_match', 'date_of_birth_match', 'address_match', 'document_valid', 'over_18'],
    consent: false,
    minScore: 0.9,
    ttl: 300,
  },
  age_verification: { claims: ['over_18', 'over_21'], consent: false, minScore: 0.85, ttl: 300 },
  employment_screening: {
    claims: ['identity_verified', 'employment_eligible', 'education_verified', 'license_valid', 'license_class'],
    consent: true,
    minScore: 0.92,
    ttl: 60,
  },
  license_check: {
    claims: ['license_valid', 'license_class', 'license_expiry'],
    consent: false,
    minScore: 0.85,
    ttl: 300,
  },
};

const RP_ACTIONS = new Set(['verify', 'link', 'encode_record']);
const REVEALING = new Set(['verify', 'encode_record']);

export interface ReferenceDecision {
  allow: boolean;
  reasons: string[];
  obligations: { revealable_claims: string[]; min_score: number; cache_ttl_seconds: number };
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const strings = (v: unknown): Set<string> =>
  new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function referenceDecision(input: unknown): ReferenceDecision {
  const i = obj(input);
  const principal = obj(i.principal);
  const dataset = obj(i.dataset);
  const request = obj(i.request);
  const action = i.action;
  const purpose =
    typeof request.purpose === 'string' && Object.hasOwn(PURPOSE_TABLE, request.purpose)
      ? PURPOSE_TABLE[request.purpose]
      : undefined;
  const knownAction = typeof action === 'string' && RP_ACTIONS.has(action);
  const roles = principal.roles;
  const consent = request.consent;
  const consentGiven = consent === true || obj(consent).granted === true;

  const reasons: string[] = [];
  if (!(typeof principal.sub === 'string' && principal.sub !== '' && Array.isArray(roles)))
    reasons.push('principal_invalid');
  if (!(typeof dataset.id === 'string' && Array.isArray(dataset.claims) && Array.isArray(request.claims)))
    reasons.push('request_invalid');
  if (!knownAction) reasons.push('action_unknown');
  if (knownAction && !(Array.isArray(roles) && roles.includes('rp'))) reasons.push('role_not_permitted');
  if (!purpose) reasons.push('purpose_unknown');
  if (purpose && Array.isArray(dataset.purposes) && !dataset.purposes.includes(request.purpose))
    reasons.push('purpose_not_permitted_by_dataset');
  if (purpose?.consent && !consentGiven) reasons.push('consent_required');
  if (action === 'encode_record' && dataset.allow_broker_encoding !== true) reasons.push('broker_encoding_not_allowed');

  const datasetClaims = strings(dataset.claims);
  const revealable = [...strings(request.claims)].filter(
    (c) => datasetClaims.has(c) && (purpose?.claims.includes(c) ?? false),
  );
  if (typeof action === 'string' && REVEALING.has(action) && purpose && revealable.length === 0)
    reasons.push('no_revealable_claims');

  reasons.sort();
  const allow = reasons.length === 0;
  return {
    allow,
    reasons,
    obligations: {
      revealable_claims: allow ? revealable.sort() : [],
      min_score: purpose?.minScore ?? 0.85,
      cache_ttl_seconds: purpose?.ttl ?? 300,
    },
  };
}
