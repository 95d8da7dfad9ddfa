/**
 * What the client library throws: a stable `code` and an HTTP-like `status`, as the broker's errors
 * have. The code is either the broker's (from its problem document, docs/errors.md; a newer broker may
 * send one this client does not know, so it is kept as a string) or the client's own, which are listed
 * in the same catalogue (common/error-codes.ts, area `client`). Receipt checks throw the audit
 * module's PavilionError, with the same two fields.
 */
import { ERROR_CODES, type ErrorCode } from '../common/error-codes.js';

export class PavilionClientError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: ErrorCode | string, message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PavilionClientError';
    this.code = code;
    this.status = status ?? (ERROR_CODES as Record<string, { status: number }>)[code]?.status ?? 500;
  }
}
