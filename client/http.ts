/**
 * HTTP for the client library: bearer token, JSON in and out, and RFC 9457
 * problem documents turned into PavilionApiError (the broker's `code`, its
 * `status`, and the document itself, e.g. POLICY_DENIED's `errors[]` naming
 * what would be allowed).
 */
import { PavilionClientError } from './errors.js';

/** The broker's problem document (server/problem.ts). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  errors?: { path: string; message: string }[];
}

/** An error answer from the broker: `code` and `status` as the broker sent them. */
export class PavilionApiError extends PavilionClientError {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.code, problem.detail ?? problem.title, problem.status);
    this.name = 'PavilionApiError';
    this.problem = problem;
  }
}

/** A token, or a function giving a fresh one (called per request and per WebSocket connection). */
export type TokenSource = string | (() => string | Promise<string>);

export async function tokenOf(source: TokenSource | undefined): Promise<string | undefined> {
  return typeof source === 'function' ? source() : source;
}

export function asProblem(value: unknown, status: number): Problem {
  const p = value as Partial<Problem> | null;
  if (p && typeof p === 'object' && typeof p.code === 'string' && typeof p.status === 'number') return p as Problem;
  return { type: 'about:blank', title: 'Error', status, code: `HTTP_${status}` };
}

export interface HttpOptions {
  baseUrl: string;
  token?: TokenSource;
  fetch: typeof fetch;
  timeoutMs: number;
}

export async function request(
  o: HttpOptions,
  method: string,
  path: string,
  body?: unknown,
  accept: 'json' | 'text' = 'json',
): Promise<unknown> {
  const headers: Record<string, string> = {};
  const token = await tokenOf(o.token);
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await o.fetch(new URL(path, o.baseUrl), {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(o.timeoutMs),
    });
  } catch (err) {
    throw new PavilionClientError('BROKER_UNREACHABLE', `${method} ${path}: the broker did not answer`, 503, {
      cause: err,
    });
  }
  const text = await res.text();
  if (!res.ok) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    throw new PavilionApiError(asProblem(parsed, res.status));
  }
  if (accept === 'text') return text;
  return text === '' ? undefined : JSON.parse(text);
}
