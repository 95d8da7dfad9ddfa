/**
 * Policy bundles for tests: a copy of the committed policy/bundle/ with its
 * data, manifest or members changed, as an operator would change them.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRoot } from '../../common/paths.js';
import { PURPOSE_TABLE, type PurposeTable } from './reference-policy.js';

export const COMMITTED_BUNDLE = fromRoot('policy', 'bundle');

export function committedManifest(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(COMMITTED_BUNDLE, '.manifest'), 'utf8'));
}

/** The committed purposes with `fraud_check` added, `license_check` removed and `age_verification` changed. */
export function otherPurposes(): PurposeTable {
  const { license_check: _gone, ...rest } = structuredClone(PURPOSE_TABLE);
  return {
    ...rest,
    age_verification: { claims: ['over_21'], consent_required: true, min_score: 0.8, cache_ttl_seconds: 10 },
    fraud_check: {
      claims: ['identity_verified', 'name_match', 'license_valid'],
      consent_required: false,
      min_score: 0.95,
      cache_ttl_seconds: 0,
      description: 'added as data',
    },
  };
}

/**
 * Writes a bundle folder (a fresh temp folder unless `into` is given) from the
 * committed one; `purposes` replaces data.pavilion.purposes, `data` the whole
 * data.json text, `manifest` is merged into .manifest.
 */
export function writeBundle(
  opts: { into?: string; purposes?: PurposeTable; data?: string; manifest?: Record<string, unknown> } = {},
): string {
  const dir = opts.into ?? mkdtempSync(join(tmpdir(), 'pavilion-bundle-'));
  cpSync(COMMITTED_BUNDLE, dir, { recursive: true });
  if (opts.data !== undefined) writeFileSync(join(dir, 'data.json'), opts.data);
  else if (opts.purposes)
    writeFileSync(join(dir, 'data.json'), JSON.stringify({ pavilion: { purposes: opts.purposes } }));
  if (opts.manifest)
    writeFileSync(join(dir, '.manifest'), JSON.stringify({ ...committedManifest(), ...opts.manifest }, null, 2));
  return dir;
}
