/**
 * Checks on everything a caller hands the engine, each failing with a stable
 * PavilionError code. Messages name the field and position, never the data
 * (CLKs are derived from personal data).
 */
import { PavilionError } from '../common/errors.js';

/** Upper bound on filter length: keeps 2·c·65536 and t16·(|a|+|b|) exact in the kernels' u64 and f64 arithmetic. */
export const MAX_FILTER_BITS = 1 << 20;
/** Upper bound on top-k: a task's heaps (12 bytes per entry) must fit its scratch slot. */
export const MAX_TOP_K = 10_000;
/** Default top-k for `match` when the caller gives none. */
export const DEFAULT_MATCH_TOP_K = 10;

export function validateFilterBits(filterBits: unknown): number {
  if (
    typeof filterBits !== 'number' ||
    !Number.isInteger(filterBits) ||
    filterBits <= 0 ||
    filterBits % 64 !== 0 ||
    filterBits > MAX_FILTER_BITS
  ) {
    throw new PavilionError(
      'FILTER_BITS_INVALID',
      `filterBits must be a positive multiple of 64 up to ${MAX_FILTER_BITS}`,
    );
  }
  return filterBits;
}

export function validateThreshold(threshold: unknown): number {
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
    throw new PavilionError('THRESHOLD_INVALID', 'threshold must be a number from 0 to 1');
  }
  return threshold;
}

export function validateTopK(topK: unknown, fallback: number | undefined): number | undefined {
  if (topK === undefined) return fallback;
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K) {
    throw new PavilionError('TOPK_INVALID', `topK must be an integer from 1 to ${MAX_TOP_K}`);
  }
  return topK;
}

/** One CLK of exactly filterBits/8 bytes. */
export function validateClk(clk: unknown, filterBits: number, what = 'clk'): Uint8Array {
  if (!(clk instanceof Uint8Array)) throw new PavilionError('CLK_LENGTH_MISMATCH', `${what} must be bytes`);
  if (clk.length !== filterBits / 8) {
    throw new PavilionError(
      'CLK_LENGTH_MISMATCH',
      `${what} has ${clk.length * 8} bits; the dataset uses ${filterBits}`,
    );
  }
  return clk;
}

/** Concatenated CLKs: a whole number of filters, at least one. */
export function validateConcatenatedClks(clks: unknown, filterBits: number, what = 'queries'): number {
  const bytes = filterBits / 8;
  if (!(clks instanceof Uint8Array) || clks.length === 0 || clks.length % bytes !== 0) {
    throw new PavilionError(
      'CLK_LENGTH_MISMATCH',
      `${what} must be a non-empty concatenation of ${filterBits}-bit CLKs`,
    );
  }
  return clks.length / bytes;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Whether `text` is canonical standard base64 (RFC 4648 §4, padded): its alphabet, the shape of its
 * padding, and zero in the bits the last character before `=` holds beyond the last byte (§3.5). Node's
 * decoder ignores those bits, so without the last check `…oqd=` and `…oqc=` would both be one CLK. Only that
 * character is looked at: no re-encoding of the whole text.
 */
export function isCanonicalBase64(text: string): boolean {
  if (!BASE64.test(text)) return false;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (padding === 0) return true;
  // Before `==` a character holds 2 bits of the last byte and 4 unused; before `=`, 4 bits and 2 unused.
  const unusedBits = padding === 2 ? 0b1111 : 0b11;
  return (BASE64_ALPHABET.indexOf(text[text.length - padding - 1]!) & unusedBits) === 0;
}

/**
 * Decodes one CLK from standard base64 (as clkhash and anonlink serialise
 * them, RFC 4648 §4 with padding) and checks its length. Node's decoder
 * silently skips invalid characters, so the text is checked first.
 */
export function decodeClkBase64(b64: string, filterBits: number): Uint8Array {
  validateFilterBits(filterBits);
  if (typeof b64 !== 'string' || !isCanonicalBase64(b64)) {
    throw new PavilionError('CLK_BASE64_INVALID', 'clk is not canonical base64');
  }
  const bytes = Buffer.from(b64, 'base64');
  const clk = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return validateClk(clk, filterBits);
}
