/**
 * Typed errors with stable codes, shared by every layer. The codes and their statuses live in one
 * catalogue, common/error-codes.ts.
 *
 * The `code` is the contract: the server turns any PavilionError into an
 * RFC 9457 problem document `{type, title, status, detail, code}` and clients
 * branch on `code`, never on the message. Messages must never contain secrets
 * or raw personal data (record values): say which field or which position is
 * wrong, not what it held.
 */
import { ERROR_CODES, type ErrorCode, isErrorCode } from './error-codes.js';

export type { ErrorCode };

export class PavilionError extends Error {
  /** Stable, upper-snake-case code from the catalogue (common/error-codes.ts), e.g. `CLK_LENGTH_MISMATCH`. */
  readonly code: ErrorCode;
  /** HTTP status the catalogue gives the code (4xx for caller mistakes). */
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PavilionError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }

  toJSON(): { code: string; message: string; status: number } {
    return { code: this.code, message: this.message, status: this.status };
  }
}

/** True for a PavilionError, including one rebuilt after crossing a worker boundary. */
/**
 * CONFIG_INVALID for settings that failed, each `NAME (why)` or a bare NAME: one wording wherever a setting is
 * checked (server/config.ts, storage/embedded-server.ts). `why` never repeats the value: it may be a secret.
 */
export function invalidSettings(settings: readonly (readonly [name: string, why?: string])[]): PavilionError {
  const list = settings.map(([name, why]) => (why === undefined ? name : `${name} (${why})`));
  return new PavilionError('CONFIG_INVALID', `invalid setting(s): ${list.join(', ')}`);
}

export function isPavilionError(err: unknown): err is PavilionError {
  return (
    err instanceof PavilionError ||
    (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'PavilionError')
  );
}

/**
 * True for any error carrying a stable code and a status: a PavilionError, or the client library's
 * PavilionClientError (client/errors.ts), whose code may be one a newer broker sent. The command line
 * prints these as `pavilion: CODE: message`.
 */
export function isCodedError(err: unknown): err is Error & { code: string; status: number } {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    typeof (err as { status?: unknown }).status === 'number'
  );
}

/**
 * Errors thrown inside a Piscina worker reach the main thread through
 * structured clone, which keeps only `message` and `stack` of a custom error
 * (the name becomes "Error", extra fields are dropped). So a worker encodes
 * the code into the message and the main side restores the typed error.
 */
const BOUNDARY_PREFIX = /^\[pavilion ([A-Z0-9_]+)\] ([\s\S]*)$/;

export function encodeForWorkerBoundary(err: PavilionError): Error {
  return new Error(`[pavilion ${err.code}] ${err.message}`);
}

export function decodeFromWorkerBoundary(err: unknown): unknown {
  if (err instanceof Error && !(err instanceof PavilionError)) {
    const m = BOUNDARY_PREFIX.exec(err.message);
    if (m && isErrorCode(m[1])) return new PavilionError(m[1], m[2]!);
  }
  return err;
}
