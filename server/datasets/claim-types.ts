/**
 * Claim types: what a dataset definition says each claim holds, and the check every uploaded value
 * goes through (server/datasets/upload.ts). A claim released to a relying party is read as typed
 * (`over_18: true`), so an upload whose spreadsheet turned `true` into the string `"True"` must be
 * refused at upload, naming the row and the claim (never the value), not discovered by an RP.
 *
 * A definition declares claims either as a list of names (the original form: each claim is
 * `scalar`) or as an object of name → type. `scalar` is any JSON boolean, number or string, but one
 * of them across a whole version, so a stray `"True"` among booleans is still refused. `null` is
 * always accepted: the provider does not know that claim for that person.
 */
import { CLAIM_TYPES } from '../http/schemas.js';

export { CLAIM_TYPES };
/** A declared type, or `scalar` for a claim declared by name only. */
export type ClaimType = (typeof CLAIM_TYPES)[number] | 'scalar';
export type ClaimTypes = Readonly<Record<string, ClaimType>>;

/** Longest string (or date) claim value, in UTF-16 code units: claims are facts, not documents. */
export const MAX_CLAIM_STRING = 1024;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The JSON type of a parsed value, as messages name it (never the value). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function isCalendarDate(v: string): boolean {
  const m = ISO_DATE.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

/**
 * Why `value` does not fit `type` (a phrase naming types and limits only), or null when it fits.
 * `scalar` accepts any boolean, number or string; the one-type-per-version rule is the collector's.
 */
export function claimTypeProblem(type: ClaimType, value: unknown): string | null {
  if (value === null) return null;
  const got = jsonType(value);
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean' ? null : `must be a boolean (true or false), not ${article(got)}`;
    case 'integer':
      if (Number.isSafeInteger(value)) return null;
      return got === 'integer'
        ? 'is beyond ±2^53, where integers lose precision'
        : `must be an integer, not ${article(got)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : `must be a number, not ${article(got)}`;
    case 'string':
      if (typeof value !== 'string') return `must be a string, not ${article(got)}`;
      return value.length > MAX_CLAIM_STRING ? `is longer than ${MAX_CLAIM_STRING} characters` : null;
    case 'date':
      if (typeof value !== 'string') return `must be a date string YYYY-MM-DD, not ${article(got)}`;
      return isCalendarDate(value) ? null : 'must be a calendar date written YYYY-MM-DD';
    case 'scalar':
      return typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string'
        ? null
        : `must be a JSON scalar (boolean, number or string), not ${article(got)}`;
  }
}

/** The type `scalar` values are held to once one was seen: integers and other numbers are one type. */
export function scalarKind(value: unknown): 'boolean' | 'number' | 'string' {
  return typeof value === 'boolean' ? 'boolean' : typeof value === 'number' ? 'number' : 'string';
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The claim names and types of a definition's `claims`, in either form. */
export function claimDefinition(claims: readonly string[] | Readonly<Record<string, string>>): {
  names: string[];
  types: Record<string, ClaimType>;
} {
  if (Array.isArray(claims)) {
    const names = [...new Set(claims as readonly string[])];
    return { names, types: Object.fromEntries(names.map((n) => [n, 'scalar' as ClaimType])) };
  }
  const entries = Object.entries(claims as Record<string, ClaimType>);
  return { names: entries.map(([n]) => n), types: Object.fromEntries(entries) };
}

/**
 * Parses a claim cell of a CSV file as `type` (pavilion publish): `true`/`false` (any case) or 1/0 for
 * booleans, decimal integers and numbers, dates as YYYY-MM-DD, strings as they are. An empty cell is
 * null (not known). Returns the value, or a problem phrase (never the cell's text).
 */
export function parseClaimCell(
  type: Exclude<ClaimType, 'scalar'>,
  cell: string,
): { value: unknown } | { problem: string } {
  if (cell === '') return { value: null };
  switch (type) {
    case 'boolean': {
      const t = cell.trim().toLowerCase();
      if (t === 'true' || t === '1') return { value: true };
      if (t === 'false' || t === '0') return { value: false };
      return { problem: 'is not a boolean (true, false, 1 or 0)' };
    }
    case 'integer': {
      const t = cell.trim();
      const n = Number(t);
      return /^[-+]?\d+$/.test(t) && Number.isSafeInteger(n) ? { value: n } : { problem: 'is not an integer' };
    }
    case 'number': {
      const t = cell.trim();
      const n = Number(t);
      return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) && Number.isFinite(n)
        ? { value: n }
        : { problem: 'is not a decimal number' };
    }
    case 'date':
      return isCalendarDate(cell.trim()) ? { value: cell.trim() } : { problem: 'is not a date written YYYY-MM-DD' };
    case 'string':
      return cell.length > MAX_CLAIM_STRING
        ? { problem: `is longer than ${MAX_CLAIM_STRING} characters` }
        : { value: cell };
  }
}
