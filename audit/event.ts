/**
 * Audit events: plain JSON objects, canonicalised with RFC 8785 (JCS) so the
 * same event always hashes to the same leaf, whoever serialises it.
 *
 * Events carry identifiers, hashes and outcomes only, never raw personal data
 * (see README.md, "Event shape"). The broker's event vocabulary, one checked
 * builder per type, is server/support/audit-events.ts.
 */

import { PavilionError } from '../common/errors.js';
import { canonicalize } from './jcs.js';
import { leafHashOfText } from './merkle/hash.js';
import { isWellFormedUnicode } from './unicode.js';

/**
 * Canonical events above this size are refused: an audit record is a few
 * hundred bytes, and C2SP tlog-tiles entry bundles prefix each entry with a
 * big-endian uint16 length, so no entry may exceed 65,535 bytes.
 */
export const MAX_EVENT_BYTES = 0xffff;
const MAX_DEPTH = 32;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function invalid(message: string): PavilionError {
  return new PavilionError('EVENT_INVALID', message);
}

/**
 * Accepts only what JSON can represent exactly: null, booleans, finite
 * numbers, well-formed strings, arrays and plain objects. Dates, Maps,
 * class instances, undefined, functions, symbols, BigInt, cycles, sparse
 * arrays and objects with a custom toJSON are refused, since RFC 8785 output
 * for them would silently differ from what the caller holds.
 */
function assertPlainJson(value: unknown, trail: (string | number)[], seen: Set<object>): void {
  if (trail.length > MAX_DEPTH) throw invalid(`event nests deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`${pathOf(trail)} is not a finite number`);
    return;
  }
  if (typeof value === 'string') {
    if (!isWellFormedUnicode(value)) throw invalid(`${pathOf(trail)} is not valid Unicode`);
    return;
  }
  if (typeof value !== 'object') throw invalid(`${pathOf(trail)} is a ${typeof value}, not JSON`);
  if (seen.has(value)) throw invalid(`${pathOf(trail)} is a cycle`);
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      trail.push(i);
      if (!(i in value)) throw invalid(`${pathOf(trail)} is a hole`);
      assertPlainJson(value[i], trail, seen);
      trail.pop();
    }
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw invalid(`${pathOf(trail)} is not a plain object`);
    if (Object.getOwnPropertySymbols(value).length > 0) throw invalid(`${pathOf(trail)} has symbol keys`);
    if ('toJSON' in value) throw invalid(`${pathOf(trail)} has a toJSON method`);
    for (const key of Object.keys(value)) {
      trail.push(key);
      if (!isWellFormedUnicode(key)) throw invalid(`${pathOf(trail)} is a key that is not valid Unicode`);
      // A getter could return one value here and another to the serialiser.
      const desc = Object.getOwnPropertyDescriptor(value, key)!;
      if (!('value' in desc)) throw invalid(`${pathOf(trail)} is an accessor property`);
      assertPlainJson(desc.value, trail, seen);
      trail.pop();
    }
  }
  seen.delete(value);
}

/**
 * Where the problem is, for the error message. Keys that do not look like
 * field names are masked: a key can itself be data (an e-mail used as a map
 * key), and messages must never carry personal data.
 */
function pathOf(trail: readonly (string | number)[]): string {
  return (
    'event' +
    trail
      .map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k) ? `.${k}` : '.<key>'))
      .join('')
  );
}

/** RFC 8785 canonical JSON of a plain JSON object, or EVENT_INVALID. */
export function canonicalEvent(event: unknown): string {
  if (typeof event !== 'object' || event === null || Array.isArray(event))
    throw invalid('an audit event must be a JSON object');
  assertPlainJson(event, [], new Set());
  const text = canonicalize(event);
  if (typeof text !== 'string') throw invalid('event cannot be canonicalised');
  if (Buffer.byteLength(text, 'utf8') > MAX_EVENT_BYTES)
    throw invalid(`canonical event exceeds ${MAX_EVENT_BYTES} bytes`);
  return text;
}

/** RFC 9162 leaf hash of the canonical event bytes. */
export function eventLeafHash(canonical: string): Uint8Array {
  return leafHashOfText(canonical);
}

/**
 * An event whose RFC 8785 text its builder wrote itself: a fixed key set written in sorted order, every
 * value checked on the way in (server/support/audit-events.ts, `preparedVerificationEvent`). `AuditLog.append`
 * hashes and stores the text as it is, skipping the generic plain-JSON check and canonicaliser, which were
 * the largest single cost of a cache-hit verification after the database (docs/decisions.md, "The cache-hit
 * path"). Whoever constructs one vouches that `canonical` is exactly what `canonicalEvent` produces for the
 * event it stands for; the builder's tests compare the two.
 */
export class PreparedEvent {
  constructor(
    /** The event's RFC 8785 text. */
    readonly canonical: string,
  ) {}
}

/** The canonical text of a prepared event, within the size every entry must keep (MAX_EVENT_BYTES). */
export function preparedCanonical(prepared: PreparedEvent): string {
  const text = prepared.canonical;
  // Canonical text never holds a raw line feed (JSON escapes it); the log sends a batch one event per line.
  if (text.includes('\n')) throw invalid('a canonical event holds no raw line feed');
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long text needs its exact length measured.
  if (text.length * 3 > MAX_EVENT_BYTES && Buffer.byteLength(text, 'utf8') > MAX_EVENT_BYTES)
    throw invalid(`canonical event exceeds ${MAX_EVENT_BYTES} bytes`);
  return text;
}
