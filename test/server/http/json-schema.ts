/**
 * A JSON Schema 2020-12 validator for the keywords the broker's OpenAPI document uses, so tests can check real
 * answers against /openapi.json without a validator dependency. A keyword it does not know throws rather than
 * passing unchecked; annotations (description, format, example…) are ignored, as 2020-12 does by default.
 */

type Schema = Record<string, unknown> | boolean;

const ANNOTATIONS = new Set(['description', 'format', 'example', 'examples', 'default', 'title', 'deprecated']);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  if (type === 'integer') return Number.isInteger(value);
  return typeOf(value) === type;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The places where `value` breaks `schema` (empty when it conforms). `root` is the document local `$ref`s
 * (`#/components/schemas/…`) resolve in.
 */
export function schemaErrors(root: object, schema: Schema, value: unknown, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value allowed`];
  const errors: string[] = [];
  for (const [keyword, arg] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    const s = arg as Schema;
    const n = arg as number;
    switch (keyword) {
      case '$ref': {
        const ref = arg as string;
        if (!ref.startsWith('#/')) throw new Error(`$ref ${ref}: only local references are supported`);
        let target: unknown = root;
        for (const part of ref.slice(2).split('/')) target = (target as Record<string, unknown>)?.[part];
        if (target === undefined) throw new Error(`$ref ${ref} does not resolve`);
        errors.push(...schemaErrors(root, target as Schema, value, at));
        break;
      }
      case 'type': {
        const types = Array.isArray(arg) ? (arg as string[]) : [arg as string];
        if (!types.some((t) => hasType(value, t))) errors.push(`${at}: ${typeOf(value)}, expected ${types.join('|')}`);
        break;
      }
      case 'enum':
        if (!(arg as unknown[]).some((v) => same(v, value))) errors.push(`${at}: not one of ${JSON.stringify(arg)}`);
        break;
      case 'const':
        if (!same(arg, value)) errors.push(`${at}: not ${JSON.stringify(arg)}`);
        break;
      case 'properties':
        if (typeOf(value) === 'object')
          for (const [k, sub] of Object.entries(arg as Record<string, Schema>))
            if (Object.hasOwn(value as object, k))
              errors.push(...schemaErrors(root, sub, (value as Record<string, unknown>)[k], `${at}.${k}`));
        break;
      case 'required':
        if (typeOf(value) === 'object')
          for (const k of arg as string[]) if (!Object.hasOwn(value as object, k)) errors.push(`${at}.${k}: missing`);
        break;
      case 'additionalProperties':
        if (typeOf(value) === 'object') {
          const declared = (schema as Record<string, unknown>).properties as Record<string, unknown> | undefined;
          for (const [k, v] of Object.entries(value as Record<string, unknown>))
            if (!declared || !Object.hasOwn(declared, k)) errors.push(...schemaErrors(root, s, v, `${at}.${k}`));
        }
        break;
      case 'items':
        if (Array.isArray(value))
          for (const [i, v] of value.entries()) errors.push(...schemaErrors(root, s, v, `${at}[${i}]`));
        break;
      case 'minItems':
      case 'maxItems':
        if (Array.isArray(value) && (keyword === 'minItems' ? value.length < n : value.length > n))
          errors.push(`${at}: ${keyword} ${n}`);
        break;
      case 'uniqueItems':
        if (arg === true && Array.isArray(value) && new Set(value.map((v) => JSON.stringify(v))).size !== value.length)
          errors.push(`${at}: items not unique`);
        break;
      case 'minLength':
      case 'maxLength': {
        // Lengths count code points (2020-12 §6.3.1).
        const length = typeof value === 'string' ? [...value].length : undefined;
        if (length !== undefined && (keyword === 'minLength' ? length < n : length > n))
          errors.push(`${at}: ${keyword} ${n}`);
        break;
      }
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(arg as string, 'u').test(value))
          errors.push(`${at}: does not match ${arg}`);
        break;
      case 'minimum':
      case 'maximum':
        if (typeof value === 'number' && (keyword === 'minimum' ? value < n : value > n))
          errors.push(`${at}: ${keyword} ${n}`);
        break;
      case 'allOf':
        for (const sub of arg as Schema[]) errors.push(...schemaErrors(root, sub, value, at));
        break;
      case 'anyOf':
        if (!(arg as Schema[]).some((sub) => schemaErrors(root, sub, value, at).length === 0))
          errors.push(`${at}: matches none of anyOf`);
        break;
      case 'oneOf': {
        const matching = (arg as Schema[]).filter((sub) => schemaErrors(root, sub, value, at).length === 0).length;
        if (matching !== 1) errors.push(`${at}: matches ${matching} of oneOf, expected 1`);
        break;
      }
      case 'not':
        if (schemaErrors(root, s, value, at).length === 0) errors.push(`${at}: matches a schema it must not`);
        break;
      default:
        throw new Error(`${at}: keyword ${keyword} is not supported by this validator`);
    }
  }
  return errors;
}
