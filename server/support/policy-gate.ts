/**
 * The policy question every request on a dataset asks (verify, encode a record, link): the caller,
 * the action, the dataset's definition and the request, answered by the OPA policy (policy/). A
 * denial is a 403 POLICY_DENIED naming the policy's reasons; an allowance carries the obligations
 * (minimum score, claims the caller may see, cache lifetime).
 */
import type { Principal } from '../../identity/index.js';
import { type Decision, denied, type Policy, type PolicyAction } from '../../policy/index.js';

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
  if (!d.allow) throw denied(d);
  return d;
}
