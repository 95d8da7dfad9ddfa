/**
 * C2SP signed-note (c2sp.org/signed-note) with Ed25519 (signature type 0x01),
 * and the key string encodings of Go's golang.org/x/mod/sumdb/note, which the
 * transparency ecosystem (witnesses, tlog tools) reads:
 *
 *   verifier key  <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
 *   signer key    PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>
 *   key id        SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian
 *
 * A note is `text` (non-empty, ending in a newline) + a blank line + one or
 * more lines `— <key name> <base64(key id || signature)>`. Verification
 * ignores signatures from unknown keys (that is what lets witnesses cosign and
 * keys rotate), rejects the note if a known key's signature fails, and
 * requires at least one verified known signature.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { PavilionError } from '../common/errors.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { isWellFormedUnicode } from './unicode.js';

const ALG_ED25519 = 0x01;
/** Upper bound on signatures per note; the spec asks verifiers to accept at least 16. */
export const MAX_NOTE_SIGNATURES = 100;
/** Upper bound on a note's size, so a hostile input cannot make parsing expensive. */
export const MAX_NOTE_BYTES = 1 << 20;

const EM_DASH_PREFIX = '\u2014 ';
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The verifier key string to publish (`name+hexid+base64`). */
  readonly verifierKey: string;
  /**
   * The signature bytes after the key id. May be asynchronous: a key held in
   * a KMS or HSM signs remotely (use signNoteAsync); in-process keys answer
   * at once.
   */
  signText(text: string): Uint8Array | Promise<Uint8Array>;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verifyText(text: string, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** The signature bytes after the 4-byte key id. */
  signature: Uint8Array;
}

export interface ParsedNote {
  /** Signed text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

export interface OpenedNote extends ParsedNote {
  /** Known keys whose signatures verified, as `name+hexid`. */
  verifiedBy: string[];
}

/** Key names: non-empty, no Unicode spaces, no '+' (signed-note §Format). */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !/[\s+]/u.test(name) &&
    isWellFormedUnicode(name) &&
    !/[\u0000-\u001f]/.test(name)
  );
}

/** @internal shared with cosignature.ts */
export function assertKeyName(name: string): void {
  if (!isValidKeyName(name))
    throw new PavilionError(
      'KEY_INVALID',
      'key name must be non-empty without spaces, plus signs or control characters',
    );
}

/** SHA-256(name || 0x0A || 0x01 || publicKey)[:4] as a uint32. */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  const digest = createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ALG_ED25519]))
    .update(publicKey)
    .digest();
  return digest.readUInt32BE(0);
}

/** @internal shared with cosignature.ts */
export function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, '0');
}

/** @internal shared with cosignature.ts */
export function parseKeyIdHex(hex: string): number {
  if (!/^[0-9a-f]{8}$/.test(hex)) throw new PavilionError('KEY_INVALID', 'key id must be 8 lowercase hex digits');
  return Number.parseInt(hex, 16);
}

/** @internal shared with cosignature.ts */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** @internal shared with cosignature.ts */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** @internal shared with cosignature.ts */
export function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A new Ed25519 signer key string for `name` (Go note format). The result is a secret. */
export function generateSignerKey(name: string): string {
  return signerKeyFromSeed(name, new Uint8Array(randomBytes(32)));
}

export function signerKeyFromSeed(name: string, seed: Uint8Array): string {
  assertKeyName(name);
  if (seed.length !== 32) throw new PavilionError('KEY_INVALID', 'Ed25519 seed must be 32 bytes');
  const publicKey = rawPublicKey(privateKeyFromSeed(seed));
  const id = ed25519KeyId(name, publicKey);
  return `PRIVATE+KEY+${name}+${keyIdHex(id)}+${encodeBase64(Uint8Array.of(ALG_ED25519, ...seed))}`;
}

/**
 * Parses a `PRIVATE+KEY+...` string. Errors never echo the key material.
 */
export function parseSignerKey(signerKey: string): NoteSigner {
  if (typeof signerKey !== 'string') throw new PavilionError('KEY_INVALID', 'signer key must be a string');
  const parts = splitKeyString(signerKey, 4);
  if (parts?.[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new PavilionError('KEY_INVALID', 'signer key must look like PRIVATE+KEY+<name>+<id>+<key>');
  }
  const [, , name, idHex, keyB64] = parts as [string, string, string, string, string];
  assertKeyName(name);
  const id = parseKeyIdHex(idHex);
  const raw = decodeBase64Strict(keyB64, 'KEY_INVALID', 'signer key material');
  if (raw.length !== 33 || raw[0] !== ALG_ED25519)
    throw new PavilionError('KEY_INVALID', 'signer key must be an Ed25519 seed (type 0x01, 32 bytes)');
  const privateKey = privateKeyFromSeed(raw.subarray(1));
  const publicKey = rawPublicKey(privateKey);
  if (ed25519KeyId(name, publicKey) !== id)
    throw new PavilionError('KEY_INVALID', 'signer key id does not match the key');
  const verifierKey = `${name}+${idHex}+${encodeBase64(Uint8Array.of(ALG_ED25519, ...publicKey))}`;
  return {
    name,
    keyId: id,
    verifierKey,
    signText: (text) => new Uint8Array(sign(null, Buffer.from(text, 'utf8'), privateKey)),
  };
}

export function parseVerifierKey(verifierKey: string): NoteVerifier {
  if (typeof verifierKey !== 'string') throw new PavilionError('KEY_INVALID', 'verifier key must be a string');
  const parts = splitKeyString(verifierKey, 2);
  if (!parts) throw new PavilionError('KEY_INVALID', 'verifier key must look like <name>+<id>+<key>');
  const [name, idHex, keyB64] = parts as [string, string, string];
  assertKeyName(name);
  const id = parseKeyIdHex(idHex);
  const raw = decodeBase64Strict(keyB64, 'KEY_INVALID', 'verifier key material');
  if (raw.length !== 33 || raw[0] !== ALG_ED25519)
    throw new PavilionError('KEY_INVALID', 'verifier key must be an Ed25519 public key (type 0x01, 32 bytes)');
  const publicRaw = raw.subarray(1);
  if (ed25519KeyId(name, publicRaw) !== id)
    throw new PavilionError('KEY_INVALID', 'verifier key id does not match the key');
  let publicKey: KeyObject;
  try {
    publicKey = publicKeyFromRaw(publicRaw);
  } catch (err) {
    throw new PavilionError('KEY_INVALID', 'verifier key is not a valid Ed25519 public key', { cause: err });
  }
  return {
    name,
    keyId: id,
    verifyText: (text, signature) =>
      signature.length === 64 && verify(null, Buffer.from(text, 'utf8'), publicKey, signature),
  };
}

/**
 * Splits off `fields` '+'-separated fields; the rest is the base64 key, which
 * may itself contain '+' (as Go's note package parses it).
 */
/** @internal shared with cosignature.ts */
export function splitKeyString(s: string, fields: number): string[] | null {
  const out: string[] = [];
  let rest = s;
  for (let i = 0; i < fields; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return null;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

/** The verifier key string for a signer key string. */
export function verifierKeyFor(signerKey: string): string {
  return parseSignerKey(signerKey).verifierKey;
}

/** Valid UTF-8, no control characters except newline (signed-note §Format). */
function assertNoteCharacters(s: string, what: string): void {
  if (!isWellFormedUnicode(s)) throw new PavilionError('NOTE_MALFORMED', `${what} is not valid UTF-8`);
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s))
    throw new PavilionError('NOTE_MALFORMED', `${what} contains a control character`);
}

function assertNoteText(text: string): void {
  if (typeof text !== 'string' || text.length === 0 || !text.endsWith('\n') || text === '\n') {
    throw new PavilionError('NOTE_MALFORMED', 'note text must be non-empty and end in a newline');
  }
  assertNoteCharacters(text, 'note text');
}

/** One signature line `— <name> base64(key id || signature)`. */
export function signatureLine(signer: { name: string; keyId: number }, sig: Uint8Array): string {
  const payload = new Uint8Array(4 + sig.length);
  new DataView(payload.buffer).setUint32(0, signer.keyId);
  payload.set(sig, 4);
  return `${EM_DASH_PREFIX}${signer.name} ${encodeBase64(payload)}\n`;
}

/** Signs `text` with every signer (e.g. the new and the old key during a rotation). Signers must answer at once. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  assertNoteText(text);
  if (signers.length === 0) throw new PavilionError('KEY_INVALID', 'at least one signer is required');
  const lines = signers.map((s) => {
    const sig = s.signText(text);
    if (!(sig instanceof Uint8Array))
      throw new PavilionError('KEY_INVALID', `signer ${s.name} is asynchronous: use signNoteAsync`);
    return signatureLine(s, sig);
  });
  return `${text}\n${lines.join('')}`;
}

/** signNote for signers that may answer asynchronously (KMS, HSM, a remote signer). */
export async function signNoteAsync(text: string, signers: readonly NoteSigner[]): Promise<string> {
  assertNoteText(text);
  if (signers.length === 0) throw new PavilionError('KEY_INVALID', 'at least one signer is required');
  const sigs = await Promise.all(signers.map((s) => s.signText(text)));
  return `${text}\n${signers.map((s, i) => signatureLine(s, sigs[i]!)).join('')}`;
}

/** Splits a note into text and signature lines, applying every line rule of the spec. */
export function parseNote(note: string | Uint8Array): ParsedNote {
  let s: string;
  if (note instanceof Uint8Array) {
    if (note.length > MAX_NOTE_BYTES) throw new PavilionError('NOTE_MALFORMED', 'note is too large');
    try {
      s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
    } catch {
      throw new PavilionError('NOTE_MALFORMED', 'note is not valid UTF-8');
    }
  } else if (typeof note === 'string') {
    s = note;
    if (s.length > MAX_NOTE_BYTES) throw new PavilionError('NOTE_MALFORMED', 'note is too large');
  } else {
    throw new PavilionError('NOTE_MALFORMED', 'note must be text');
  }
  assertNoteCharacters(s, 'note');
  // The text is separated from the signatures by the LAST blank line.
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw new PavilionError('NOTE_MALFORMED', 'note has no blank line before its signatures');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  assertNoteText(text);
  if (block.length === 0 || !block.endsWith('\n'))
    throw new PavilionError('NOTE_MALFORMED', 'note must end with signature lines, each ending in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw new PavilionError('NOTE_MALFORMED', 'note has too many signatures');
  const signatures = lines.map((line, i) => {
    if (!line.startsWith(EM_DASH_PREFIX))
      throw new PavilionError('NOTE_MALFORMED', `signature line ${i + 1} must start with an em dash and a space`);
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0 || rest.indexOf(' ', space + 1) >= 0)
      throw new PavilionError('NOTE_MALFORMED', `signature line ${i + 1} must be "— <name> <base64>"`);
    const name = rest.slice(0, space);
    if (!isValidKeyName(name))
      throw new PavilionError('NOTE_MALFORMED', `signature line ${i + 1} has an invalid key name`);
    const payload = decodeBase64Strict(rest.slice(space + 1), 'NOTE_MALFORMED', `signature line ${i + 1}`);
    if (payload.length < 5) throw new PavilionError('NOTE_MALFORMED', `signature line ${i + 1} is too short`);
    const keyId = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    return { name, keyId, signature: payload.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Parses and verifies a note against a set of trusted keys (strings or parsed
 * verifiers). Unknown keys are ignored; a known key whose signature fails
 * rejects the note (SIGNATURE_INVALID); no verified known key → NOTE_UNVERIFIED.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly (string | NoteVerifier)[]): OpenedNote {
  const parsed = parseNote(note);
  const known = verifiers.map((v) => (typeof v === 'string' ? parseVerifierKey(v) : v));
  const verifiedBy: string[] = [];
  for (const sig of parsed.signatures) {
    // A key is identified by name AND id: a match on one alone is another key.
    const key = known.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (!key) continue;
    if (!key.verifyText(parsed.text, sig.signature)) {
      throw new PavilionError('SIGNATURE_INVALID', `signature by ${sig.name}+${keyIdHex(sig.keyId)} does not verify`);
    }
    const label = `${sig.name}+${keyIdHex(sig.keyId)}`;
    if (!verifiedBy.includes(label)) verifiedBy.push(label);
  }
  if (verifiedBy.length === 0)
    throw new PavilionError('NOTE_UNVERIFIED', 'note carries no valid signature by a trusted key');
  return { ...parsed, verifiedBy };
}
