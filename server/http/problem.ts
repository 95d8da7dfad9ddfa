/**
 * RFC 9457 problem details. Every 4xx/5xx the broker sends is one of these,
 * with a stable upper-snake `code` clients branch on (never the `detail`).
 *
 * A PavilionError maps to its own status and code; its message is written by
 * the layer that threw it and, by the rule in common/errors.ts, never holds a
 * secret or a record value. Anything else is a bug or an outage: the caller
 * gets 500 INTERNAL with a fixed text, and the error goes to the log without
 * the request body.
 */
import { ERROR_CODES, type ErrorCode } from '../../common/error-codes.js';
import { isPavilionError } from '../../common/errors.js';
import { databaseUnavailable } from '../../storage/postgres.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  instance?: string;
  /** For VALIDATION_FAILED: JSON paths of the offending fields, never their values. */
  errors?: { path: string; message: string }[];
}

/**
 * RFC 9110 §15 reason phrases: the status line's text (server/http/router.ts, statusLine) and a problem's
 * title. Every status of the error catalogue has one (test/server/http/problem.test.ts); CLIENT_ABORTED's 499
 * is never sent.
 */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export function statusTitle(status: number): string {
  return REASON_PHRASES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** The `type` URI names the code, so the document is self-describing (RFC 9457 §3.1.1). */
export function problemType(code: string): string {
  return `urn:pavilion:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

export function makeProblem(code: ErrorCode, detail?: string, extra?: Partial<Problem>): Problem {
  const status = ERROR_CODES[code].status;
  const p: Problem = { type: problemType(code), title: statusTitle(status), status, code };
  if (detail) p.detail = detail;
  return Object.assign(p, extra);
}

/** Extra fields a PavilionError subclass may carry for the problem document. */
interface ProblemExtras {
  problemErrors?: { path: string; message: string }[];
}

/**
 * Turns any thrown value into a problem. `unexpected` is called for anything
 * that is not a PavilionError, and for a PavilionError whose code answers 500
 * (a corrupt row, a broken policy, a failed worker: the catalogue says
 * "logged"), so the caller can log it; the detail of a foreign error is never
 * sent to the client.
 */
export function toProblem(err: unknown, unexpected?: (err: unknown) => void): Problem {
  if (isPavilionError(err)) {
    if (err.status === 500) unexpected?.(err);
    const extras = (err as ProblemExtras).problemErrors;
    return makeProblem(err.code, err.message, extras ? { errors: extras } : undefined);
  }
  // A database outage is not a bug: the same 503 whichever store the request reached.
  const outage = databaseUnavailable(err, 'the request could not be completed');
  if (outage) return makeProblem(outage.code, outage.message);
  unexpected?.(err);
  return makeProblem('INTERNAL', 'internal error');
}
