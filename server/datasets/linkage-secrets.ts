/**
 * Data providers' linkage secrets, which broker-side encoding needs: stored sealed (AES-256-GCM under
 * a key derived from MASTER_KEY, bound to the dataset id, support/master-keys.ts) and kept opened in
 * memory once used. This class is the one owner of that memory: the dataset service forgets a secret
 * whenever it changes here or in another broker process, or the dataset is deleted.
 */
import { PavilionError } from '../../common/errors.js';
import { secretFingerprint } from '../../common/secret-fingerprint.js';
import type { MasterKeys } from '../support/master-keys.js';
import type { DatasetStore } from './store.js';

/**
 * A surrogate that is not half of a pair (with the `u` flag a pair is one astral code point, not Cs): JSON
 * can carry one (`"\ud800"`), UTF-8 cannot, and Buffer.from(secret, 'utf8') made it U+FFFD.
 */
const LONE_SURROGATE = /\p{Cs}/u;

export class LinkageSecrets {
  private readonly opened = new Map<string, string>();

  constructor(
    private readonly store: DatasetStore,
    private readonly keys: Pick<MasterKeys, 'seal' | 'open'>,
  ) {}

  /** The dataset's secret; DATASET_SECRET_MISSING (409) when its provider registered none. */
  async get(datasetId: string): Promise<string> {
    const hit = this.opened.get(datasetId);
    if (hit !== undefined) return hit;
    const sealed = await this.store.getSecret(datasetId);
    if (!sealed)
      throw new PavilionError(
        'DATASET_SECRET_MISSING',
        'the data provider has not registered a linkage secret for broker-side encoding',
      );
    const secret = this.keys.open({ dataset: datasetId }, sealed).toString('utf8');
    this.opened.set(datasetId, secret);
    return secret;
  }

  /**
   * Stores a new secret, sealed, with its fingerprint (common/secret-fingerprint.ts), and drops the one
   * held in memory. Returns the fingerprint. SECRET_INVALID for a secret that is not text UTF-8 can hold.
   */
  async set(datasetId: string, secret: string, setBy: string): Promise<string> {
    // Refused, not stored as U+FFFD: that is a secret the provider never had, so broker-side encoding would
    // answer every verification no_match, and `\ud800` and `\udc00` would be one secret.
    if (LONE_SURROGATE.test(secret))
      throw new PavilionError(
        'SECRET_INVALID',
        'the secret holds a lone surrogate (a \\uD800-\\uDFFF escape not part of a pair): it has no UTF-8 form',
      );
    const plaintext = Buffer.from(secret, 'utf8');
    const fingerprint = secretFingerprint(secret);
    try {
      await this.store.setSecret(datasetId, this.keys.seal({ dataset: datasetId }, plaintext), setBy, fingerprint);
      return fingerprint;
    } finally {
      plaintext.fill(0);
      this.forget(datasetId);
    }
  }

  /** Computes and records the fingerprint of a secret registered before fingerprints were kept. */
  async backfillFingerprint(datasetId: string): Promise<string> {
    const fingerprint = secretFingerprint(await this.get(datasetId));
    await this.store.setSecretFingerprint(datasetId, fingerprint);
    return fingerprint;
  }

  forget(datasetId: string): void {
    this.opened.delete(datasetId);
  }
}
