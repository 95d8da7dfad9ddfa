/**
 * The verification policy, evaluated in-process: an OPA bundle (default the
 * committed policy/bundle/: .manifest, data.json, policy.wasm) whose purposes
 * are data an operator replaces without a restart. docs/policy.md describes
 * the rules, the data and how to change, sign and reload a bundle.
 */
export type { BundleKey } from './bundle-signature.js';
export { DEFAULT_SIGNING_ALG, importBundleKey } from './bundle-signature.js';
export type { Decision, Obligations, Permitted, PolicyAction, PolicyConsent, PolicyInput } from './decision.js';
export { DENY_REASONS, decisionFromResultSet, denied, PolicyDenied } from './decision.js';
export {
  CATALOGUE_ENTRYPOINT,
  canonicalInput,
  DATASET_CHECK_ENTRYPOINT,
  type DatasetCheck,
  DatasetPolicyMismatch,
  type DatasetShape,
  DECISION_ENTRYPOINT,
  DEFAULT_BUNDLE_PATH,
  loadPolicy,
  type Policy,
  type PolicyDescription,
  type PolicyOptions,
  type PurposeRule,
  policyFromBundle,
} from './policy.js';
export { CLAIM_NAME, PURPOSE_NAME } from './policy-data.js';
export { openPolicy, type ReloadingPolicy, type ReloadingPolicyOptions, type ReloadOutcome } from './reloading.js';
