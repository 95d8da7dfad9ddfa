/**
 * The broker's side of the policy bundle (policy/, docs/policy.md): opening
 * it with the configured signing key and reload interval, the routes that
 * show and reload it, the check of dataset definitions against it, and the
 * bundle version stamped on audit events. Self-contained: everything comes
 * in as arguments.
 *
 *   GET  /v1/policy         any role   purposes, their claims, minimum scores, consent; actions; deny reasons
 *   POST /v1/policy/reload  admin      re-read the bundle now (it is also polled every POLICY_RELOAD_MS)
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { PavilionError } from '../common/errors.js';
import type { Principal, Role } from '../identity/index.js';
import { type DatasetShape, importBundleKey, openPolicy, type ReloadingPolicy } from '../policy/index.js';
import type { BrokerConfig } from './config.js';
import type { Exchange, HttpRouter } from './http.js';

export async function openBrokerPolicy(config: BrokerConfig, log: Logger): Promise<ReloadingPolicy> {
  let key: Awaited<ReturnType<typeof importBundleKey>> | undefined;
  if (config.policy.keyFile) {
    let pem: string;
    try {
      pem = await readFile(config.policy.keyFile, 'utf8');
    } catch {
      throw new PavilionError('CONFIG_INVALID', 'POLICY_BUNDLE_KEY: the key file cannot be read');
    }
    key = await importBundleKey(pem, config.policy.keyAlg);
  }
  const policy = await openPolicy({
    ...(config.policy.bundle ? { path: config.policy.bundle } : {}),
    ...(key ? { key } : {}),
    pollMs: config.policy.reloadMs,
    onReload: (from, to) =>
      log.info({ from: from.version, to: to.version, purposes: Object.keys(to.purposes) }, 'policy bundle reloaded'),
    onError: (err) =>
      log.error(
        { code: err instanceof PavilionError ? err.code : 'INTERNAL', detail: (err as Error).message },
        'policy bundle changed but cannot be loaded; the running policy stays',
      ),
  });
  if (!key)
    log.info({ policy: policy.version }, 'policy bundle loaded without signature verification (no POLICY_BUNDLE_KEY)');
  return policy;
}

export interface PolicyRouteDeps {
  policy: ReloadingPolicy;
  /** Verifies the request's token and requires one of the roles (server/auth.ts). */
  authenticate(x: Exchange, ...roles: Role[]): Promise<Principal>;
  log: Logger;
}

export function registerPolicyRoutes(router: HttpRouter, deps: PolicyRouteDeps): void {
  router.route('get', '/v1/policy', async (x) => {
    await deps.authenticate(x, 'rp', 'dp', 'auditor', 'admin');
    return { json: deps.policy.describe() };
  });

  router.route('post', '/v1/policy/reload', async (x) => {
    const principal = await deps.authenticate(x, 'admin');
    const outcome = await deps.policy.reload();
    deps.log.info({ actor: principal.subject, ...outcome }, 'policy reload requested');
    return { json: { ...outcome, policy: deps.policy.describe() } };
  });
}

/**
 * Dataset definitions the policy would never serve are refused (422
 * DATASET_POLICY_MISMATCH) instead of having their claims dropped from every
 * answer: wraps `define` so every caller (the route, the demo loader) is checked.
 */
export function checkDefinitionsAgainstPolicy<
  S extends { define(principal: Principal, id: string, input: DatasetShape & object): Promise<unknown> },
>(service: S, policy: ReloadingPolicy): void {
  const define = service.define.bind(service);
  service.define = ((principal: Principal, id: string, input: DatasetShape & object) => {
    policy.assertDatasetAllowed(input);
    return define(principal, id, input);
  }) as S['define'];
}

/**
 * Every audit event names the policy bundle in force: verification events
 * already carry the version that decided (`policy_decision_id`); the others
 * (dataset definitions, linkage jobs, …) get `policy_version` when appended.
 */
export function withPolicyVersion(event: object, policy: { readonly version: string }): object {
  return 'policy_decision_id' in event || 'policy_version' in event
    ? event
    : { ...event, policy_version: policy.version };
}
