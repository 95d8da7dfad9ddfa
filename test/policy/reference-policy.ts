/**
 * A plain TypeScript statement of the verification policy, written from the
 * rules (not translated from the Rego line by line), for differential tests
 * against the compiled wasm and `opa eval`. Its input is `unknown` on
 * purpose: the fuzzed inputs include wrong types, and both sides must agree
 * on those too. The purposes are data, as in the bundle: the same rules
 * must hold for any purpose table.
 */
import { readFileSync } from 'node:fs';
import { fromRoot } from '../../common/paths.js';

export interface PurposeEntry {
  claims: string[];
  consent_required: boolean;
  min_score: number;
  cache_ttl_seconds: number;
  description?: string;
}

/** The purposes as a bundle's data.json holds them (data.pavilion.purposes). */
export type PurposeTable = Record<string, PurposeEntry>;

/** The committed bundle's purposes. */
export const PURPOSE_TABLE: PurposeTable = JSON.parse(readFileSync(fromRoot('policy', 'bundle', 'data.json'), 'utf8'))
  .pavilion.purposes;

const RP_ACTIONS = new Set(['verify', 'link', 'encode_record']);
const REVEALING = new Set(['verify', 'encode_record']);

export interface ReferenceDecision {
  allow: boolean;
  reasons: string[];
  obligations: { revealable_claims: string[]; min_score: number; cache_ttl_seconds: number };
  permitted: { purposes: string[]; claims: string[] };
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const strings = (v: unknown): Set<string> =>
  new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function referenceDecision(input: unknown, table: PurposeTable = PURPOSE_TABLE): ReferenceDecision {
  const i = obj(input);
  const principal = obj(i.principal);
  const dataset = obj(i.dataset);
  const request = obj(i.request);
  const action = i.action;
  const purpose =
    typeof request.purpose === 'string' && Object.hasOwn(table, request.purpose) ? table[request.purpose] : undefined;
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
  if (purpose?.consent_required && !consentGiven) reasons.push('consent_required');
  if (action === 'encode_record' && dataset.allow_broker_encoding !== true) reasons.push('broker_encoding_not_allowed');

  const datasetClaims = strings(dataset.claims);
  const requested = strings(request.claims);
  const revealable = [...requested].filter((c) => datasetClaims.has(c) && (purpose?.claims.includes(c) ?? false));
  // Asking for no claims is a match-only question; asking only for claims that cannot be given is refused.
  if (typeof action === 'string' && REVEALING.has(action) && purpose && requested.size > 0 && revealable.length === 0)
    reasons.push('no_revealable_claims');

  reasons.sort();
  const allow = reasons.length === 0;
  return {
    allow,
    reasons,
    obligations: {
      revealable_claims: allow ? revealable.sort() : [],
      min_score: purpose?.min_score ?? 0.85,
      cache_ttl_seconds: purpose?.cache_ttl_seconds ?? 300,
    },
    permitted: {
      purposes: Object.keys(table)
        .filter((p) => !Array.isArray(dataset.purposes) || dataset.purposes.includes(p))
        .sort(),
      claims: [...datasetClaims].filter((c) => purpose?.claims.includes(c) ?? false).sort(),
    },
  };
}
