/**
 * The verification policy, evaluated in-process: the committed
 * policy/verification.wasm (compiled from verification.rego by build.sh)
 * loaded with @open-policy-agent/opa-wasm. One decision costs a few µs
 * (docs/decisions.md, "Policy": ~5 µs); repeated questions are answered from a memo.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type LoadedPolicy, loadPolicy as loadOpaWasm } from '@open-policy-agent/opa-wasm';
import { PavilionError } from '../common/errors.js';
import { fromRoot } from '../common/paths.js';
import { type Decision, decisionFromResultSet, denied, type PolicyInput } from './decision.js';
import { DecisionMemo } from './decision-memo.js';

export type { Decision, Obligations, PolicyAction, PolicyConsent, PolicyInput } from './decision.js';
export { decisionFromResultSet, denied };

export const DEFAULT_POLICY_PATH = fromRoot('policy', 'verification.wasm');
export const DECISION_ENTRYPOINT = 'pavilion/verification/decision';

/** Inputs whose JSON is longer than this are evaluated but not memoized (bounds memo memory). */
const MAX_MEMO_KEY_LENGTH = 4096;

export interface Policy {
  /** Short content hash of the wasm (first 12 hex digits of its SHA-256), for the audit log. */
  readonly version: string;
  /** Full SHA-256 of the wasm, hex. */
  readonly sha256: string;
  /** Evaluates (or recalls) the decision. Throws POLICY_ERROR (500) if the wasm fails or answers out of contract. */
  decide(input: PolicyInput): Decision;
  /** Evaluates without the memo (benchmarks, differential tests). */
  evaluate(input: PolicyInput): Decision;
  readonly memoStats: { readonly size: number; readonly hits: number; readonly misses: number };
}

export interface PolicyOptions {
  /** Memoized decisions kept (approximate LRU, see decision-memo.ts). Default 10 000; 0 disables. */
  memoSize?: number;
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

export async function loadPolicy(path: string = DEFAULT_POLICY_PATH, options: PolicyOptions = {}): Promise<Policy> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new PavilionError('POLICY_LOAD_FAILED', 'the compiled policy file could not be read (run policy/build.sh)');
  }
  let opa: LoadedPolicy;
  try {
    opa = await loadOpaWasm(bytes);
  } catch {
    throw new PavilionError('POLICY_LOAD_FAILED', 'the compiled policy is not a loadable OPA wasm module');
  }
  const entrypoints = opa.entrypoints as Record<string, number>;
  if (!Object.hasOwn(entrypoints, DECISION_ENTRYPOINT)) {
    throw new PavilionError('POLICY_LOAD_FAILED', `the compiled policy has no ${DECISION_ENTRYPOINT} entrypoint`);
  }
  const entrypoint = entrypoints[DECISION_ENTRYPOINT]!;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const memo = new DecisionMemo<Decision>(options.memoSize ?? 10_000);
  const encoder = new TextEncoder();

  function evaluateText(json: string): Decision {
    let resultSet: unknown;
    try {
      // opa-wasm takes an ArrayBuffer as ready-made JSON, sparing a second stringify.
      resultSet = opa.evaluate(encoder.encode(json).buffer, entrypoint);
    } catch {
      throw new PavilionError('POLICY_ERROR', 'policy evaluation failed');
    }
    return decisionFromResultSet(resultSet);
  }

  return {
    version: sha256.slice(0, 12),
    sha256,
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
    get memoStats() {
      return { size: memo.size, hits: memo.hits, misses: memo.misses };
    },
  };
}
