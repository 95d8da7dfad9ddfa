/**
 * Tokenisation and token bytes, as clkhash 0.18.3 comparators.py and
 * bloomfilter.py do it:
 *  - ngram: empty -> no tokens; n > 1 pads both ends with n-1 spaces;
 *    slices by code point; positional tokens are `${i+1} ${gram}`;
 *  - exact: the whole value, if non-empty;
 *  - numeric: Vatsalan-Christen neighbourhood tokens with Python's int/float
 *    parsing, banker's rounding and floor modulo (BigInt, no precision loss);
 *  - bytes: str.encode(encoding); Python's 'utf-16'/'utf-32' codecs prepend
 *    a byte-order mark to every token (little-endian on the hosts clkhash
 *    runs on).
 */
import { PavilionError } from '../../common/errors.js';
import { floorMod, parsePyFloat, parsePyInt, roundHalfEven } from './python.js';
import type { Comparison, HashedFeature, TokenEncoding } from './schema.js';

/**
 * Puts the tokens of `value` in `out` (cleared first); returns the count.
 * With `positionalPrefix` false, positional n-grams come without their
 * "i " prefix (the encoder caches them per position).
 */
export function tokenize(feature: HashedFeature, value: string, out: string[], positionalPrefix = true): number {
  out.length = 0;
  if (value.length === 0) return 0;
  const c = feature.comparison;
  switch (c.type) {
    case 'ngram':
      ngrams(value, c.n, c.positional && positionalPrefix, out);
      break;
    case 'exact':
      out.push(value);
      break;
    case 'numeric':
      numericTokens(feature, c, value, out);
      break;
  }
  return out.length;
}

const SURROGATE = /[\ud800-\udfff]/;

function ngrams(value: string, n: number, positional: boolean, out: string[]): void {
  if (!SURROGATE.test(value)) {
    // BMP only: UTF-16 units are code points, so plain slices match Python's.
    const padded = n > 1 ? ' '.repeat(n - 1) + value + ' '.repeat(n - 1) : value;
    const count = padded.length - n + 1;
    for (let i = 0; i < count; i++) {
      const gram = padded.slice(i, i + n);
      out.push(positional ? `${i + 1} ${gram}` : gram);
    }
    return;
  }
  // Code points, not UTF-16 units: Python slices str by code point.
  let cps: string[] = Array.from(value);
  if (n > 1) {
    const pad = ' '.repeat(n - 1);
    cps = [...pad, ...cps, ...pad];
  }
  const count = cps.length - n + 1;
  for (let i = 0; i < count; i++) {
    let gram = cps[i]!;
    for (let j = 1; j < n; j++) gram += cps[i + j]!;
    out.push(positional ? `${i + 1} ${gram}` : gram);
  }
}

function numericTokens(
  feature: HashedFeature,
  c: Extract<Comparison, { type: 'numeric' }>,
  word: string,
  out: string[],
): void {
  const scale = 10n ** BigInt(c.fractionalPrecision);
  let v = parsePyInt(word);
  if (v !== null) {
    v *= scale;
  } else {
    const f = parsePyFloat(word);
    if (f === null || !Number.isFinite(f)) {
      throw new PavilionError('RECORD_INVALID', `feature '${feature.identifier}': is not a finite number`);
    }
    // int(round(v * 10**p)) for p > 0, int(v) (truncation) otherwise.
    const scaled = c.fractionalPrecision > 0 ? roundHalfEven(f * 10 ** c.fractionalPrecision) : Math.trunc(f);
    // Python raises OverflowError here (clkhash crashes); refuse the record instead.
    if (!Number.isFinite(scaled))
      throw new PavilionError('RECORD_INVALID', `feature '${feature.identifier}': number is out of range`);
    v = BigInt(scaled);
  }
  v = v * 2n * BigInt(c.resolution);
  const d = c.distanceInterval;
  const residue = floorMod(v, d);
  // residue < d / 2 (true division in Python), compared exactly.
  if (residue !== 0n) v = 2n * residue < d ? v - residue : v + (d - residue);
  for (let i = -c.resolution; i <= c.resolution; i++) out.push((v + BigInt(i) * d).toString());
}

/** Worst-case encoded size of a token of `length` UTF-16 units. */
export function maxEncodedBytes(length: number, encoding: TokenEncoding): number {
  switch (encoding) {
    case 'ascii':
      return length;
    case 'utf-8':
      return length * 3;
    case 'utf-16':
      return 2 + length * 2;
    case 'utf-32':
      return 4 + length * 4;
  }
}

/**
 * Writes token bytes into `dest` at `offset`; returns the number written.
 * The caller guarantees room for maxEncodedBytes(token.length).
 */
export function encodeTokenInto(token: string, encoding: TokenEncoding, dest: Uint8Array, offset: number): number {
  switch (encoding) {
    case 'utf-8': {
      // Hand-rolled: TextEncoder.encodeInto needs a subarray per token, which
      // cost more than encoding these few characters.
      let p = offset;
      for (let i = 0; i < token.length; i++) {
        let c = token.charCodeAt(i);
        if (c < 0x80) {
          dest[p++] = c;
          continue;
        }
        if (c < 0x800) {
          dest[p++] = 0xc0 | (c >>> 6);
          dest[p++] = 0x80 | (c & 0x3f);
          continue;
        }
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < token.length) {
          const d = token.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            dest[p++] = 0xf0 | (c >>> 18);
            dest[p++] = 0x80 | ((c >>> 12) & 0x3f);
            dest[p++] = 0x80 | ((c >>> 6) & 0x3f);
            dest[p++] = 0x80 | (c & 0x3f);
            continue;
          }
        }
        // Lone surrogates never get here: prepareValue rejects them.
        dest[p++] = 0xe0 | (c >>> 12);
        dest[p++] = 0x80 | ((c >>> 6) & 0x3f);
        dest[p++] = 0x80 | (c & 0x3f);
      }
      return p - offset;
    }
    case 'ascii':
      for (let i = 0; i < token.length; i++) dest[offset + i] = token.charCodeAt(i);
      return token.length;
    case 'utf-16': {
      dest[offset] = 0xff;
      dest[offset + 1] = 0xfe;
      let p = offset + 2;
      for (let i = 0; i < token.length; i++) {
        const u = token.charCodeAt(i);
        dest[p++] = u & 0xff;
        dest[p++] = u >>> 8;
      }
      return p - offset;
    }
    case 'utf-32': {
      dest[offset] = 0xff;
      dest[offset + 1] = 0xfe;
      dest[offset + 2] = 0;
      dest[offset + 3] = 0;
      let p = offset + 4;
      for (const ch of token) {
        const cp = ch.codePointAt(0)!;
        dest[p++] = cp & 0xff;
        dest[p++] = (cp >>> 8) & 0xff;
        dest[p++] = cp >>> 16;
        dest[p++] = 0;
      }
      return p - offset;
    }
  }
}

/** Token bytes as a fresh array (slow paths and reference backends). */
export function encodeToken(token: string, encoding: TokenEncoding): Uint8Array {
  const buf = new Uint8Array(maxEncodedBytes(token.length, encoding));
  return buf.slice(0, encodeTokenInto(token, encoding, buf, 0));
}
