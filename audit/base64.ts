/**
 * Strict standard base64 (RFC 4648 §4, padded), as C2SP signed-note,
 * tlog-checkpoint and tlog-proof require. Node's decoder is lenient (it skips
 * junk and accepts missing padding), which would let two different texts carry
 * the same bytes; parsers here accept only the canonical encoding.
 */
import { type ErrorCode, PavilionError } from '../common/errors.js';

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Decodes canonical padded standard base64 or throws `code`. */
export function decodeBase64Strict(text: string, code: ErrorCode, what: string): Uint8Array {
  if (typeof text !== 'string' || !STANDARD_BASE64.test(text)) {
    throw new PavilionError(code, `${what} is not canonical standard base64`);
  }
  const bytes = Buffer.from(text, 'base64');
  // Non-zero bits in the unused tail of the last group decode to the same
  // bytes as the canonical text; reject them by round-tripping.
  if (bytes.toString('base64') !== text) throw new PavilionError(code, `${what} is not canonical standard base64`);
  return new Uint8Array(bytes);
}
