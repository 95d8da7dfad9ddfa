/**
 * Request bodies: JSON parsing and zod validation with problem-friendly errors.
 *
 * Bad JSON → 400 BODY_INVALID_JSON. A schema violation → 422 VALIDATION_FAILED
 * listing JSON paths and zod's generic messages. zod's messages name the
 * expected type or bound, never the received value, and we drop `received`
 * details entirely, so no value the client sent is echoed (a record field may
 * be personal data).
 */
import type { z } from 'zod';
import { PavilionError } from '../../common/errors.js';
import { safeMessage } from '../../common/zod-issues.js';

export class ValidationError extends PavilionError {
  readonly problemErrors: { path: string; message: string }[];
  constructor(errors: { path: string; message: string }[]) {
    const first = errors[0];
    super('VALIDATION_FAILED', first ? `${first.path}: ${first.message}` : 'invalid request');
    this.problemErrors = errors.slice(0, 20);
  }
}

/** `$.a.b[2]` style path for a zod issue path. */
export function jsonPath(path: readonly (string | number)[]): string {
  let out = '$';
  for (const seg of path)
    out +=
      typeof seg === 'number'
        ? `[${seg}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)
          ? `.${seg}`
          : `[${JSON.stringify(seg.slice(0, 64))}]`;
  return out;
}

export function parseJsonBody(body: Buffer | Uint8Array | string): unknown {
  const text =
    typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (text.trim() === '') throw new PavilionError('BODY_EMPTY', 'request body is empty');
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the offending text: never pass it on.
    throw new PavilionError('BODY_INVALID_JSON', 'request body is not valid JSON');
  }
}

export function validate<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ValidationError(r.error.issues.map((i) => ({ path: jsonPath(i.path), message: safeMessage(i) })));
}

export function parseAndValidate<T extends z.ZodTypeAny>(schema: T, body: Buffer | Uint8Array | string): z.infer<T> {
  return validate(schema, parseJsonBody(body));
}
