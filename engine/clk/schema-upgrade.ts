/**
 * Linkage schemas of versions 1 and 2, upgraded to version 3 exactly as
 * clkhash 0.18.3 does (clkhash/schema.py `_convert_v1_to_v2`,
 * `_convert_v2_to_v3`), so an old schema gives the CLKs clkhash gives for it:
 *
 *   v1 → v2: each feature's `weight` (default 1) times `clkConfig.k` becomes
 *            `strategy.k`, rounded as Python's round() does (half to even:
 *            2.5 → 2, 7.5 → 8); weight 0 makes the feature ignored; the one
 *            `clkConfig.hash` moves into every feature; `xor_folds` is kept
 *            under that spelling (clkhash's, not the documented `xorFolds`).
 *   v2 → v3: `strategy.k` → `bitsPerToken`, `strategy.numBits` →
 *            `bitsPerFeature`; `ngram`/`positional` → `comparison`
 *            `{type: "ngram", n, positional}`.
 *
 * Only the fields the upgrade reads are checked here, under their original
 * paths; everything else is then checked by the v3 rules (schema.ts), which
 * the converted fields must also meet (a weight that rounds to 0 bits is
 * refused there, as clkhash refuses it).
 */
import { PavilionError } from '../../common/errors.js';
import { roundHalfEven } from './python.js';

type JsonObject = Record<string, unknown>;

function invalid(path: string, rule: string): PavilionError {
  return new PavilionError('SCHEMA_INVALID', `linkage schema ${path}: ${rule}`);
}

function object(v: unknown, path: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(path, 'must be an object');
  return v as JsonObject;
}

function features(root: JsonObject): unknown[] {
  if (!Array.isArray(root.features)) throw invalid('$.features', 'must be an array');
  return root.features;
}

function ngram(hashing: JsonObject, path: string): number {
  const n = hashing.ngram;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw invalid(`${path}.ngram`, 'is required, an integer ≥ 0');
  return n;
}

function v1ToV2(root: JsonObject): JsonObject {
  const clk = object(root.clkConfig, '$.clkConfig');
  const k = clk.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1)
    throw invalid('$.clkConfig.k', 'is required in version 1, an integer ≥ 1');
  const hash = object(clk.hash, '$.clkConfig.hash');
  return {
    version: 2,
    clkConfig: { l: clk.l, xor_folds: clk.xor_folds ?? 0, kdf: clk.kdf },
    features: features(root).map((f, i) => {
      const path = `$.features[${i}]`;
      const feature = object(f, path);
      if (feature.ignored === true) return feature;
      const hashing = object(feature.hashing, `${path}.hashing`);
      const weight = hashing.weight ?? 1;
      if (typeof weight !== 'number' || !(weight >= 0)) throw invalid(`${path}.hashing.weight`, 'must be a number ≥ 0');
      if (weight === 0) return { identifier: feature.identifier, ignored: true };
      const { weight: _dropped, ...rest } = hashing;
      return { ...feature, hashing: { ...rest, strategy: { k: roundHalfEven(weight * k) }, hash } };
    }),
  };
}

function v2ToV3(root: JsonObject): JsonObject {
  return {
    ...root,
    version: 3,
    features: features(root).map((f, i) => {
      const path = `$.features[${i}]`;
      const feature = object(f, path);
      if (feature.ignored === true) return feature;
      const hashing = object(feature.hashing, `${path}.hashing`);
      const strategy = object(hashing.strategy, `${path}.hashing.strategy`);
      const { k, numBits, ...otherStrategy } = strategy;
      const upgraded =
        k !== undefined
          ? { ...otherStrategy, bitsPerToken: k }
          : numBits !== undefined
            ? { ...otherStrategy, bitsPerFeature: numBits }
            : strategy;
      const { ngram: _n, positional, ...rest } = hashing;
      const comparison = { type: 'ngram', n: ngram(hashing, `${path}.hashing`), positional: positional ?? false };
      return { ...feature, hashing: { ...rest, strategy: upgraded, comparison } };
    }),
  };
}

/** A version 1 or 2 schema as the version 3 schema clkhash would use; other input is returned as it is. */
export function upgradeSchema(root: JsonObject): JsonObject {
  if (root.version === 1) return v2ToV3(v1ToV2(root));
  if (root.version === 2) return v2ToV3(root);
  return root;
}
