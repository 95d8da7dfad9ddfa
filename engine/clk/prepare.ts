/**
 * Validates one record value against its feature's format and turns it into
 * the string clkhash tokenises, following clkhash 0.18.3 field_formats:
 *
 *  - the missing-value sentinel skips validation and formatting and becomes
 *    `replaceWith` (or stays the sentinel);
 *  - every other value must be encodable in the feature's encoding;
 *  - string: pattern (re.fullmatch) or case / minLength / maxLength (in code
 *    points); the value is used as given (no normalisation, no case folding);
 *  - integer: Python int(v, 10), range check, re-rendered as str(int(v));
 *  - date: strptime(format), re-rendered as %Y%m%d;
 *  - enum: exact membership.
 *
 * Errors name the feature and the rule, never the value (PII).
 */
import { PavilionError } from '../../common/errors.js';
import { parsePyInt, pyLen } from './python.js';
import type { HashedFeature, TokenEncoding } from './schema.js';

function recordInvalid(feature: HashedFeature, rule: string): PavilionError {
  return new PavilionError('RECORD_INVALID', `feature '${feature.identifier}': ${rule}`);
}

const LONE_SURROGATE = /\p{Cs}/u;
const PLAIN_INT = /^-?[0-9]{1,15}$/;
const NON_ASCII = /[^\x00-\x7f]/;

export function encodable(value: string, encoding: TokenEncoding): boolean {
  // Python's strict codecs reject lone surrogates in every UTF; ASCII rejects > U+007F.
  if (encoding === 'ascii') return !NON_ASCII.test(value);
  return !LONE_SURROGATE.test(value);
}

/** Returns the string to tokenise for `value`, or throws RECORD_INVALID. */
export function prepareValue(feature: HashedFeature, value: string): string {
  const missing = feature.missingValue;
  if (missing !== undefined && value === missing.sentinel) return missing.replaceWith;
  if (!encodable(value, feature.encoding)) throw recordInvalid(feature, `cannot be encoded as ${feature.encoding}`);
  const format = feature.format;
  switch (format.type) {
    case 'string': {
      if (format.pattern) {
        if (!format.pattern.regex.test(value))
          throw recordInvalid(feature, `does not match pattern ${format.pattern.source}`);
        return value;
      }
      if (format.minLength !== undefined || format.maxLength !== undefined) {
        const len = pyLen(value);
        if (format.minLength !== undefined && len < format.minLength)
          throw recordInvalid(feature, `shorter than minLength ${format.minLength}`);
        if (format.maxLength !== undefined && len > format.maxLength)
          throw recordInvalid(feature, `longer than maxLength ${format.maxLength}`);
      }
      if (format.case === 'upper' && value.toUpperCase() !== value) throw recordInvalid(feature, 'is not upper case');
      if (format.case === 'lower' && value.toLowerCase() !== value) throw recordInvalid(feature, 'is not lower case');
      return value;
    }
    case 'integer': {
      if (PLAIN_INT.test(value)) {
        // Fast path for plain ASCII integers (exact below 2^53); Number('-0') renders "0" like Python.
        const v = Number(value);
        if (format.minimum !== undefined && v < Number(format.minimum))
          throw recordInvalid(feature, `is below minimum ${format.minimum}`);
        if (format.maximum !== undefined && v > Number(format.maximum))
          throw recordInvalid(feature, `is above maximum ${format.maximum}`);
        return String(v);
      }
      const n = parsePyInt(value);
      if (n === null) throw recordInvalid(feature, 'is not an integer');
      if (format.minimum !== undefined && n < format.minimum)
        throw recordInvalid(feature, `is below minimum ${format.minimum}`);
      if (format.maximum !== undefined && n > format.maximum)
        throw recordInvalid(feature, `is above maximum ${format.maximum}`);
      return n.toString();
    }
    case 'date': {
      const ymd = format.parser.parseToYmd(value);
      if (ymd === null) throw recordInvalid(feature, `does not match format ${format.format}`);
      return ymd;
    }
    case 'enum':
      if (!format.values.has(value)) throw recordInvalid(feature, 'is not one of the enum values');
      return value;
  }
}
