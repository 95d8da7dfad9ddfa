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
 *
 * Every broker on one database must hold the same key. `proveMasterKey` checks it at start against a
 * key-check value sealed once in the database (the table master_key_check), so a replica started with
 * another key refuses to start instead of failing the secrets and linkage chunks it touches.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PavilionError } from '../../common/errors.js';
import { migrate, type ReservedSql, type Sql, withMigrationLock } from '../../storage/postgres.js';

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
  /** Where the key came from, for messages: `MASTER_KEY`, or the development key file. */
  source: string;
}

const NONCE = 12;
const TAG = 16;
const FORMAT = 1;

/** `dataset:<id>` is what linkage secrets were always sealed with; `job:<id>` cannot collide with it. */
function additionalData(owner: SealedFor): Buffer {
  return Buffer.from('dataset' in owner ? `dataset:${owner.dataset}` : `job:${owner.job}`, 'utf8');
}

/** The key-check value's additional data and plaintext: no `dataset:` or `job:` value can be moved onto it. */
const CHECK_AD = Buffer.from('master-key-check', 'utf8');
const CHECK_PLAINTEXT = Buffer.from('pavilion master key check v1', 'utf8');

/** Seals and opens with the secrets key under any additional data (the key check's), kept apart from MasterKeys. */
interface Sealer {
  seal(ad: Buffer, plaintext: Uint8Array): Buffer;
  /** Null when the value is malformed or does not open with this key. */
  open(ad: Buffer, sealed: Uint8Array): Buffer | null;
}
const sealers = new WeakMap<MasterKeys, Sealer>();

/** The key in `file` (STATE_DIR/master.key); SECRET_UNREADABLE, naming the file only, when it cannot be used. */
function readKeyFile(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // EISDIR, EACCES, …: the code says which, the path says where; never a stack at start (server/main.ts).
    const code = (err as { code?: unknown }).code;
    throw new PavilionError(
      'SECRET_UNREADABLE',
      `${file} cannot be read (${typeof code === 'string' ? code : 'error'}): it must be a file holding the ` +
        '32-byte base64 master key (or set MASTER_KEY)',
      { cause: err },
    );
  }
  const raw = Buffer.from(text.trim(), 'base64');
  if (raw.length !== 32)
    throw new PavilionError(
      'SECRET_UNREADABLE',
      `${file} does not hold a 32-byte base64 key: it must be a file holding the master key (or set MASTER_KEY)`,
    );
  return raw;
}

export function loadMasterKeys(opts: {
  masterKey?: string;
  stateDir: string;
  warn?: (msg: string) => void;
}): MasterKeys {
  let raw: Buffer;
  let generated = false;
  let source = 'MASTER_KEY';
  if (opts.masterKey) {
    raw = Buffer.from(opts.masterKey, 'base64');
    if (raw.length !== 32) throw new PavilionError('CONFIG_INVALID', 'MASTER_KEY must be 32 bytes, base64-encoded');
  } else {
    const file = join(opts.stateDir, 'master.key');
    source = `${file} (MASTER_KEY is unset)`;
    if (existsSync(file)) {
      raw = readKeyFile(file);
    } else {
      raw = randomBytes(32);
      mkdirSync(opts.stateDir, { recursive: true });
      try {
        // Created, never opened: 'wx' fails on anything already there, a dangling link included (existsSync is
        // false for one, and a plain write created the key wherever the link pointed).
        writeFileSync(file, `${raw.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        throw new PavilionError(
          'SECRET_UNREADABLE',
          `${file} cannot be created (${typeof code === 'string' ? code : 'error'}): ` +
            'remove what is there, or set MASTER_KEY',
          { cause: err },
        );
      }
    }
    generated = true;
    opts.warn?.(`MASTER_KEY is not set: using a development key kept in ${file}; set MASTER_KEY in production`);
  }
  const secretsKey = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'pavilion secrets v1', 32));
  const cacheSecret = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'pavilion cache v1', 32));
  const auditHashKey = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'pavilion audit query hash v1', 32));
  raw.fill(0);

  const sealer: Sealer = {
    seal(ad, plaintext) {
      const nonce = randomBytes(NONCE);
      const c = createCipheriv('aes-256-gcm', secretsKey, nonce);
      c.setAAD(ad);
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      return Buffer.concat([Buffer.of(FORMAT), nonce, c.getAuthTag(), body]);
    },
    open(ad, sealed) {
      const s = Buffer.from(sealed);
      if (s.length < 1 + NONCE + TAG || s[0] !== FORMAT) return null;
      const d = createDecipheriv('aes-256-gcm', secretsKey, s.subarray(1, 1 + NONCE));
      d.setAAD(ad);
      d.setAuthTag(s.subarray(1 + NONCE, 1 + NONCE + TAG));
      try {
        return Buffer.concat([d.update(s.subarray(1 + NONCE + TAG)), d.final()]);
      } catch {
        return null;
      }
    },
  };
  const keys: MasterKeys = {
    generated,
    source,
    cacheSecret,
    auditHashKey,
    seal: (owner, plaintext) => sealer.seal(additionalData(owner), plaintext),
    open(owner, sealed) {
      const s = Buffer.from(sealed);
      if (s.length < 1 + NONCE + TAG || s[0] !== FORMAT)
        throw new PavilionError('SECRET_UNREADABLE', 'stored sealed value is malformed');
      const opened = sealer.open(additionalData(owner), s);
      // Wrong MASTER_KEY or a tampered row: say so without any key material.
      if (!opened)
        throw new PavilionError(
          'SECRET_UNREADABLE',
          'stored sealed value cannot be decrypted with the configured MASTER_KEY',
        );
      return opened;
    },
  };
  sealers.set(keys, sealer);
  return keys;
}

/**
 * The key check's table: one row at most, the key-check value sealed by the first broker that started on the
 * database with this check (storage/postgres.ts applies it once, under the migration lock).
 */
const MIGRATIONS = [
  `create table master_key_check (
     id boolean primary key default true check (id),
     sealed bytea not null,
     created_at timestamptz not null default now()
   );`,
];

/**
 * Proves at start that `keys` is the master key of the database's sealed values, before the broker serves or takes
 * linkage chunks: opens the key-check value, or, on a database without one (new, or from before the check), writes
 * it, after opening one of the sealed values already there if there are any (so a deployment whose key was mixed up
 * before the check existed is caught too). Under the migration lock, so brokers starting together on a new database
 * agree on one value. A key that does not open them: SECRET_UNREADABLE, naming where the key came from, never the key.
 *
 * Reads the datasets' and the linkage jobs' tables (dataset_secrets, linkage_jobs): call it after their migrations
 * (DatasetStore.open, JobStore.open). Returns what it did.
 */
export async function proveMasterKey(sql: Sql, keys: MasterKeys): Promise<'checked' | 'written'> {
  const sealer = sealers.get(keys);
  if (!sealer) throw new Error('proveMasterKey takes the keys loadMasterKeys made');
  await migrate(sql, 'master-key', MIGRATIONS);
  return withMigrationLock(sql, async (session) => {
    const rows = await session<{ sealed: Buffer }[]>`select sealed from master_key_check where id`;
    if (rows[0]) {
      if (!sealer.open(CHECK_AD, rows[0].sealed)?.equals(CHECK_PLAINTEXT)) throw keyMismatch(keys, 'the key check');
      return 'checked';
    }
    const existing = await oneSealedValue(session);
    if (existing && !sealer.open(additionalData(existing.owner), existing.sealed))
      throw keyMismatch(keys, 'the sealed values');
    await session`insert into master_key_check (sealed) values (${sealer.seal(CHECK_AD, CHECK_PLAINTEXT)})`;
    return 'written';
  });
}

/** One value sealed under the master key before the key check was written, if the database holds any. */
async function oneSealedValue(session: ReservedSql): Promise<{ owner: SealedFor; sealed: Buffer } | undefined> {
  const secrets = await session<{ id: string; sealed: Buffer }[]>`
    select dataset_id as id, sealed from dataset_secrets order by updated_at, dataset_id limit 1`;
  if (secrets[0]) return { owner: { dataset: secrets[0].id }, sealed: secrets[0].sealed };
  const jobs = await session<{ id: string; sealed: Buffer }[]>`
    select id::text as id, coalesce(queries, sealed_blocks) as sealed from linkage_jobs
    where queries is not null or sealed_blocks is not null order by created_at, id limit 1`;
  if (jobs[0]) return { owner: { job: jobs[0].id }, sealed: jobs[0].sealed };
  return undefined;
}

function keyMismatch(keys: MasterKeys, what: string): PavilionError {
  return new PavilionError(
    'SECRET_UNREADABLE',
    `this broker's master key, from ${keys.source}, does not open ${what} stored in the database: every broker ` +
      'on one database must share one MASTER_KEY; start it with the key the others use ' +
      '(docs/operations.md, "Scaling replicas")',
  );
}
