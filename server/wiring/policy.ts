/**
 * The broker's policy bundle (policy/, docs/policy.md), opened with the configured signing key and
 * reload interval; reloads and refused bundles are logged. The routes that show and reload it are
 * server/routes/policy.ts; dataset definitions are checked against it in server/datasets/service.ts;
 * audit events carry its version (server/support/audit-trail.ts).
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { PavilionError } from '../../common/errors.js';
import { importBundleKey, openPolicy, type ReloadingPolicy } from '../../policy/index.js';
import type { BrokerConfig } from '../config.js';

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
