/**
 * The policy question every request on a dataset asks (verify, encode a record, link): the caller,
 * the action, the dataset's definition and the request, answered by the OPA policy (policy/). A
 * denial is a 403 POLICY_DENIED naming the policy's reasons, recorded in the audit log first (a
 * `policy_denied` event: who, which dataset, action, purpose, claim names, reasons; nothing about the
 * person asked for); an allowance carries the obligations (minimum score, claims the caller may see,
 * cache lifetime).
 */
import type { Principal } from '../../identity/index.js';
import { type Decision, denied, type Policy, type PolicyAction } from '../../policy/index.js';
import { policyDeniedEvent } from './audit-events.js';
import type { AuditTrail } from './audit-trail.js';

/** What the policy reads of a dataset's definition (server/datasets/store.ts DatasetRecord has it). */
export interface PolicyDataset {
  id: string;
  claims: string[];
  allowBrokerEncoding: boolean;
  purposes: string[] | null;
}

export interface PolicyRequest {
  claims: string[];
  purpose: string;
  consent?: boolean;
}

export async function authorize(
  policy: Policy,
  principal: Principal,
  dataset: PolicyDataset,
  request: PolicyRequest,
  action: PolicyAction,
  /** Where denials are recorded; the 403 waits until the event is durable. */
  trail?: AuditTrail,
): Promise<Decision> {
  const d = await policy.decide({
    principal: {
      sub: principal.subject,
      roles: principal.roles,
      ...(principal.tenant ? { tenant: principal.tenant } : {}),
    },
    action,
    dataset: {
      id: dataset.id,
      claims: dataset.claims,
      allow_broker_encoding: dataset.allowBrokerEncoding,
      ...(dataset.purposes ? { purposes: dataset.purposes } : {}),
    },
    request: {
      claims: request.claims,
      purpose: request.purpose,
      ...(request.consent !== undefined ? { consent: request.consent } : {}),
    },
  });
  if (!d.allow) {
    if (trail) await recordDenial(trail, principal, dataset, request, action, d.reasons);
    throw denied(d);
  }
  return d;
}

/** Appends the `policy_denied` event of a refused request; resolves once it is durable. */
export async function recordDenial(
  trail: AuditTrail,
  principal: Principal,
  dataset: PolicyDataset,
  request: PolicyRequest,
  action: PolicyAction,
  reasons: readonly string[],
): Promise<void> {
  await trail.record(
    policyDeniedEvent({
      action,
      relyingParty: trail.party(principal.tenant ?? principal.subject),
      dataset: dataset.id,
      // An unknown purpose is whatever the caller typed: not recorded.
      purpose: reasons.includes('purpose_unknown') ? null : request.purpose,
      requestedClaims: request.claims,
      reasons,
      actor: trail.party(principal.subject),
    }),
  );
}
