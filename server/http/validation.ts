/**
 * Request bodies: JSON parsing and zod validation with problem-friendly errors.
 *
 * Bad JSON, or bytes that are not UTF-8 → 400 BODY_INVALID_JSON. A schema violation → 422 VALIDATION_FAILED
 * listing JSON paths and zod's generic messages (a missing field: `required`). zod's messages name the
 * expected type or bound, never the received value, and we drop `received`
 * details entirely, so no value the client sent is echoed (a record field may
 * be personal data).
 */
import { isUtf8 } from 'node:buffer';
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

/** `$.a.b[2]` style path for a zod issue path; `root` names what the path is in (`$`: the body). */
export function jsonPath(path: readonly (string | number)[], root = '$'): string {
  let out = root;
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
  // Bytes that are not UTF-8 would be read as U+FFFD: a value the client never sent, encoded and answered.
  if (typeof body !== 'string' && !isUtf8(body))
    throw new PavilionError('BODY_INVALID_JSON', 'request body is not UTF-8 (RFC 8259 JSON is UTF-8)');
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

/** `value` checked against `schema`; errors name paths from `root` (`$` for a body, `query` for a query string). */
export function validate<T extends z.ZodTypeAny>(schema: T, value: unknown, root = '$'): z.infer<T> {
  const proto = protoKeyPath(value);
  if (proto !== undefined)
    throw new ValidationError([{ path: jsonPath(proto, root), message: 'field name not allowed' }]);
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ValidationError(r.error.issues.map((i) => ({ path: jsonPath(i.path, root), message: issueMessage(i) })));
}

/**
 * A field or query parameter that is missing is said to be required, in bodies, queries and path parameters
 * alike: zod reports it as a wrong type, and `query.from: expected string` read as a complaint about a value
 * the client never sent.
 */
function issueMessage(issue: z.ZodIssue): string {
  return issue.code === 'invalid_type' && issue.received === 'undefined' ? 'required' : safeMessage(issue);
}

export function parseAndValidate<T extends z.ZodTypeAny>(schema: T, body: Buffer | Uint8Array | string): z.infer<T> {
  return validate(schema, parseJsonBody(body));
}

/**
 * The path of the first own `__proto__` key in a parsed JSON value, or undefined. zod drops such a key without
 * a word (it guards against prototype pollution), so `{"record": {"__proto__": "x"}}` passed as an empty record
 * and got an answer for it. Iterative: JSON.parse takes nesting deeper than a recursive walk's stack.
 */
function protoKeyPath(root: unknown): (string | number)[] | undefined {
  interface Node {
    value: object;
    parent?: Node;
    key?: string | number;
  }
  if (typeof root !== 'object' || root === null) return undefined;
  const stack: Node[] = [{ value: root }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const value = node.value;
    if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) {
      const path: (string | number)[] = ['__proto__'];
      for (let n: Node | undefined = node; n?.parent !== undefined; n = n.parent) path.unshift(n.key!);
      return path;
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const child: unknown = value[i];
        if (typeof child === 'object' && child !== null) stack.push({ value: child, parent: node, key: i });
      }
    } else {
      // JSON.parse makes plain objects: for-in sees their own keys only.
      for (const key in value) {
        const child: unknown = (value as Record<string, unknown>)[key];
        if (typeof child === 'object' && child !== null) stack.push({ value: child, parent: node, key });
      }
    }
  }
  return undefined;
}
