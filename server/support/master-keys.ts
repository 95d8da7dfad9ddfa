/**
 * The master key and what is derived from it.
 *
 * Linkage secrets registered by data providers, and the queries of linkage
 * jobs while they run, are stored AES-256-GCM encrypted under a key derived
 * from MASTER_KEY (HKDF-SHA256, info "pavilion secrets v1"), with the dataset
 * or job id as additional data so a ciphertext cannot be moved to another. The verification cache's
 * keyed hash uses a second derived key (info "pavilion cache v1"), so the
 * cache key reveals nothing about the CLK even to someone reading Redis.
 *
 * With no MASTER_KEY configured (development), a random key is generated
 * once and kept in STATE_DIR/master.key (mode 0600), with a warning.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PavilionError } from '../../common/errors.js';

/** What a sealed value belongs to: its additional data, so a ciphertext cannot be moved to another dataset or job. */
export type SealedFor = { dataset: string } | { job: string };

export interface MasterKeys {
  /** Encrypts a dataset's linkage secret, or a linkage job's queries kept while it runs. */
  seal(owner: SealedFor, plaintext: Uint8Array): Buffer;
  open(owner: SealedFor, sealed: Uint8Array): Buffer;
  /** Secret for the verification cache's keyed hash. */
  cacheSecret: Buffer;
  /** Key of the CLK hash written into audit events (a keyed hash, so the log cannot confirm a guessed CLK offline). */
  auditHashKey: Buffer;
  /** True when the key was generated for development (no MASTER_KEY). */
  generated: boolean;
}

const NONCE = 12;
const TAG = 16;
const FORMAT = 1;

/** `dataset:<id>` is what linkage secrets were always sealed with; `job:<id>` cannot collide with it. */
function additionalData(owner: SealedFor): Buffer {
  return Buffer.from('dataset' in owner ? `dataset:${owner.dataset}` : `job:${owner.job}`, 'utf8');
}

export function loadMasterKeys(opts: {
  masterKey?: string;
  stateDir: string;
  warn?: (msg: string) => void;
}): MasterKeys {
  let raw: Buffer;
  let generated = false;
  if (opts.masterKey) {
    raw = Buffer.from(opts.masterKey, 'base64');
    if (raw.length !== 32) throw new PavilionError('CONFIG_INVALID', 'MASTER_KEY must be 32 bytes, base64-encoded');
  } else {
    const file = join(opts.stateDir, 'master.key');
    if (existsSync(file)) {
      raw = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
      if (raw.length !== 32) throw new PavilionError('CONFIG_INVALID', `${file} does not hold a 32-byte base64 key`);
    } else {
      raw = randomBytes(32);
      mkdirSync(opts.stateDir, { recursive: true });
      writeFileSync(file, `${raw.toString('base64')}\n`, { mode: 0o600 });
    }
    generated = true;
    opts.warn?.(`MASTER_KEY is not set: using a development key kept in ${file}; set MASTER_KEY in production`);
  }
  const secretsKey = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'pavilion secrets v1', 32));
  const cacheSecret = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'pavilion cache v1', 32));
  const auditHashKey = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'pavilion audit query hash v1', 32));
  raw.fill(0);

  return {
    generated,
    cacheSecret,
    auditHashKey,
    seal(owner, plaintext) {
      const nonce = randomBytes(NONCE);
      const c = createCipheriv('aes-256-gcm', secretsKey, nonce);
      c.setAAD(additionalData(owner));
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      return Buffer.concat([Buffer.of(FORMAT), nonce, c.getAuthTag(), body]);
    },
    open(owner, sealed) {
      const s = Buffer.from(sealed);
      if (s.length < 1 + NONCE + TAG || s[0] !== FORMAT)
        throw new PavilionError('SECRET_UNREADABLE', 'stored sealed value is malformed');
      const d = createDecipheriv('aes-256-gcm', secretsKey, s.subarray(1, 1 + NONCE));
      d.setAAD(additionalData(owner));
      d.setAuthTag(s.subarray(1 + NONCE, 1 + NONCE + TAG));
      try {
        return Buffer.concat([d.update(s.subarray(1 + NONCE + TAG)), d.final()]);
      } catch {
        // Wrong MASTER_KEY or a tampered row: say so without any key material.
        throw new PavilionError(
          'SECRET_UNREADABLE',
          'stored sealed value cannot be decrypted with the configured MASTER_KEY',
        );
      }
    },
  };
}
