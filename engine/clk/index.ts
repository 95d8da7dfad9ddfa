/** clkhash-compatible CLK encoding (linkage schema v3). */
export { ClkEncoder, type ClkEncoderOptions, clkToBase64 } from './encoder.js';
export type { HashBackendName } from './hashing.js';
export type {
  Comparison,
  Feature,
  FeatureFormat,
  HashedFeature,
  HashSpec,
  IgnoredFeature,
  KdfSpec,
  LinkageSchema,
  Strategy,
  TokenEncoding,
} from './schema.js';
export { isParsedSchema, MAX_HASH_BITS, parseSchema } from './schema.js';
