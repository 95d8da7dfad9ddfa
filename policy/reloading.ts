/**
 * A Policy whose bundle an operator replaces while the broker runs. The
 * bundle is re-read every `pollMs` (and on reload(), e.g. POST
 * /v1/policy/reload): when its digest changed, the new bundle is checked
 * whole (signature, manifest, data, wasm, entrypoints) and swapped in with
 * one assignment, so a decision is made by one bundle or the other, never a
 * mix. A bundle that fails keeps the running one in place; the failure is
 * reported once per distinct content (an operator halfway through copying
 * files would otherwise fill the log).
 *
 * Readers see `version` change at the swap: audit events and cache keys
 * made afterwards name the new bundle. A decision already taken under the
 * old bundle finishes under it.
 */
import { bundleDigest, readBundle } from './bundle.js';
import {
  DEFAULT_BUNDLE_PATH,
  type Policy,
  type PolicyDescription,
  type PolicyOptions,
  policyFromBundle,
} from './policy.js';

export interface ReloadingPolicyOptions extends PolicyOptions {
  /** Bundle folder or .tar.gz (default policy/bundle). */
  path?: string;
  /** Re-read the bundle this often; 0: only on reload(). */
  pollMs?: number;
  /** A new bundle was swapped in. */
  onReload?(from: PolicyDescription, to: PolicyDescription): void;
  /** A changed bundle could not be loaded; the running one stays. */
  onError?(err: unknown): void;
}

export interface ReloadOutcome {
  changed: boolean;
  previous: string;
  version: string;
}

export interface ReloadingPolicy extends Policy {
  readonly path: string;
  /** Re-reads the bundle now; throws (keeping the running bundle) if the changed bundle is refused. */
  reload(): Promise<ReloadOutcome>;
  /** Stops polling. */
  close(): void;
}

export async function openPolicy(options: ReloadingPolicyOptions = {}): Promise<ReloadingPolicy> {
  const path = options.path ?? DEFAULT_BUNDLE_PATH;
  let current: Policy = await policyFromBundle(await readBundle(path), options);
  let lastFailed: string | undefined;
  let pending: Promise<ReloadOutcome> = Promise.resolve({ changed: false, previous: '', version: '' });

  async function reloadOnce(): Promise<ReloadOutcome> {
    const files = await readBundle(path);
    const previous = current.version;
    if (bundleDigest(files) === current.sha256) return { changed: false, previous, version: previous };
    const next = await policyFromBundle(files, options);
    const from = current.describe();
    current = next;
    lastFailed = undefined;
    options.onReload?.(from, next.describe());
    return { changed: true, previous, version: next.version };
  }

  // One reload at a time: a poll and an operator's request never load twice.
  const reload = (): Promise<ReloadOutcome> => {
    pending = pending.catch(() => undefined).then(reloadOnce);
    return pending;
  };

  let polling = false;
  const timer =
    options.pollMs && options.pollMs > 0
      ? setInterval(() => {
          if (polling) return;
          polling = true;
          readBundle(path)
            .then((files) => {
              const digest = bundleDigest(files);
              if (digest === current.sha256 || digest === lastFailed) return;
              return reload().catch((err) => {
                lastFailed = digest;
                options.onError?.(err);
              });
            })
            .catch((err) => options.onError?.(err))
            .finally(() => {
              polling = false;
            });
        }, options.pollMs)
      : undefined;
  timer?.unref();

  return {
    path,
    get version() {
      return current.version;
    },
    get revision() {
      return current.revision;
    },
    get sha256() {
      return current.sha256;
    },
    decide: (input) => current.decide(input),
    evaluate: (input) => current.evaluate(input),
    describe: () => current.describe(),
    checkDataset: (dataset) => current.checkDataset(dataset),
    assertDatasetAllowed: (dataset) => current.assertDatasetAllowed(dataset),
    get memoStats() {
      return current.memoStats;
    },
    reload,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
