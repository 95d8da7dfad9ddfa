/**
 * C2SP tlog-cosignature (c2sp.org/tlog-cosignature): a witness's signature
 * line on a checkpoint, saying it saw this tree head and verified it extends
 * every earlier one it saw for the log. Two kinds, as the spec defines them:
 *
 *   Ed25519    key type 0x04; signed message
 *              "cosignature/v1\ntime <T>\n" || the checkpoint body
 *   ML-DSA-44  key type 0x06 (FIPS 204, @noble/post-quantum); signed message
 *              "subtree/v1\n\0" || u8-len name || u64 T || u8-len origin
 *              || u64 start (0) || u64 end (size) || 32-byte root
 *
 * Signature bytes after the key id: u64 big-endian timestamp || signature
 * (64 bytes Ed25519, 2420 bytes ML-DSA-44). Key id = SHA-256(name || 0x0A ||
 * type || public key)[:4]. Keys use the Go note string encodings:
 * verifier `<name>+<id>+base64(type || public key)`, signer
 * `PRIVATE+KEY+<name>+<id>+base64(type || 32-byte seed)` (for ML-DSA-44 the
 * FIPS 204 key generation seed ξ).
 *
 * A witness policy is k of n trusted cosigner keys: checkWitnessPolicy counts
 * the distinct trusted keys whose cosignature on the note verifies.
 */
import { createHash, randomBytes, sign, verify } from 'node:crypto';
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { PavilionError } from '../common/errors.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { parseCheckpoint } from './checkpoint.js';
import {
  assertKeyName,
  keyIdHex,
  type NoteSigner,
  type NoteVerifier,
  parseKeyIdHex,
  parseNote,
  privateKeyFromSeed,
  publicKeyFromRaw,
  rawPublicKey,
  splitKeyString,
} from './note.js';

export const COSIGNATURE_ED25519 = 0x04;
export const COSIGNATURE_MLDSA44 = 0x06;
export type CosignatureAlgorithm = 'ed25519' | 'ml-dsa-44';

const TYPE_OF: Record<CosignatureAlgorithm, number> = {
  ed25519: COSIGNATURE_ED25519,
  'ml-dsa-44': COSIGNATURE_MLDSA44,
};
const SIG_BYTES: Record<number, number> = { [COSIGNATURE_ED25519]: 64, [COSIGNATURE_MLDSA44]: 2420 };
const PUBLIC_BYTES: Record<number, number> = { [COSIGNATURE_ED25519]: 32, [COSIGNATURE_MLDSA44]: 1312 };
const MAX_TIMESTAMP = 2n ** 63n - 1n;

export interface Cosigner extends NoteSigner {
  readonly algorithm: CosignatureAlgorithm;
  /** The cosignature's signature bytes (timestamp || signature) over the checkpoint body, at `time` (seconds). */
  cosign(checkpointBody: string, time?: number): Uint8Array;
}

export interface CosignatureVerifier extends NoteVerifier {
  readonly algorithm: CosignatureAlgorithm;
  /** `name+hexid`, as verifiedBy labels keys. */
  readonly label: string;
  /** The timestamp of a cosignature, when it verifies; undefined otherwise. */
  verifiedTime(checkpointBody: string, signature: Uint8Array): number | undefined;
}

function keyId(name: string, type: number, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

function algorithmOf(type: number): CosignatureAlgorithm {
  if (type === COSIGNATURE_ED25519) return 'ed25519';
  if (type === COSIGNATURE_MLDSA44) return 'ml-dsa-44';
  throw new PavilionError('KEY_INVALID', 'cosigner key must be of type 0x04 (Ed25519) or 0x06 (ML-DSA-44)');
}

function ed25519Message(body: string, time: bigint): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, 'utf8');
}

/** The ML-DSA-44 cosigned_message for a checkpoint (start 0, end = size). */
function mldsaMessage(name: string, body: string, time: bigint): Uint8Array {
  const cp = parseCheckpoint(body);
  const nameBytes = Buffer.from(name, 'utf8');
  const origin = Buffer.from(cp.origin, 'utf8');
  if (nameBytes.length > 255 || origin.length > 255)
    throw new PavilionError('KEY_INVALID', 'ML-DSA-44 cosignatures need a name and an origin of at most 255 bytes');
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };
  return Buffer.concat([
    Buffer.from('subtree/v1\n\0', 'latin1'),
    Buffer.from([nameBytes.length]),
    nameBytes,
    u64(time),
    Buffer.from([origin.length]),
    origin,
    u64(0n),
    u64(BigInt(cp.size)),
    Buffer.from(cp.root),
  ]);
}

function timestamped(time: bigint, signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + signature.length);
  new DataView(out.buffer).setBigUint64(0, time);
  out.set(signature, 8);
  return out;
}

function publicKeyOf(type: number, seed: Uint8Array): { publicKey: Uint8Array; secretKey?: Uint8Array } {
  if (type === COSIGNATURE_ED25519) return { publicKey: rawPublicKey(privateKeyFromSeed(seed)) };
  const { publicKey, secretKey } = ml_dsa44.keygen(seed);
  return { publicKey, secretKey };
}

/** A new cosigner signer key string (a secret). */
export function generateCosignerKey(name: string, algorithm: CosignatureAlgorithm = 'ed25519'): string {
  assertKeyName(name);
  const type = TYPE_OF[algorithm];
  const seed = new Uint8Array(randomBytes(32));
  const id = keyId(name, type, publicKeyOf(type, seed).publicKey);
  return `PRIVATE+KEY+${name}+${keyIdHex(id)}+${encodeBase64(Uint8Array.of(type, ...seed))}`;
}

/** Parses a cosigner signer key; errors never echo the key material. */
export function parseCosignerKey(signerKey: string): Cosigner {
  const parts = typeof signerKey === 'string' ? splitKeyString(signerKey, 4) : null;
  if (parts?.[0] !== 'PRIVATE' || parts[1] !== 'KEY')
    throw new PavilionError('KEY_INVALID', 'cosigner key must look like PRIVATE+KEY+<name>+<id>+<key>');
  const [, , name, idHex, keyB64] = parts as [string, string, string, string, string];
  assertKeyName(name);
  const id = parseKeyIdHex(idHex);
  const raw = decodeBase64Strict(keyB64, 'KEY_INVALID', 'cosigner key material');
  const type = raw[0] ?? 0;
  const algorithm = algorithmOf(type);
  if (raw.length !== 33) throw new PavilionError('KEY_INVALID', 'cosigner key must hold a 32-byte seed');
  const seed = raw.subarray(1);
  const { publicKey, secretKey } = publicKeyOf(type, seed);
  if (keyId(name, type, publicKey) !== id)
    throw new PavilionError('KEY_INVALID', 'cosigner key id does not match the key');
  const verifierKey = `${name}+${idHex}+${encodeBase64(Uint8Array.of(type, ...publicKey))}`;
  const privateKey = type === COSIGNATURE_ED25519 ? privateKeyFromSeed(seed) : undefined;
  const cosign = (body: string, time = Math.floor(Date.now() / 1000)): Uint8Array => {
    const t = BigInt(time);
    if (t < 0n || t > MAX_TIMESTAMP) throw new PavilionError('KEY_INVALID', 'cosignature time out of range');
    const signature = privateKey
      ? new Uint8Array(sign(null, ed25519Message(body, t), privateKey))
      : ml_dsa44.sign(mldsaMessage(name, body, t), secretKey!);
    return timestamped(t, signature);
  };
  return { name, keyId: id, verifierKey, algorithm, cosign, signText: (text) => cosign(text) };
}

/** Parses a cosigner verifier key `<name>+<id>+base64(0x04|0x06 || public key)`. */
export function parseCosignatureVerifierKey(verifierKey: string): CosignatureVerifier {
  const parts = typeof verifierKey === 'string' ? splitKeyString(verifierKey, 2) : null;
  if (!parts) throw new PavilionError('KEY_INVALID', 'cosigner verifier key must look like <name>+<id>+<key>');
  const [name, idHex, keyB64] = parts as [string, string, string];
  assertKeyName(name);
  const id = parseKeyIdHex(idHex);
  const raw = decodeBase64Strict(keyB64, 'KEY_INVALID', 'cosigner verifier key material');
  const type = raw[0] ?? 0;
  const algorithm = algorithmOf(type);
  const publicRaw = raw.subarray(1);
  if (publicRaw.length !== PUBLIC_BYTES[type])
    throw new PavilionError('KEY_INVALID', `${algorithm} cosigner public key must be ${PUBLIC_BYTES[type]} bytes`);
  if (keyId(name, type, publicRaw) !== id)
    throw new PavilionError('KEY_INVALID', 'cosigner verifier key id does not match the key');
  let check: (message: Uint8Array, sig: Uint8Array) => boolean;
  if (type === COSIGNATURE_ED25519) {
    let publicKey: ReturnType<typeof publicKeyFromRaw>;
    try {
      publicKey = publicKeyFromRaw(publicRaw);
    } catch (err) {
      throw new PavilionError('KEY_INVALID', 'cosigner key is not a valid Ed25519 public key', { cause: err });
    }
    check = (message, sig) => verify(null, message, publicKey, sig);
  } else {
    check = (message, sig) => {
      try {
        return ml_dsa44.verify(sig, message, publicRaw);
      } catch {
        return false;
      }
    };
  }
  const verifiedTime = (body: string, signature: Uint8Array): number | undefined => {
    if (signature.length !== 8 + SIG_BYTES[type]!) return undefined;
    const time = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0);
    if (time > MAX_TIMESTAMP) return undefined;
    let message: Uint8Array;
    try {
      message = type === COSIGNATURE_ED25519 ? ed25519Message(body, time) : mldsaMessage(name, body, time);
    } catch {
      return undefined; // not a checkpoint body
    }
    return check(message, signature.subarray(8)) ? Number(time) : undefined;
  };
  return {
    name,
    keyId: id,
    algorithm,
    label: `${name}+${idHex}`,
    verifiedTime,
    verifyText: (text, signature) => verifiedTime(text, signature) !== undefined,
  };
}

export interface WitnessPolicy {
  /** Trusted cosigner verifier keys (Ed25519 or ML-DSA-44). */
  witnesses: readonly string[];
  /** How many distinct witnesses must have cosigned (k of n). */
  threshold: number;
}

export interface WitnessPolicyResult {
  /** Labels (`name+hexid`) of the witnesses whose cosignature verified, with the time each cosigned. */
  cosignedBy: { witness: string; algorithm: CosignatureAlgorithm; time: number }[];
  threshold: number;
}

/**
 * Checks a signed checkpoint note against a witness policy. A cosignature by
 * a trusted key that does not verify is WITNESS_SIGNATURE_INVALID; fewer than
 * `threshold` verified witnesses is WITNESS_QUORUM_NOT_MET. The log's own
 * signature is checked elsewhere (openCheckpoint): a cosignature says nothing
 * about who wrote the checkpoint.
 */
export function checkWitnessPolicy(note: string, policy: WitnessPolicy): WitnessPolicyResult {
  const verifiers = policy.witnesses.map(parseCosignatureVerifierKey);
  if (!Number.isSafeInteger(policy.threshold) || policy.threshold < 1 || policy.threshold > verifiers.length)
    throw new PavilionError(
      'WITNESS_POLICY_INVALID',
      'witness threshold must be between 1 and the number of witnesses',
    );
  const parsed = parseNote(note);
  const cosignedBy: WitnessPolicyResult['cosignedBy'] = [];
  for (const sig of parsed.signatures) {
    const v = verifiers.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (!v || cosignedBy.some((c) => c.witness === v.label)) continue;
    const time = v.verifiedTime(parsed.text, sig.signature);
    if (time === undefined)
      throw new PavilionError('WITNESS_SIGNATURE_INVALID', `cosignature by ${v.label} does not verify`);
    cosignedBy.push({ witness: v.label, algorithm: v.algorithm, time });
  }
  if (cosignedBy.length < policy.threshold)
    throw new PavilionError(
      'WITNESS_QUORUM_NOT_MET',
      `${cosignedBy.length} of the required ${policy.threshold} witnesses cosigned the checkpoint`,
    );
  return { cosignedBy, threshold: policy.threshold };
}
