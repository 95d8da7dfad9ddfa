/**
 * Keys for the verification result cache.
 *
 * A key is `pv:{dataset}:{version}:{mac}` where `mac` is HMAC-SHA256 (RFC 2104)
 * under a per-deployment secret over an unambiguous, length-prefixed encoding
 * of everything the answer depends on. Why each piece:
 *
 * - Keyed, not a plain hash: a CLK is a Bloom filter of the person's q-grams,
 *   and anyone holding an unkeyed hash of it could confirm a guessed CLK
 *   offline. Without the secret a key reveals nothing about its inputs.
 * - Length-prefixed fields behind a domain tag: no two different inputs share
 *   an encoding (for example claims ["ab"] vs ["a","b"], or a dataset id that
 *   ends where the next field begins), and keys of a future format never
 *   collide with these.
 * - The party asking (and its tenant) is part of the key: an answer is cached
 *   for the party that asked. Shared between parties, `cached: true` (and the
 *   answer's speed) told one relying party that another had verified the same
 *   person, for the same purpose and claims, minutes before.
 * - Claims are sorted (not deduplicated: distinct requests may at worst miss,
 *   never share an answer they should not), so the order a client lists them
 *   in does not split the cache.
 * - Dataset id and version in clear text in front: a new dataset version is a
 *   new key space, and invalidation deletes by prefix (SCAN MATCH) without
 *   having to know the old keys. The dataset id is an operator-chosen name, not
 *   personal data; it is escaped so it can never contain ':' or a glob
 *   character, which keeps the prefix of one dataset from matching another's.
 *
 * Cost: `crypto.createHmac` over the ~200-byte message measured 1.3 µs here;
 * precomputing the key pads and copying hash states (`Hash.copy()`) was slower
 * (1.55 µs), so the plain call stays. The message is assembled in one reusable
 * scratch buffer so the hot path allocates only the digest string; a whole key
 * (validation, encoding, HMAC, prefix) measured 2.1–3.4 µs (test/cache/measure.ts).
 */
import { createHmac } from 'node:crypto';
import { PavilionError } from '../common/errors.js';

export interface CacheKeyParts {
  datasetId: string;
  /** Dataset version the answer was computed against (non-negative integer). */
  datasetVersion: number;
  /** The query CLK, raw bytes (not base64). */
  clk: Uint8Array;
  /** Claims the caller asked for; order is irrelevant. */
  claims: readonly string[];
  /** Match threshold the decision used (Dice score in [0, 1]). */
  threshold: number;
  /** Version of the policy bundle that produced the obligations. */
  policyVersion: string;
  /** The party the answer is for (Principal.subject). */
  party: string;
  /** Its tenant, when its token names one. */
  tenant?: string;
}

/** Prefix common to every key this module produces. */
export const CACHE_KEY_NAMESPACE = 'pv';

/** Bumping this tag changes every MAC: use it when the encoding below changes. */
const DOMAIN_TAG = Buffer.from('pavilion/verification-cache-key/v2\0', 'utf8');

const MIN_SECRET_BYTES = 16;
const MAX_DATASET_ID_CHARS = 256;
const MAX_POLICY_VERSION_CHARS = 256;
const MAX_CLAIMS = 256;
const MAX_CLAIM_CHARS = 256;
const MAX_CLK_BYTES = 1 << 16;
/** identity/principal.ts bounds party and tenant names to 255 characters. */
const MAX_NAME_CHARS = 255;

let scratch = Buffer.allocUnsafe(1024);

/**
 * The cache key for one verification question. Throws PavilionError
 * `CACHE_KEY_INVALID` (naming the field, never its value) on malformed parts,
 * and `CACHE_SECRET_INVALID` when the secret is shorter than 16 bytes.
 */
export function cacheKey(secretKey: Buffer, parts: CacheKeyParts): string {
  if (!Buffer.isBuffer(secretKey) || secretKey.length < MIN_SECRET_BYTES) {
    throw new PavilionError(
      'CACHE_SECRET_INVALID',
      `cache key secret must be a Buffer of at least ${MIN_SECRET_BYTES} bytes`,
    );
  }
  const { datasetId, datasetVersion, clk, claims, threshold, policyVersion, party, tenant } = parts;
  checkString('datasetId', datasetId, MAX_DATASET_ID_CHARS);
  checkVersion(datasetVersion);
  if (!(clk instanceof Uint8Array) || clk.length === 0 || clk.length > MAX_CLK_BYTES) {
    invalid('clk', `must be a non-empty Uint8Array of at most ${MAX_CLK_BYTES} bytes`);
  }
  if (!Array.isArray(claims) || claims.length > MAX_CLAIMS)
    invalid('claims', `must be an array of at most ${MAX_CLAIMS} strings`);
  for (let i = 0; i < claims.length; i++) checkString(`claims[${i}]`, claims[i], MAX_CLAIM_CHARS);
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1))
    invalid('threshold', 'must be a number in [0, 1]');
  checkString('policyVersion', policyVersion, MAX_POLICY_VERSION_CHARS);
  checkString('party', party, MAX_NAME_CHARS);
  if (tenant !== undefined) checkString('tenant', tenant, MAX_NAME_CHARS);

  // Upper bound of the encoded size: UTF-8 needs at most 3 bytes per UTF-16
  // code unit, so no exact byteLength pass is needed before writing.
  let bound = DOMAIN_TAG.length + 4 + 3 * datasetId.length + 8 + 4 + clk.length + 4 + 8 + 4 + 3 * policyVersion.length;
  bound += 4 + 3 * party.length + 1 + 4 + 3 * (tenant?.length ?? 0);
  for (let i = 0; i < claims.length; i++) bound += 4 + 3 * claims[i]!.length;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const buf = scratch;

  let off = DOMAIN_TAG.copy(buf, 0);
  off = writeString(buf, off, datasetId);
  // Version as 64-bit big-endian: two 32-bit halves (safe integers only, checked above).
  buf.writeUInt32BE(Math.floor(datasetVersion / 0x1_0000_0000), off);
  buf.writeUInt32BE(datasetVersion >>> 0, off + 4);
  off += 8;
  buf.writeUInt32BE(clk.length, off);
  off += 4;
  buf.set(clk, off);
  off += clk.length;
  const sorted = claims.length > 1 ? [...claims].sort() : claims;
  buf.writeUInt32BE(sorted.length, off);
  off += 4;
  for (let i = 0; i < sorted.length; i++) off = writeString(buf, off, sorted[i]!);
  // -0 and 0 are the same threshold; IEEE-754 would encode them differently.
  buf.writeDoubleBE(threshold === 0 ? 0 : threshold, off);
  off += 8;
  off = writeString(buf, off, policyVersion);
  off = writeString(buf, off, party);
  // A tenant's presence is a byte of its own: no tenant and any tenant never share an encoding.
  buf[off++] = tenant === undefined ? 0 : 1;
  if (tenant !== undefined) off = writeString(buf, off, tenant);

  const mac = createHmac('sha256', secretKey).update(buf.subarray(0, off)).digest('base64url');
  return `${datasetKeyPrefix(datasetId)}${datasetVersion}:${mac}`;
}

/**
 * `pv:{escaped dataset id}:` — every key of one dataset starts with this, and
 * no key of another dataset does (the escaped id contains no ':').
 */
export function datasetKeyPrefix(datasetId: string): string {
  checkString('datasetId', datasetId, MAX_DATASET_ID_CHARS);
  return `${CACHE_KEY_NAMESPACE}:${escapeDatasetId(datasetId)}:`;
}

/**
 * The dataset version a key was made for, or undefined when the key was not
 * made by `cacheKey` for this prefix.
 */
export function keyDatasetVersion(key: string, prefix: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const end = key.indexOf(':', prefix.length);
  if (end <= prefix.length) return undefined;
  const text = key.slice(prefix.length, end);
  if (!/^\d{1,16}$/.test(text)) return undefined;
  return Number(text);
}

const SAFE_ID = /^[A-Za-z0-9._~-]+$/;

/**
 * Percent-encodes every byte outside [A-Za-z0-9._~-]: the result holds no
 * ':' (the key separator) and none of Redis's glob characters `* ? [ ] \`,
 * so it can go into a SCAN MATCH pattern as is. Common ids pass unchanged.
 */
function escapeDatasetId(id: string): string {
  if (SAFE_ID.test(id)) return id;
  let out = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE_ID.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function writeString(buf: Buffer, off: number, s: string): number {
  const n = buf.write(s, off + 4, 'utf8');
  buf.writeUInt32BE(n, off);
  return off + 4 + n;
}

function checkString(field: string, v: unknown, max: number): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    invalid(field, `must be a non-empty string of at most ${max} characters`);
  // Lone surrogates would be replaced by U+FFFD when encoded, so two different
  // strings could share an encoding: refuse them instead.
  // (isWellFormed is in Node 20's V8; TypeScript's ES2023 lib does not declare it.)
  if (!(v as unknown as { isWellFormed(): boolean }).isWellFormed()) invalid(field, 'must be well-formed Unicode');
}

function checkVersion(v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    invalid('datasetVersion', 'must be a non-negative safe integer');
}

function invalid(field: string, why: string): never {
  throw new PavilionError('CACHE_KEY_INVALID', `cache key part ${field} ${why}`);
}
