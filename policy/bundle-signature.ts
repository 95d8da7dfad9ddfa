/**
 * Verifies an OPA bundle signature (`.signatures.json`) as OPA does, so a
 * bundle signed with `opa sign` or `opa build --signing-key` loads here:
 *
 *   {"signatures": ["<compact JWS>"]}      exactly one
 *   JWS payload {"files": [{"name", "hash", "algorithm"}], "keyid"?, "scope"?}
 *
 * Every other bundle member must be listed with a matching digest, and
 * every listed file must be present. Digests of structured files (data.json,
 * .manifest) are not over their bytes but over a canonical walk of their
 * JSON (OPA's bundle/hash.go): `{` key `:` value `,` … `}` with keys sorted
 * and each scalar JSON-encoded as Go encodes it, numbers exactly as written
 * (OPA decodes with json.Number). So whitespace does not matter, `0.90` and
 * `0.9` do. The JWS itself is checked with jose against the configured key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { compactVerify, importSPKI, importX509, type KeyObject } from 'jose';
import { isLosslessNumber, parse as parseLossless } from 'lossless-json';
import { PavilionError } from '../common/errors.js';
import { type BundleFiles, MANIFEST_FILE, memberName, SIGNATURES_FILE } from './bundle.js';

export const DEFAULT_SIGNING_ALG = 'RS256';
const HASHES: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

function signatureInvalid(message: string): PavilionError {
  return new PavilionError('POLICY_BUNDLE_SIGNATURE_INVALID', `policy bundle signature: ${message}`);
}

export interface BundleKey {
  key: KeyObject | CryptoKey;
  alg: string;
}

/** The verification key from a PEM public key (SPKI) or certificate. */
export async function importBundleKey(pem: string, alg: string = DEFAULT_SIGNING_ALG): Promise<BundleKey> {
  try {
    const key = pem.includes('BEGIN CERTIFICATE') ? await importX509(pem, alg) : await importSPKI(pem, alg);
    return { key, alg };
  } catch {
    throw new PavilionError(
      'CONFIG_INVALID',
      `POLICY_BUNDLE_KEY: not a PEM public key or certificate for ${alg} (see docs/policy.md)`,
    );
  }
}

/** Go's encoding/json for a string, HTML escaping off (what OPA's hasher writes). */
function goJsonString(s: string): string {
  // Go decodes a lone surrogate escape to U+FFFD; JSON.stringify would keep it as \udXXX.
  const wellFormed = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return JSON.stringify(wellFormed).replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029');
}

function walk(v: unknown, out: string[]): void {
  if (isLosslessNumber(v)) out.push(v.value);
  else if (typeof v === 'string') out.push(goJsonString(v));
  else if (v === null || typeof v === 'boolean') out.push(String(v));
  else if (Array.isArray(v)) {
    out.push('[');
    v.forEach((e, i) => {
      if (i > 0) out.push(',');
      walk(e, out);
    });
    out.push(']');
  } else if (typeof v === 'object') {
    // Go sorts keys by their UTF-8 bytes.
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    out.push('{');
    keys.forEach((k, i) => {
      if (i > 0) out.push(',');
      out.push(goJsonString(k), ':');
      walk((v as Record<string, unknown>)[k], out);
    });
    out.push('}');
  }
}

function isStructured(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return base === 'data.json' || base === 'data.yaml' || base === MANIFEST_FILE || base === SIGNATURES_FILE;
}

/** The digest OPA's signer records for one bundle member. */
export function opaFileDigest(name: string, bytes: Uint8Array, algorithm = 'SHA-256'): Buffer {
  const hash = HASHES[algorithm];
  if (!hash) throw signatureInvalid(`unsupported hash algorithm ${algorithm} for ${name}`);
  const h = createHash(hash);
  if (isStructured(name)) {
    if (name.endsWith('.yaml')) throw signatureInvalid(`${name}: YAML data is not supported`);
    let value: unknown;
    try {
      value = parseLossless(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw signatureInvalid(`${name} is not JSON`);
    }
    const parts: string[] = [];
    walk(value, parts);
    h.update(parts.join(''), 'utf8');
  } else {
    h.update(bytes);
  }
  return h.digest();
}

/**
 * Checks the bundle's signature with `key`. Throws
 * POLICY_BUNDLE_SIGNATURE_INVALID (422) naming the first problem: no
 * signature, a bad JWS, a scope, a file unsigned, missing or changed.
 */
export async function verifyBundleSignature(files: BundleFiles, key: BundleKey): Promise<void> {
  const raw = files.get(SIGNATURES_FILE);
  if (!raw) throw signatureInvalid(`the bundle has no ${SIGNATURES_FILE} and POLICY_BUNDLE_KEY requires one`);
  let tokens: unknown;
  try {
    tokens = (JSON.parse(new TextDecoder().decode(raw)) as { signatures?: unknown }).signatures;
  } catch {
    throw signatureInvalid(`${SIGNATURES_FILE} is not JSON`);
  }
  if (!Array.isArray(tokens) || tokens.length !== 1 || typeof tokens[0] !== 'string')
    throw signatureInvalid(`${SIGNATURES_FILE} must hold exactly one JWS`);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(tokens[0], key.key, { algorithms: [key.alg] }));
  } catch {
    throw signatureInvalid(`the JWS does not verify with POLICY_BUNDLE_KEY (${key.alg})`);
  }
  let signed: { files?: unknown; scope?: unknown };
  try {
    signed = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    throw signatureInvalid('the JWS payload is not JSON');
  }
  if (signed.scope !== undefined && signed.scope !== '')
    throw signatureInvalid('the signature has a scope; the broker expects none');
  if (!Array.isArray(signed.files)) throw signatureInvalid('the JWS payload lists no files');
  const listed = new Map<string, { hash: string; algorithm: string }>();
  for (const f of signed.files as { name?: unknown; hash?: unknown; algorithm?: unknown }[]) {
    if (typeof f?.name !== 'string' || typeof f.hash !== 'string' || typeof f.algorithm !== 'string')
      throw signatureInvalid('a listed file lacks a name, hash or algorithm');
    listed.set(memberName(f.name), { hash: f.hash, algorithm: f.algorithm });
  }
  for (const [name, bytes] of files) {
    if (name === SIGNATURES_FILE) continue;
    const entry = listed.get(name);
    if (!entry) throw signatureInvalid(`${name} is not included in the signature`);
    const expected = Buffer.from(entry.hash, 'hex');
    const actual = opaFileDigest(name, bytes, entry.algorithm);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual))
      throw signatureInvalid(`${name} does not match its signed digest`);
    listed.delete(name);
  }
  if (listed.size > 0)
    throw signatureInvalid(`signed file(s) missing from the bundle: ${[...listed.keys()].join(', ')}`);
}
