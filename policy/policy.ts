/**
 * One loaded policy bundle: the wasm (compiled from verification.rego by
 * build.sh) loaded with @open-policy-agent/opa-wasm, its data set from the
 * bundle's data.json. One decision costs a few µs; repeated questions are
 * answered from a memo. reloading.ts swaps bundles while the broker runs.
 */
import { type LoadedPolicy, loadPolicy as loadOpaWasm } from '@open-policy-agent/opa-wasm';
import { PavilionError } from '../common/errors.js';
import { fromRoot } from '../common/paths.js';
import {
  type BundleFiles,
  bundleDigest,
  bundleInvalid,
  dataJson,
  parseManifest,
  policyModule,
  policyVersion,
  readBundle,
  SIGNATURES_FILE,
} from './bundle.js';
import { type BundleKey, verifyBundleSignature } from './bundle-signature.js';
import { DENY_REASONS, type Decision, decisionFromResultSet, type PolicyInput } from './decision.js';
import { DecisionMemo } from './decision-memo.js';
import { checkPolicyData } from './policy-data.js';

export const DEFAULT_BUNDLE_PATH = fromRoot('policy', 'bundle');
export const DECISION_ENTRYPOINT = 'pavilion/verification/decision';
export const DATASET_CHECK_ENTRYPOINT = 'pavilion/verification/dataset_check';
export const CATALOGUE_ENTRYPOINT = 'pavilion/verification/catalogue';
const ENTRYPOINTS = [DECISION_ENTRYPOINT, DATASET_CHECK_ENTRYPOINT, CATALOGUE_ENTRYPOINT] as const;

/** Inputs whose JSON is longer than this are evaluated but not memoized (bounds memo memory). */
const MAX_MEMO_KEY_LENGTH = 4096;

export interface PurposeRule {
  /** The only claims this purpose may reveal. */
  claims: string[];
  consent_required: boolean;
  /** Dice score below which no match is reported (linkage job thresholds are raised to it). */
  min_score: number;
  cache_ttl_seconds: number;
  description: string;
}

/** What GET /v1/policy serves: everything a caller needs to ask a question the policy allows. */
export interface PolicyDescription {
  /** `<revision>+<digest prefix>`: the value audit events carry. */
  version: string;
  revision: string;
  /** SHA-256 over the bundle's members (bundle.ts bundleDigest). */
  digest: string;
  /** Whether the bundle's signature was verified (POLICY_BUNDLE_KEY set). */
  signed: boolean;
  purposes: Record<string, PurposeRule>;
  /** Action → roles that may perform it. */
  actions: Record<string, string[]>;
  /** Deny reason → meaning. */
  reasons: Record<string, string>;
}

export interface DatasetCheck {
  /** Purposes the dataset names that the policy does not know. */
  unknown_purposes: string[];
  /** Claims of the dataset that no purpose it serves may ever reveal. */
  unreleasable_claims: string[];
}

export interface DatasetShape {
  claims: readonly string[];
  purposes?: readonly string[] | null;
}

export interface Policy {
  /** `<revision>+<12 hex>` of the bundle (or the 12 hex alone without a revision), for the audit log. */
  readonly version: string;
  readonly revision: string;
  /** Full SHA-256 over the bundle's members, hex. */
  readonly sha256: string;
  /** Evaluates (or recalls) the decision. Throws POLICY_ERROR (500) if the wasm fails or answers out of contract. */
  decide(input: PolicyInput): Decision;
  /** Evaluates without the memo (benchmarks, differential tests). */
  evaluate(input: PolicyInput): Decision;
  /** Purposes, their claims, minimum scores and consent rules; actions and roles; deny reasons. */
  describe(): PolicyDescription;
  /** What in a dataset definition the policy will never allow. */
  checkDataset(dataset: DatasetShape): DatasetCheck;
  /** Throws DATASET_POLICY_MISMATCH (422) naming the offending purposes and claims. */
  assertDatasetAllowed(dataset: DatasetShape): void;
  readonly memoStats: { readonly size: number; readonly hits: number; readonly misses: number };
}

export interface PolicyOptions {
  /** Memoized decisions kept (approximate LRU, see decision-memo.ts). Default 10 000; 0 disables. */
  memoSize?: number;
  /** Verify the bundle's .signatures.json with this key; the bundle must then be signed. */
  key?: BundleKey;
}

/**
 * The input exactly as the policy sees it, as JSON text: only documented
 * fields, in a fixed order (so equal questions give equal text), roles as a
 * sorted array (the identity layer hands over a Set; the policy treats roles
 * as a set). This text is both the wasm's input and the memo key.
 */
export function canonicalInput(input: PolicyInput): string {
  const { principal, dataset, request } = input ?? ({} as PolicyInput);
  const roles: unknown = principal?.roles;
  try {
    return JSON.stringify({
      principal: {
        sub: principal?.sub,
        // Arrays and Sets become a sorted array; anything else goes through
        // unchanged for the policy to reject (principal_invalid).
        roles: Array.isArray(roles) || roles instanceof Set ? [...(roles as Iterable<unknown>)].sort() : roles,
        tenant: principal?.tenant,
      },
      action: input?.action,
      dataset: {
        id: dataset?.id,
        claims: dataset?.claims,
        allow_broker_encoding: dataset?.allow_broker_encoding,
        purposes: dataset?.purposes,
      },
      request: { claims: request?.claims, purpose: request?.purpose, consent: request?.consent },
    });
  } catch {
    // Cycles or BigInts: the server built a broken input.
    throw new PavilionError('POLICY_ERROR', 'policy input is not serialisable as JSON');
  }
}

/** Reads, checks and loads the bundle at `path` (a folder or a .tar.gz). */
export async function loadPolicy(path: string = DEFAULT_BUNDLE_PATH, options: PolicyOptions = {}): Promise<Policy> {
  return policyFromBundle(await readBundle(path), options);
}

const sortedStrings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? [...v].sort() : undefined;

/** Loads a bundle already read (reloading.ts reads once, to compare digests). */
export async function policyFromBundle(files: BundleFiles, options: PolicyOptions = {}): Promise<Policy> {
  if (options.key) await verifyBundleSignature(files, options.key);
  const manifest = parseManifest(files);
  const data = dataJson(files);
  const purposes = checkPolicyData(data.value);
  let opa: LoadedPolicy;
  try {
    opa = await loadOpaWasm(policyModule(files, manifest, ENTRYPOINTS));
  } catch (err) {
    if (err instanceof PavilionError) throw err;
    throw new PavilionError('POLICY_LOAD_FAILED', 'the bundle policy is not a loadable OPA wasm module');
  }
  const exported = opa.entrypoints as Record<string, number>;
  const missing = ENTRYPOINTS.filter((e) => !Object.hasOwn(exported, e));
  if (missing.length > 0)
    throw new PavilionError('POLICY_LOAD_FAILED', `the bundle policy has no ${missing.join(', ')} entrypoint`);
  // The data exactly as the operator wrote it (opa-wasm parses JSON text given as an ArrayBuffer).
  opa.setData(data.raw.slice().buffer);

  const digest = bundleDigest(files);
  const version = policyVersion(manifest.revision, digest);
  const memo = new DecisionMemo<Decision>(options.memoSize ?? 10_000);
  const encoder = new TextEncoder();

  function evaluateRaw(input: ArrayBuffer | object, entrypoint: string): unknown {
    let resultSet: unknown;
    try {
      resultSet = opa.evaluate(input, exported[entrypoint]);
    } catch {
      throw new PavilionError('POLICY_ERROR', 'policy evaluation failed');
    }
    if (!Array.isArray(resultSet) || resultSet.length !== 1)
      throw new PavilionError('POLICY_ERROR', `policy returned no single result for ${entrypoint}`);
    return (resultSet[0] as { result?: unknown }).result;
  }

  function evaluateText(json: string): Decision {
    let resultSet: unknown;
    try {
      // opa-wasm takes an ArrayBuffer as ready-made JSON, sparing a second stringify.
      resultSet = opa.evaluate(encoder.encode(json).buffer, exported[DECISION_ENTRYPOINT]);
    } catch {
      throw new PavilionError('POLICY_ERROR', 'policy evaluation failed');
    }
    return decisionFromResultSet(resultSet);
  }

  // The catalogue is a pure function of the data: evaluated once, and checked
  // against it, so a Rego that reads its purposes from anywhere else is refused.
  const catalogue = evaluateRaw({}, CATALOGUE_ENTRYPOINT) as {
    purposes?: Record<string, PurposeRule>;
    actions?: Record<string, string[]>;
  } | null;
  const served = Object.keys(catalogue?.purposes ?? {}).sort();
  if (served.join('\n') !== Object.keys(purposes).sort().join('\n'))
    throw bundleInvalid('the policy does not serve the purposes of data.json (it reads data.pavilion.purposes)');
  const description: PolicyDescription = deepFreeze({
    version,
    revision: manifest.revision,
    digest,
    signed: options.key !== undefined && files.has(SIGNATURES_FILE),
    purposes: catalogue!.purposes!,
    actions: catalogue!.actions ?? {},
    reasons: { ...DENY_REASONS },
  });

  function checkDataset(dataset: DatasetShape): DatasetCheck {
    const r = evaluateRaw(
      { dataset: { claims: dataset.claims, purposes: dataset.purposes ?? null } },
      DATASET_CHECK_ENTRYPOINT,
    ) as Record<string, unknown> | undefined;
    const unknown = sortedStrings(r?.unknown_purposes);
    const unreleasable = sortedStrings(r?.unreleasable_claims);
    if (!unknown || !unreleasable) throw new PavilionError('POLICY_ERROR', 'dataset_check answered out of contract');
    return { unknown_purposes: unknown, unreleasable_claims: unreleasable };
  }

  return {
    version,
    revision: manifest.revision,
    sha256: digest,
    decide(input) {
      const key = canonicalInput(input);
      if (key.length > MAX_MEMO_KEY_LENGTH) return evaluateText(key);
      const cached = memo.get(key);
      if (cached !== undefined) return cached;
      const decision = evaluateText(key);
      memo.set(key, decision);
      return decision;
    },
    evaluate(input) {
      return evaluateText(canonicalInput(input));
    },
    describe: () => description,
    checkDataset,
    assertDatasetAllowed(dataset) {
      const c = checkDataset(dataset);
      if (c.unknown_purposes.length === 0 && c.unreleasable_claims.length === 0) return;
      throw datasetMismatch(c, Object.keys(description.purposes).sort());
    },
    get memoStats() {
      return { size: memo.size, hits: memo.hits, misses: memo.misses };
    },
  };
}

/** 422 DATASET_POLICY_MISMATCH: names (never values) of what the policy would never allow, and what it knows. */
export class DatasetPolicyMismatch extends PavilionError {
  readonly problemErrors: { path: string; message: string }[];
  readonly policy: DatasetCheck;

  constructor(check: DatasetCheck, knownPurposes: readonly string[]) {
    const errors: { path: string; message: string }[] = [];
    if (check.unknown_purposes.length > 0)
      errors.push({
        path: '$.purposes',
        message: `unknown to the policy: ${check.unknown_purposes.join(', ')} (known: ${knownPurposes.join(', ')})`,
      });
    if (check.unreleasable_claims.length > 0)
      errors.push({
        path: '$.claims',
        message:
          `no purpose this dataset serves may reveal: ${check.unreleasable_claims.join(', ')} (see GET ` +
          `/v1/policy)`,
      });
    super(
      'DATASET_POLICY_MISMATCH',
      `the policy would never allow this definition: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
    );
    this.problemErrors = errors;
    this.policy = check;
  }
}

function datasetMismatch(check: DatasetCheck, known: readonly string[]): PavilionError {
  return new DatasetPolicyMismatch(check, known);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
