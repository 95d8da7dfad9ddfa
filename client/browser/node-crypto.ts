/**
 * node:crypto for the browser bundle (client/build.ts aliases it here): just
 * what the bundled modules call, backed by @noble/hashes and @noble/curves,
 * synchronous as node:crypto is. Used by the CLK encoder's key derivation
 * (engine/clk/keys.ts: HMAC-SHA256/512) and by receipt verification
 * (audit/merkle/hash.ts: SHA-256, one-shot too; audit/note.ts: Ed25519 verify of an SPKI
 * key). Signing and key generation are the broker's, not a browser's: they
 * throw here.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { Buffer } from 'buffer';

/** What hmac.create and .create() need of a noble hash. */
type Noble = Parameters<typeof hmac.create>[0];
const HASHES: Record<string, Noble> = { sha256, sha512, sha1, md5 };

function hashFn(alg: string): Noble {
  const h = HASHES[alg.toLowerCase()];
  if (!h) throw new Error(`browser crypto: ${alg} is not bundled`);
  return h;
}

const bytes = (data: string | Uint8Array): Uint8Array =>
  typeof data === 'string' ? new TextEncoder().encode(data) : data;

interface Updatable {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

function wrap(h: Updatable) {
  const self = {
    update(data: string | Uint8Array, _encoding?: string) {
      h.update(bytes(data));
      return self;
    },
    digest(encoding?: 'hex' | 'base64') {
      const out = Buffer.from(h.digest());
      return encoding ? out.toString(encoding) : out;
    },
  };
  return self;
}

export function createHash(alg: string) {
  return wrap(hashFn(alg).create());
}

/** One-shot crypto.hash (Node ≥ 20.12), which audit/merkle/hash.ts calls on the broker's append path. */
export function hash(alg: string, data: string | Uint8Array, encoding?: 'hex' | 'base64' | 'buffer') {
  const out = Buffer.from(hashFn(alg).create().update(bytes(data)).digest());
  return encoding === 'hex' || encoding === 'base64' ? out.toString(encoding) : out;
}

export function createHmac(alg: string, key: string | Uint8Array) {
  return wrap(hmac.create(hashFn(alg), bytes(key)));
}

/** An Ed25519 public key: the SPKI DER audit/note.ts builds ends with the 32 raw bytes. */
interface PublicKey {
  raw: Uint8Array;
}

export function createPublicKey(opts: { key: Uint8Array; format: string; type: string }): PublicKey {
  if (opts.format !== 'der' || opts.type !== 'spki' || opts.key.length !== 44)
    throw new Error('browser crypto: only Ed25519 SPKI public keys are bundled');
  return { raw: opts.key.subarray(12) };
}

/** Strict RFC 8032 verification, as node:crypto's (ZIP-215's laxer rules off). */
export function verify(_alg: null, data: Uint8Array, key: PublicKey, signature: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, data, key.raw, { zip215: false });
  } catch {
    return false;
  }
}

const unavailable = (what: string) => () => {
  throw new Error(`browser crypto: ${what} is not available in the browser bundle`);
};
export const createPrivateKey = unavailable('createPrivateKey');
export const sign = unavailable('sign');
export const randomBytes = unavailable('randomBytes');
export const timingSafeEqual = unavailable('timingSafeEqual');
export type KeyObject = PublicKey;
