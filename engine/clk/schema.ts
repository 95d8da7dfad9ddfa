/**
 * Parses and validates a clkhash linkage schema v3 (JSON already decoded;
 * versions 1 and 2 are first upgraded as clkhash does, schema-upgrade.ts)
 * into a typed, compiled form.
 *
 * Validation mirrors what clkhash 0.18.3 enforces: the master schema
 * (clkhash/schemas/v3.json, checked with jsonschema) plus the checks its
 * Python classes add (regex compiles, numeric comparison has a non-zero
 * distance interval, prevent_singularity only with doubleHash). Where
 * clkhash would accept a schema and then fail or hang on every record
 * (blakeHash with a non power-of-two length, prevent_singularity with a
 * one-bit filter, a BLAKE2b key longer than 64 bytes, a bad strptime
 * directive) the schema is refused up front.
 *
 * Errors are PavilionError SCHEMA_INVALID (or SCHEMA_UNSUPPORTED for valid
 * schemas this engine does not reproduce) naming the JSON path.
 */
import { PavilionError } from '../../common/errors.js';
import { compilePythonPattern, PatternError } from './pattern.js';
import { roundHalfEven } from './python.js';
import { upgradeSchema } from './schema-upgrade.js';
import { type CompiledDateFormat, compileDateFormat, StrptimeFormatError } from './strptime.js';

export type TokenEncoding = 'ascii' | 'utf-8' | 'utf-16' | 'utf-32';

export interface StringFormat {
  readonly type: 'string';
  readonly pattern?: { readonly source: string; readonly regex: RegExp };
  readonly case: 'upper' | 'lower' | 'mixed';
  readonly minLength?: number;
  readonly maxLength?: number;
}
export interface IntegerFormat {
  readonly type: 'integer';
  readonly minimum?: bigint;
  readonly maximum?: bigint;
}
export interface DateFormat {
  readonly type: 'date';
  readonly format: string;
  readonly parser: CompiledDateFormat;
}
export interface EnumFormat {
  readonly type: 'enum';
  readonly values: ReadonlySet<string>;
}
export type FeatureFormat = StringFormat | IntegerFormat | DateFormat | EnumFormat;

export type Comparison =
  | { readonly type: 'ngram'; readonly n: number; readonly positional: boolean }
  | { readonly type: 'exact' }
  | {
      readonly type: 'numeric';
      readonly distanceInterval: bigint;
      readonly resolution: number;
      readonly fractionalPrecision: number;
    };

export type Strategy = { readonly bitsPerToken: number } | { readonly bitsPerFeature: number };

export type HashSpec =
  | { readonly type: 'doubleHash'; readonly preventSingularity: boolean }
  | { readonly type: 'blakeHash' };

export interface HashedFeature {
  readonly kind: 'hashed';
  readonly identifier: string;
  /** Column position in a record (schema order, ignored features included). */
  readonly index: number;
  readonly format: FeatureFormat;
  readonly encoding: TokenEncoding;
  readonly comparison: Comparison;
  readonly strategy: Strategy;
  readonly hash: HashSpec;
  readonly missingValue?: { readonly sentinel: string; readonly replaceWith: string };
}

export interface IgnoredFeature {
  readonly kind: 'ignored';
  readonly identifier: string;
  readonly index: number;
}

export type Feature = HashedFeature | IgnoredFeature;

export interface KdfSpec {
  readonly type: 'HKDF';
  readonly hash: 'SHA256' | 'SHA512';
  readonly salt?: Uint8Array;
  readonly info?: Uint8Array;
  readonly keySize: number;
}

export interface LinkageSchema {
  readonly version: 3;
  /** CLK length in bits after folding (clkConfig.l). */
  readonly l: number;
  /**
   * Folds applied, read from `clkConfig.xor_folds` exactly as clkhash 0.18.3
   * does; the documented `xorFolds` key is validated but has no effect there.
   */
  readonly xorFolds: number;
  readonly kdf: KdfSpec;
  readonly features: readonly Feature[];
}

/** Largest working filter (l * 2^folds) accepted: 2^26 bits = 8 MiB. */
export const MAX_HASH_BITS = 2 ** 26;

type Json = unknown;

function invalid(path: string, rule: string): PavilionError {
  return new PavilionError('SCHEMA_INVALID', `linkage schema ${path}: ${rule}`);
}

function unsupported(path: string, rule: string): PavilionError {
  return new PavilionError('SCHEMA_UNSUPPORTED', `linkage schema ${path}: ${rule}`);
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: Json, path: string): Record<string, Json> {
  if (!isObject(v)) throw invalid(path, 'must be an object');
  return v;
}

function onlyKeys(o: Record<string, Json>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw invalid(`${path}.${k}`, 'is not allowed here');
  }
}

function str(v: Json, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'must be a string');
  return v;
}

function optStr(o: Record<string, Json>, key: string, path: string): string | undefined {
  return key in o ? str(o[key], `${path}.${key}`) : undefined;
}

function int(v: Json, path: string, minimum?: number): number {
  // jsonschema (draft 7) counts 2.0 as an integer; JSON.parse gives 2 either way.
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(path, 'must be an integer');
  if (!Number.isSafeInteger(v)) throw unsupported(path, 'integer is too large');
  if (minimum !== undefined && v < minimum) throw invalid(path, `must be at least ${minimum}`);
  return v;
}

function bool(v: Json, path: string): boolean {
  if (typeof v !== 'boolean') throw invalid(path, 'must be a boolean');
  return v;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(v: Json, path: string): Uint8Array {
  const s = str(v, path).replace(/\s+/g, '');
  if (!BASE64.test(s) || s.length % 4 !== 0) throw invalid(path, 'must be standard base64');
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function parseKdf(v: Json, path: string): KdfSpec {
  const o = obj(v, path);
  if (o.type !== 'HKDF') throw invalid(`${path}.type`, "must be 'HKDF'");
  let hash: 'SHA256' | 'SHA512' = 'SHA256';
  if ('hash' in o) {
    if (o.hash !== 'SHA256' && o.hash !== 'SHA512') throw invalid(`${path}.hash`, "must be 'SHA256' or 'SHA512'");
    hash = o.hash;
  }
  const keySize = 'keySize' in o ? int(o.keySize, `${path}.keySize`, 1) : 64;
  return {
    type: 'HKDF',
    hash,
    ...('salt' in o ? { salt: base64(o.salt, `${path}.salt`) } : {}),
    ...('info' in o ? { info: base64(o.info, `${path}.info`) } : {}),
    keySize,
  };
}

function parseFormat(v: Json, path: string): { format: FeatureFormat; encoding: TokenEncoding } {
  const o = obj(v, path);
  if (!('type' in o)) throw invalid(`${path}.type`, 'is required');
  optStr(o, 'description', path); // validated, not used
  switch (o.type) {
    case 'string': {
      let encoding: TokenEncoding = 'utf-8';
      if ('encoding' in o) {
        if (o.encoding !== 'ascii' && o.encoding !== 'utf-8' && o.encoding !== 'utf-16' && o.encoding !== 'utf-32') {
          throw invalid(`${path}.encoding`, "must be one of 'ascii', 'utf-8', 'utf-16', 'utf-32'");
        }
        encoding = o.encoding;
      }
      if ('pattern' in o) {
        // textPatternFormat: no case/length properties next to a pattern.
        onlyKeys(o, ['type', 'encoding', 'pattern', 'description'], path);
        const source = str(o.pattern, `${path}.pattern`);
        try {
          return {
            format: { type: 'string', pattern: { source, regex: compilePythonPattern(source) }, case: 'mixed' },
            encoding,
          };
        } catch (e) {
          if (e instanceof PatternError)
            throw e.unsupported ? unsupported(`${path}.pattern`, e.message) : invalid(`${path}.pattern`, e.message);
          throw e;
        }
      }
      onlyKeys(o, ['type', 'encoding', 'case', 'minLength', 'maxLength', 'description'], path);
      let kase: 'upper' | 'lower' | 'mixed' = 'mixed';
      if ('case' in o) {
        if (o.case !== 'upper' && o.case !== 'lower' && o.case !== 'mixed')
          throw invalid(`${path}.case`, "must be 'upper', 'lower' or 'mixed'");
        kase = o.case;
      }
      return {
        format: {
          type: 'string',
          case: kase,
          ...('minLength' in o ? { minLength: int(o.minLength, `${path}.minLength`, 0) } : {}),
          ...('maxLength' in o ? { maxLength: int(o.maxLength, `${path}.maxLength`, 1) } : {}),
        },
        encoding,
      };
    }
    case 'integer': {
      onlyKeys(o, ['type', 'minimum', 'maximum', 'description'], path);
      return {
        format: {
          type: 'integer',
          ...('minimum' in o ? { minimum: BigInt(int(o.minimum, `${path}.minimum`)) } : {}),
          ...('maximum' in o ? { maximum: BigInt(int(o.maximum, `${path}.maximum`)) } : {}),
        },
        encoding: 'utf-8',
      };
    }
    case 'date': {
      onlyKeys(o, ['type', 'format', 'description'], path);
      const format = str(o.format, `${path}.format`);
      try {
        return { format: { type: 'date', format, parser: compileDateFormat(format) }, encoding: 'utf-8' };
      } catch (e) {
        if (e instanceof StrptimeFormatError)
          throw e.unsupported ? unsupported(`${path}.format`, e.message) : invalid(`${path}.format`, e.message);
        throw e;
      }
    }
    case 'enum': {
      onlyKeys(o, ['type', 'values', 'description'], path);
      if (!Array.isArray(o.values)) throw invalid(`${path}.values`, 'must be an array of strings');
      const values = new Set<string>(Array.from(o.values as unknown[], (x, i) => str(x, `${path}.values[${i}]`)));
      return { format: { type: 'enum', values }, encoding: 'utf-8' };
    }
    default:
      throw invalid(`${path}.type`, "must be one of 'string', 'integer', 'date', 'enum'");
  }
}

function parseComparison(v: Json, path: string): Comparison {
  const o = obj(v, path);
  switch (o.type) {
    case 'ngram': {
      if (!('n' in o)) throw invalid(`${path}.n`, 'is required');
      const n = int(o.n, `${path}.n`, 1);
      if (n > 1024) throw unsupported(`${path}.n`, 'n-grams longer than 1024 are not supported');
      return { type: 'ngram', n, positional: 'positional' in o ? bool(o.positional, `${path}.positional`) : false };
    }
    case 'exact':
      return { type: 'exact' };
    case 'numeric': {
      if (!('thresholdDistance' in o)) throw invalid(`${path}.thresholdDistance`, 'is required');
      if (!('resolution' in o)) throw invalid(`${path}.resolution`, 'is required');
      const threshold = o.thresholdDistance;
      if (typeof threshold !== 'number' || !Number.isFinite(threshold) || !(threshold > 0))
        throw invalid(`${path}.thresholdDistance`, 'must be a number greater than 0');
      const resolution = int(o.resolution, `${path}.resolution`, 1);
      const fractionalPrecision =
        'fractional_precision' in o ? int(o.fractional_precision, `${path}.fractional_precision`, 0) : 0;
      if (fractionalPrecision > 300) throw unsupported(`${path}.fractional_precision`, 'is too large');
      // clkhash: int(round(threshold_distance * 10**fractional_precision)), must not be 0.
      const scaled = roundHalfEven(threshold * 10 ** fractionalPrecision);
      if (!Number.isFinite(scaled)) throw unsupported(`${path}.thresholdDistance`, 'is too large');
      const distanceInterval = BigInt(scaled);
      if (distanceInterval === 0n)
        throw invalid(`${path}.thresholdDistance`, 'not enough fractional precision to encode thresholdDistance');
      return { type: 'numeric', distanceInterval, resolution, fractionalPrecision };
    }
    default:
      throw invalid(`${path}.type`, "must be one of 'ngram', 'exact', 'numeric'");
  }
}

function parseStrategy(v: Json, path: string): Strategy {
  const o = obj(v, path);
  const keys = Object.keys(o);
  if (keys.length !== 1 || (keys[0] !== 'bitsPerToken' && keys[0] !== 'bitsPerFeature')) {
    throw invalid(path, "must have exactly one of 'bitsPerToken' or 'bitsPerFeature'");
  }
  const key = keys[0];
  const value = int(o[key], `${path}.${key}`, 1);
  if (value > 1_000_000)
    throw unsupported(`${path}.${key}`, 'more than 1,000,000 bits per token or feature is not supported');
  return key === 'bitsPerToken' ? { bitsPerToken: value } : { bitsPerFeature: value };
}

function parseHash(v: Json, path: string): HashSpec {
  const o = obj(v, path);
  if (o.type === 'doubleHash') {
    return {
      type: 'doubleHash',
      preventSingularity:
        'prevent_singularity' in o ? bool(o.prevent_singularity, `${path}.prevent_singularity`) : false,
    };
  }
  if (o.type === 'blakeHash') {
    // clkhash's FieldHashingProperties raises when prevent_singularity is set without doubleHash.
    if ('prevent_singularity' in o) throw invalid(`${path}.prevent_singularity`, 'is only allowed with doubleHash');
    return { type: 'blakeHash' };
  }
  throw invalid(`${path}.type`, "must be 'doubleHash' or 'blakeHash'");
}

function parseFeature(v: Json, index: number, path: string): Feature {
  const o = obj(v, path);
  if (!('identifier' in o)) throw invalid(`${path}.identifier`, 'is required');
  const identifier = str(o.identifier, `${path}.identifier`);
  if ('description' in o) str(o.description, `${path}.description`);
  const hasFormat = 'format' in o;
  const hasHashing = 'hashing' in o;
  if (o.ignored === true && !hasFormat && !hasHashing) {
    onlyKeys(o, ['identifier', 'ignored', 'description'], path);
    return { kind: 'ignored', identifier, index };
  }
  if ('ignored' in o) bool(o.ignored, `${path}.ignored`);
  if (!hasFormat) throw invalid(`${path}.format`, 'is required');
  if (!hasHashing) throw invalid(`${path}.hashing`, 'is required');
  // A full feature definition passes the master schema too; clkhash then
  // honours `ignored: true` and skips it (it still consumes its keys).
  const { format, encoding } = parseFormat(o.format, `${path}.format`);
  const h = obj(o.hashing, `${path}.hashing`);
  onlyKeys(h, ['hash', 'strategy', 'comparison', 'missingValue'], `${path}.hashing`);
  if (!('comparison' in h)) throw invalid(`${path}.hashing.comparison`, 'is required');
  if (!('strategy' in h)) throw invalid(`${path}.hashing.strategy`, 'is required');
  const comparison = parseComparison(h.comparison, `${path}.hashing.comparison`);
  const strategy = parseStrategy(h.strategy, `${path}.hashing.strategy`);
  const hash = 'hash' in h ? parseHash(h.hash, `${path}.hashing.hash`) : ({ type: 'blakeHash' } as const);
  let missingValue: HashedFeature['missingValue'];
  if ('missingValue' in h) {
    const m = obj(h.missingValue, `${path}.hashing.missingValue`);
    if (!('sentinel' in m)) throw invalid(`${path}.hashing.missingValue.sentinel`, 'is required');
    const sentinel = str(m.sentinel, `${path}.hashing.missingValue.sentinel`);
    const replaceWith = 'replaceWith' in m ? str(m.replaceWith, `${path}.hashing.missingValue.replaceWith`) : sentinel;
    missingValue = { sentinel, replaceWith };
  }
  if (o.ignored === true) return { kind: 'ignored', identifier, index };
  return {
    kind: 'hashed',
    identifier,
    index,
    format,
    encoding,
    comparison,
    strategy,
    hash,
    ...(missingValue ? { missingValue } : {}),
  };
}

const parsedSchemas = new WeakSet<object>();

/** True for a LinkageSchema returned by parseSchema (so it need not be parsed again). */
export function isParsedSchema(value: unknown): value is LinkageSchema {
  return typeof value === 'object' && value !== null && parsedSchemas.has(value);
}

/**
 * Parses and validates a linkage schema (v3, or v1/v2 upgraded as clkhash does); throws SCHEMA_INVALID or
 * SCHEMA_UNSUPPORTED naming the JSON path.
 */
export function parseSchema(json: unknown): LinkageSchema {
  if (isParsedSchema(json)) return json;
  const given = obj(json, '$');
  if (!('version' in given)) throw invalid('$.version', 'is required');
  if (typeof given.version !== 'number') throw invalid('$.version', 'must be a number');
  if (given.version !== 1 && given.version !== 2 && given.version !== 3)
    throw invalid('$.version', 'must be 1, 2 or 3');
  // Versions 1 and 2 become the version 3 schema clkhash would use (schema-upgrade.ts).
  const root = upgradeSchema(given);
  if (!('clkConfig' in root)) throw invalid('$.clkConfig', 'is required');
  if (!('features' in root)) throw invalid('$.features', 'is required');
  const clk = obj(root.clkConfig, '$.clkConfig');
  if (!('l' in clk)) throw invalid('$.clkConfig.l', 'is required');
  if (!('kdf' in clk)) throw invalid('$.clkConfig.kdf', 'is required');
  const l = int(clk.l, '$.clkConfig.l', 1);
  const kdf = parseKdf(clk.kdf, '$.clkConfig.kdf');
  if ('xorFolds' in clk) int(clk.xorFolds, '$.clkConfig.xorFolds', 0);
  // clkhash 0.18.3 schema.from_json_dict reads `xor_folds` (not in the master schema, so unchecked there).
  const xorFolds = 'xor_folds' in clk ? int(clk.xor_folds, '$.clkConfig.xor_folds', 0) : 0;
  if (xorFolds > 26 || l * 2 ** xorFolds > MAX_HASH_BITS)
    throw unsupported('$.clkConfig', `l * 2^xor_folds must not exceed ${MAX_HASH_BITS} bits`);
  const hashBits = l * 2 ** xorFolds;

  if (!Array.isArray(root.features)) throw invalid('$.features', 'must be an array');
  // Array.from visits holes of a sparse array too (map would skip them).
  const features = Array.from(root.features as unknown[], (f, i) => parseFeature(f, i, `$.features[${i}]`));

  const keyBytes = features.length * 2 * kdf.keySize;
  const hashLen = kdf.hash === 'SHA256' ? 32 : 64;
  if (keyBytes > 255 * hashLen)
    throw invalid(
      '$.clkConfig.kdf',
      `HKDF-${kdf.hash} cannot derive ${keyBytes} bytes of keys (features * 2 * keySize must be at most ` +
        `${255 * hashLen})`,
    );
  features.forEach((f, i) => {
    if (f.kind !== 'hashed') return;
    const path = `$.features[${i}].hashing.hash`;
    if (f.hash.type === 'blakeHash') {
      if ((hashBits & (hashBits - 1)) !== 0)
        throw invalid(path, 'blakeHash needs l * 2^xor_folds to be a power of two');
      if (kdf.keySize > 64) throw invalid('$.clkConfig.kdf.keySize', 'blakeHash keys are at most 64 bytes');
    } else if (f.hash.preventSingularity && hashBits === 1) {
      // Every value is 0 mod 1: clkhash would retry forever.
      throw invalid(path, 'prevent_singularity needs l * 2^xor_folds > 1');
    }
  });
  const schema: LinkageSchema = { version: 3, l, xorFolds, kdf, features };
  parsedSchemas.add(schema);
  return schema;
}
