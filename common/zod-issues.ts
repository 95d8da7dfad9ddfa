/** How a zod issue is told to whoever sent the value, without the value. */
import type { z } from 'zod';

/**
 * zod messages that could contain the received value are replaced by a generic one: request bodies
 * (server/http/validation.ts) and settings (server/config.ts, where a value may be a password) are
 * refused by path and reason, never by what was sent.
 */
export function safeMessage(issue: z.ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'invalid_enum_value':
      return `expected one of ${issue.options.map(String).join(', ')}`;
    case 'invalid_literal':
      return 'unexpected value';
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}`;
    case 'too_small':
    case 'too_big':
    case 'invalid_string':
    case 'invalid_union':
    case 'not_multiple_of':
    // Refinements are the broker's own (server/http/schemas.ts, server/config.ts) and name fields, never values.
    case 'custom':
      return issue.message;
    default:
      return 'invalid value';
  }
}
