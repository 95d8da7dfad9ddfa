/** clkhash-compatible CLK encoding (linkage schema v3). */
export { ClkEncoder, clkToBase64, type ClkEncoderOptions } from './encoder.js';
export { parseSchema, isParsedSchema, MAX_HASH_BITS } from './schema.js';
export type {
  LinkageSchema, Feature, HashedFeature, IgnoredFeature, FeatureFormat, Comparison, Strategy, HashSpec, KdfSpec, TokenEncoding,
} from './schema.js';
export type { HashBackendName } from './hashing.js';
