/**
 * Dataset registry persistence: datasets (schema, claim names, policy flags),
 * their versions, the rows of each version, and the encrypted linkage
 * secrets. This module owns its SQL (applied through storage/postgres.ts
 * migrate under the component name "datasets").
 *
 * Rows are stored in chunks of up to CHUNK_ROWS: one bytea of concatenated
 * CLKs, a text[] of refs and a jsonb array of claims per chunk. One row per
 * record would cost ~1M inserts for a 1M-record version (real Postgres does
 * ~10k single-row inserts/s here, PGlite ~2k/s, see docs/decisions.md, "Audit appends"); chunks of
 * 16k rows are ~2 MB each and load back in a few dozen queries.
 */

import type { TransactionSql } from 'postgres';
import type { ErrorCode } from '../../common/error-codes.js';
import { PavilionError } from '../../common/errors.js';
import type { Sql } from '../../storage/postgres.js';
import { migrate } from '../../storage/postgres.js';
import { type ClaimType, type ClaimTypes, claimTypeProblem } from './claim-types.js';
import type { VersionSummary } from './upload.js';

export const CHUNK_ROWS = 16_384;
/**
 * Every change other broker processes must follow (definition, active
 * version, deletion) sends the dataset id on this channel, from inside the
 * changing transaction, so it is delivered exactly when the change commits.
 */
export const CHANGES_CHANNEL = 'pavilion_datasets';

const MIGRATIONS = [
  `create table datasets (
     id text primary key,
     owner text not null,
     schema jsonb not null,
     claims jsonb not null,
     filter_bits integer not null,
     allow_broker_encoding boolean not null default false,
     purposes jsonb,
     active_version integer,
     row_count integer not null default 0,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now()
   );
   create table dataset_versions (
     dataset_id text not null references datasets(id) on delete cascade,
     version integer not null,
     status text not null check (status in ('loading', 'active', 'superseded', 'failed')),
     row_count integer not null default 0,
     filter_bits integer not null,
     created_by text not null,
     created_at timestamptz not null default now(),
     activated_at timestamptz,
     primary key (dataset_id, version)
   );
   create table dataset_chunks (
     dataset_id text not null,
     version integer not null,
     chunk integer not null,
     row_count integer not null,
     refs text[] not null,
     clks bytea not null,
     claims jsonb not null,
     primary key (dataset_id, version, chunk),
     foreign key (dataset_id, version) references dataset_versions (dataset_id, version) on delete cascade
   );
   create table dataset_secrets (
     dataset_id text primary key references datasets(id) on delete cascade,
     sealed bytea not null,
     updated_by text not null,
     updated_at timestamptz not null default now()
   );`,
  // Deletion keeps the dataset row (owner, id) and its version list, so a
  // re-created dataset continues the version numbers: cache keys carry
  // (dataset, version) and must never name two different uploads.
  `alter table datasets add column deleted_at timestamptz;
   alter table dataset_versions drop constraint dataset_versions_status_check;
   alter table dataset_versions add constraint dataset_versions_status_check
     check (status in ('loading', 'active', 'superseded', 'failed', 'deleted'));`,
  // Staged versions and rollback (docs/data-providers.md). `superseded` now means "the previous
  // version, rows kept, what a rollback activates"; versions whose rows were dropped are `retired`
  // (every superseded one so far: activation used to drop all other rows). A loading version carries
  // the heartbeat of the process writing it (common/heartbeat.ts); the secret fingerprint its
  // provider declared, what its upload held (summary) and why it failed are kept with it. Claim
  // types (server/datasets/claim-types.ts) and the fingerprint of the registered secret too.
  `alter table dataset_versions drop constraint dataset_versions_status_check;
   update dataset_versions set status = 'retired' where status = 'superseded';
   alter table dataset_versions add constraint dataset_versions_status_check
     check (status in ('loading', 'staged', 'active', 'superseded', 'retired', 'failed', 'discarded', 'deleted'));
   alter table dataset_versions add column heartbeat_at timestamptz not null default now();
   alter table dataset_versions add column secret_fingerprint text;
   alter table dataset_versions add column summary jsonb;
   alter table dataset_versions add column error_code text;
   alter table datasets add column claim_types jsonb;
   alter table dataset_secrets add column fingerprint text;`,
];

/**
 * Version states. Rows are kept for `loading`, `staged`, `active` and `superseded` (the live ones, all
 * encoded with the dataset's current schema, which is why the schema cannot change while one exists).
 */
export type VersionStatus =
  | 'loading'
  | 'staged'
  | 'active'
  | 'superseded'
  | 'retired'
  | 'failed'
  | 'discarded'
  | 'deleted';
export const LIVE_STATUSES: readonly VersionStatus[] = ['loading', 'staged', 'active', 'superseded'];

/** The code a loading version gets when the process writing it stopped beating (common/heartbeat.ts). */
const UPLOAD_INTERRUPTED: ErrorCode = 'UPLOAD_INTERRUPTED';

export interface VersionRecord {
  dataset: string;
  version: number;
  status: VersionStatus;
  rows: number;
  filterBits: number;
  createdBy: string;
  createdAt: Date;
  activatedAt: Date | null;
  secretFingerprint: string | null;
  summary: VersionSummary | null;
  errorCode: string | null;
}

interface VersionRow {
  dataset_id: string;
  version: number;
  status: VersionStatus;
  row_count: number;
  filter_bits: number;
  created_by: string;
  created_at: Date;
  activated_at: Date | null;
  secret_fingerprint: string | null;
  summary: VersionSummary | null;
  error_code: string | null;
}

function toVersion(r: VersionRow): VersionRecord {
  return {
    dataset: r.dataset_id,
    version: r.version,
    status: r.status,
    rows: r.row_count,
    filterBits: r.filter_bits,
    createdBy: r.created_by,
    createdAt: r.created_at,
    activatedAt: r.activated_at,
    secretFingerprint: r.secret_fingerprint,
    summary: r.summary,
    errorCode: r.error_code,
  };
}

const VERSION_COLUMNS =
  'dataset_id, version, status, row_count, filter_bits, created_by, created_at, activated_at, ' +
  'secret_fingerprint, summary, error_code';

export interface DatasetDefinition {
  id: string;
  owner: string;
  schema: unknown;
  claims: string[];
  /** Every claim's type (`scalar` for those declared by name only). */
  claimTypes: ClaimTypes;
  filterBits: number;
  allowBrokerEncoding: boolean;
  purposes: string[] | null;
}

/** A stored dataset: its definition plus what the store maintains. */
export interface DatasetRecord extends DatasetDefinition {
  activeVersion: number | null;
  rowCount: number;
  /** The fingerprint its provider declared for the secret the active version was encoded with. */
  secretFingerprint: string | null;
  /** The fingerprint of the secret registered for broker-side encoding (null: none, or not computed yet). */
  brokerSecretFingerprint: string | null;
  /** A secret is registered for broker-side encoding. */
  hasBrokerSecret: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type Claims = Record<string, unknown> | null;

export interface VersionRows {
  refs: string[];
  /** Concatenated CLKs, filterBits/8 bytes each. */
  clks: Uint8Array;
  claims: Claims[];
}

/** Where DatasetStore.readVersionInto puts a version's rows. */
export interface VersionSink {
  /** Room for `total` rows' CLKs (total × filterBits/8 bytes), asked once before any row. */
  begin(total: number): Uint8Array;
  /** The next rows' refs and claims, in upload order (claims may be shorter than refs: missing is null). */
  rows(refs: readonly string[], claims: readonly Claims[]): void;
}

interface DatasetRow {
  id: string;
  owner: string;
  schema: unknown;
  claims: string[];
  claim_types: Record<string, ClaimType> | null;
  active_secret_fingerprint: string | null;
  broker_secret_fingerprint: string | null;
  has_broker_secret: boolean;
  filter_bits: number;
  allow_broker_encoding: boolean;
  purposes: string[] | null;
  active_version: number | null;
  row_count: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

function toRecord(r: DatasetRow): DatasetRecord {
  return {
    id: r.id,
    owner: r.owner,
    schema: r.schema,
    claims: r.claims,
    claimTypes: Object.fromEntries(r.claims.map((n) => [n, r.claim_types?.[n] ?? 'scalar'])),
    filterBits: r.filter_bits,
    allowBrokerEncoding: r.allow_broker_encoding,
    purposes: r.purposes,
    activeVersion: r.active_version,
    rowCount: r.row_count,
    secretFingerprint: r.active_secret_fingerprint ?? null,
    brokerSecretFingerprint: r.broker_secret_fingerprint ?? null,
    hasBrokerSecret: r.has_broker_secret ?? false,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A dataset with what the listing joins in: the active version's fingerprint, the registered secret's. */
const DATASET_SELECT = `
  select d.*, v.secret_fingerprint as active_secret_fingerprint, s.fingerprint as broker_secret_fingerprint,
         (s.dataset_id is not null) as has_broker_secret
  from datasets d
  left join dataset_versions v on v.dataset_id = d.id and v.version = d.active_version
  left join dataset_secrets s on s.dataset_id = d.id`;

export class DatasetStore {
  private constructor(private readonly sql: Sql) {}

  static async open(sql: Sql): Promise<DatasetStore> {
    await migrate(sql, 'datasets', MIGRATIONS);
    return new DatasetStore(sql);
  }

  /** The dataset, or null when unknown or deleted (`includeDeleted`: a deleted one too, for its owner). */
  async get(id: string, opts: { includeDeleted?: boolean } = {}): Promise<DatasetRecord | null> {
    const rows = await this.sql<DatasetRow[]>`${this.sql.unsafe(DATASET_SELECT)}
      where d.id = ${id} and (${opts.includeDeleted ?? false} or d.deleted_at is null)`;
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async list(): Promise<DatasetRecord[]> {
    const rows = await this.sql<DatasetRow[]>`${this.sql.unsafe(DATASET_SELECT)}
      where d.deleted_at is null order by d.id`;
    return rows.map(toRecord);
  }

  /**
   * Deletes a dataset's data: every version's rows and the sealed linkage
   * secret go; the row itself stays as a tombstone (owner, version count).
   * Returns the versions that held rows, or null when there was no such dataset.
   */
  async delete(id: string): Promise<{ versions: number } | null> {
    return this.sql.begin(async (tx) => {
      const ds =
        await tx`update datasets set deleted_at = now(), active_version = null, row_count = 0, updated_at = now()
                          where id = ${id} and deleted_at is null returning id`;
      if (ds.length === 0) return null;
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${id})`;
      const versions = await tx`
        update dataset_versions set status = 'deleted'
        where dataset_id = ${id} and status = any(${LIVE_STATUSES as string[]}) returning version`;
      await tx`delete from dataset_chunks where dataset_id = ${id}`;
      await tx`delete from dataset_secrets where dataset_id = ${id}`;
      return { versions: versions.length };
    });
  }

  /**
   * Creates or updates a dataset definition. The owner never changes. While the dataset has a live
   * version (loading, staged, active or the previous one, LIVE_STATUSES), its linkage schema may not
   * change (those CLKs were encoded with it: 409 DATASET_SCHEMA_CONFLICT), and a claim's type may
   * change, or a claim be declared again, only when every stored value of every live version fits the
   * new type (409 DATASET_CLAIM_TYPE_CONFLICT naming the version, row and claim).
   */
  async upsert(def: DatasetDefinition): Promise<{ created: boolean; record: DatasetRecord }> {
    return this.sql.begin(async (tx) => {
      const existing = await tx<DatasetRow[]>`select * from datasets where id = ${def.id} for update`;
      const revived = existing[0]?.deleted_at != null;
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${def.id})`;
      const cur = existing[0];
      if (cur) {
        const live = await tx<{ version: number; status: VersionStatus }[]>`
          select version, status from dataset_versions
          where dataset_id = ${def.id} and status = any(${LIVE_STATUSES as string[]}) order by version`;
        if (live.length > 0) {
          const [{ same }] = await tx<{ same: boolean }[]>`
            select schema = ${tx.json(def.schema as never)}::jsonb as same from datasets where id = ${def.id}`;
          const named = live.map((v) => `${v.version} (${v.status})`).join(', ');
          if (!same)
            throw new PavilionError(
              'DATASET_SCHEMA_CONFLICT',
              `the dataset has versions encoded with its current linkage schema (${named}); a new schema needs a ` +
                'new dataset, or this one deleted and its records re-encoded',
            );
          const before = cur.claim_types ?? {};
          // A claim not declared now may still be stored in live versions (dropped, then declared again with
          // another type): its values are checked as a changed type's are.
          const changed = def.claims.filter(
            (n) => !cur.claims.includes(n) || (before[n] ?? 'scalar') !== (def.claimTypes[n] ?? 'scalar'),
          );
          if (changed.length > 0) {
            if (live.some((v) => v.status === 'loading'))
              throw new PavilionError(
                'DATASET_CLAIM_TYPE_CONFLICT',
                `an upload is in progress: claim types (${changed.join(', ')}) can change once it ended`,
              );
            await this.checkStoredClaims(
              tx,
              def.id,
              live.map((v) => v.version),
              Object.fromEntries(changed.map((n) => [n, def.claimTypes[n] ?? 'scalar'])),
            );
          }
        }
      }
      const purposes = def.purposes === null ? null : tx.json(def.purposes);
      const claimTypes = tx.json(def.claimTypes as never);
      const rows = cur
        ? await tx<DatasetRow[]>`
            update datasets set schema = ${tx.json(def.schema as never)}, claims = ${tx.json(def.claims)},
              claim_types = ${claimTypes}, filter_bits = ${def.filterBits},
              allow_broker_encoding = ${def.allowBrokerEncoding},
              purposes = ${purposes}, deleted_at = null, updated_at = now()
            where id = ${def.id} returning id`
        : await tx<DatasetRow[]>`
            insert into datasets (id, owner, schema, claims, claim_types, filter_bits, allow_broker_encoding, purposes)
            values (${def.id}, ${def.owner}, ${tx.json(def.schema as never)}, ${tx.json(def.claims)}, ${claimTypes},
                    ${def.filterBits}, ${def.allowBrokerEncoding}, ${purposes})
            returning id`;
      const [record] = await tx<DatasetRow[]>`${tx.unsafe(DATASET_SELECT)} where d.id = ${rows[0]!.id}`;
      return { created: !cur || revived, record: toRecord(record!) };
    });
  }

  /** Every stored claim of `versions` fits `types` (the claims whose type changes), or DATASET_CLAIM_TYPE_CONFLICT. */
  private async checkStoredClaims(
    tx: TransactionSql,
    id: string,
    versions: number[],
    types: Record<string, ClaimType>,
  ): Promise<void> {
    const chunks = await tx<{ version: number; chunk: number }[]>`
      select version, chunk from dataset_chunks where dataset_id = ${id} and version = any(${versions}::int[])
      order by version, chunk`;
    const rowBase = new Map<number, number>();
    for (const { version, chunk } of chunks) {
      const [row] = await tx<{ claims: Claims[] }[]>`
        select claims from dataset_chunks where dataset_id = ${id} and version = ${version} and chunk = ${chunk}`;
      const base = rowBase.get(version) ?? 0;
      const claims = row?.claims ?? [];
      claims.forEach((c, i) => {
        if (!c) return;
        for (const [name, type] of Object.entries(types)) {
          const problem = Object.hasOwn(c, name) ? claimTypeProblem(type, c[name]) : null;
          if (problem !== null)
            throw new PavilionError(
              'DATASET_CLAIM_TYPE_CONFLICT',
              `version ${version}, record ${base + i}: claim ${name} ${problem}; upload a version that fits the ` +
                'new type first, or discard the versions that do not',
            );
        }
      });
      rowBase.set(version, base + claims.length);
    }
  }

  /** Allocates the next version number, marked `loading` (and beating) until it is staged or activated. */
  async beginVersion(
    id: string,
    filterBits: number,
    createdBy: string,
    secretFingerprint: string | null = null,
  ): Promise<number> {
    return this.sql.begin(async (tx) => {
      const ds = await tx`select 1 from datasets where id = ${id} and deleted_at is null for update`;
      if (ds.length === 0) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
      const [{ next }] = await tx<{ next: number }[]>`
        select coalesce(max(version), 0) + 1 as next from dataset_versions where dataset_id = ${id}`;
      await tx`insert into dataset_versions (dataset_id, version, status, filter_bits, created_by, secret_fingerprint)
               values (${id}, ${next}, 'loading', ${filterBits}, ${createdBy}, ${secretFingerprint})`;
      return next;
    });
  }

  async writeChunk(id: string, version: number, chunk: number, rows: VersionRows): Promise<void> {
    const clks = Buffer.from(rows.clks.buffer, rows.clks.byteOffset, rows.clks.byteLength);
    await this.sql`
      insert into dataset_chunks (dataset_id, version, chunk, row_count, refs, clks, claims)
      values (${id}, ${version}, ${chunk}, ${rows.refs.length}, ${this.sql.array(rows.refs)}, ${clks},
              ${this.sql.json(rows.claims as never)})`;
  }

  /**
   * A loading version, fully written, becomes `staged`: stored and checked, not served. UPLOAD_INTERRUPTED
   * when it is no longer loading (a sweep failed it while this process could not beat).
   */
  async stageVersion(id: string, version: number, summary: VersionSummary): Promise<VersionRecord> {
    const rows = await this.sql<VersionRow[]>`
      update dataset_versions
      set status = 'staged', row_count = ${summary.rows}, summary = ${this.sql.json(summary as never)}
      where dataset_id = ${id} and version = ${version} and status = 'loading'
      returning ${this.sql.unsafe(VERSION_COLUMNS)}`;
    if (!rows[0]) throw new PavilionError(UPLOAD_INTERRUPTED, 'the upload was given up while it was being stored');
    return toVersion(rows[0]);
  }

  /**
   * Makes `version` the active one, in one transaction: it must be in one of `from` (a finished
   * upload is `loading`; an explicit activation takes `staged` or `superseded`). The active version
   * becomes `superseded` (what a rollback activates, rows kept); the superseded one before it is
   * `retired` and its rows are dropped. So the database holds the rows of the active version, the
   * previous one and any staged ones, and a restart loads only the active one. Returns the version
   * that was active before, if any.
   */
  async activateVersion(
    id: string,
    version: number,
    opts: { from: readonly VersionStatus[]; rows?: number; summary?: VersionSummary },
  ): Promise<{ previous: number | null; rows: number }> {
    return this.sql.begin(async (tx) => {
      const ds = await tx<{ active_version: number | null }[]>`
        select active_version from datasets where id = ${id} and deleted_at is null for update`;
      // Deleted meanwhile (by another broker process): nothing to activate.
      if (ds.length === 0) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
      const [target] = await tx<VersionRow[]>`
        select ${tx.unsafe(VERSION_COLUMNS)} from dataset_versions where dataset_id = ${id} and version = ${version}`;
      if (!target) throw new PavilionError('VERSION_NOT_FOUND', `the dataset has no version ${version}`);
      if (!opts.from.includes(target.status)) {
        // An upload activating its own version finds it failed (or gone) only when a sweep gave it up.
        if (opts.from.includes('loading'))
          throw new PavilionError(UPLOAD_INTERRUPTED, `version ${version} was given up while it was being stored`);
        throw new PavilionError(
          'VERSION_STATE_CONFLICT',
          `version ${version} is ${target.status}: only a staged version or the previous one can be activated`,
        );
      }
      const rows = opts.rows ?? target.row_count;
      await tx`with retired as (
                 update dataset_versions set status = 'retired'
                 where dataset_id = ${id} and status = 'superseded' and version <> ${version} returning version)
               delete from dataset_chunks c using retired r where c.dataset_id = ${id} and c.version = r.version`;
      await tx`update dataset_versions set status = 'superseded' where dataset_id = ${id} and status = 'active'`;
      await tx`update dataset_versions set status = 'active', row_count = ${rows}, activated_at = now(),
                 summary = coalesce(${opts.summary ? tx.json(opts.summary as never) : null}, summary)
               where dataset_id = ${id} and version = ${version}`;
      await tx`
        update datasets set active_version = ${version}, row_count = ${rows}, updated_at = now() where id = ${id}`;
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${id})`;
      return { previous: ds[0]!.active_version, rows };
    });
  }

  /**
   * Ends a version that will never serve: a failed upload (only while still `loading`: one activated
   * meanwhile stays active) or a staged or previous version the provider discards. Its rows go.
   */
  async failVersion(id: string, version: number, code: string | null = null): Promise<void> {
    await this.sql.begin(async (tx) => {
      const done = await tx`update dataset_versions set status = 'failed', error_code = ${code}
                            where dataset_id = ${id} and version = ${version} and status = 'loading' returning version`;
      if (done.length > 0) await tx`delete from dataset_chunks where dataset_id = ${id} and version = ${version}`;
    });
  }

  /** Discards a staged or previous version (its rows go). VERSION_STATE_CONFLICT for any other. */
  async discardVersion(id: string, version: number): Promise<VersionRecord> {
    return this.sql.begin(async (tx) => {
      const [cur] = await tx<VersionRow[]>`
        select ${tx.unsafe(VERSION_COLUMNS)} from dataset_versions where dataset_id = ${id} and version = ${version}
        for update`;
      if (!cur) throw new PavilionError('VERSION_NOT_FOUND', `the dataset has no version ${version}`);
      if (cur.status !== 'staged' && cur.status !== 'superseded')
        throw new PavilionError(
          'VERSION_STATE_CONFLICT',
          `version ${version} is ${cur.status}: only a staged version or the previous one can be discarded`,
        );
      const [row] = await tx<VersionRow[]>`
        update dataset_versions set status = 'discarded' where dataset_id = ${id} and version = ${version}
        returning ${tx.unsafe(VERSION_COLUMNS)}`;
      await tx`delete from dataset_chunks where dataset_id = ${id} and version = ${version}`;
      return toVersion(row!);
    });
  }

  async versions(id: string): Promise<VersionRecord[]> {
    const rows = await this.sql<VersionRow[]>`
      select ${this.sql.unsafe(VERSION_COLUMNS)} from dataset_versions where dataset_id = ${id} order by version desc`;
    return rows.map(toVersion);
  }

  async version(id: string, version: number): Promise<VersionRecord | null> {
    const rows = await this.sql<VersionRow[]>`
      select ${this.sql.unsafe(VERSION_COLUMNS)} from dataset_versions
      where dataset_id = ${id} and version = ${version}`;
    return rows[0] ? toVersion(rows[0]) : null;
  }

  /** Refreshes the heartbeat of versions this process is writing. */
  async heartbeatVersions(versions: { dataset: string; version: number }[]): Promise<void> {
    if (versions.length === 0) return;
    await this.sql`
      update dataset_versions v set heartbeat_at = now()
      from (select unnest(${versions.map((v) => v.dataset)}::text[]) as dataset_id,
                   unnest(${versions.map((v) => v.version)}::int[]) as version) mine
      where v.dataset_id = mine.dataset_id and v.version = mine.version and v.status = 'loading'`;
  }

  /**
   * Loading versions whose writer stopped beating `ms` ago (it was killed, or lost the database):
   * failed with UPLOAD_INTERRUPTED and their rows dropped, so a version is never `loading` forever.
   */
  async failStaleLoading(ms: number): Promise<{ dataset: string; version: number }[]> {
    return this.sql.begin(async (tx) => {
      const failed = await tx<{ dataset_id: string; version: number }[]>`
        update dataset_versions set status = 'failed', error_code = ${UPLOAD_INTERRUPTED}
        where status = 'loading' and heartbeat_at < now() - ${ms} * interval '1 millisecond'
        returning dataset_id, version`;
      for (const f of failed)
        await tx`delete from dataset_chunks where dataset_id = ${f.dataset_id} and version = ${f.version}`;
      return failed.map((f) => ({ dataset: f.dataset_id, version: f.version }));
    });
  }

  /** Reads every row of a version, in upload order. */
  async readVersion(id: string, version: number, filterBits: number): Promise<VersionRows> {
    let clks = new Uint8Array(0);
    const refs: string[] = [];
    const claims: Claims[] = [];
    await this.readVersionInto(id, version, filterBits, {
      begin: (total) => {
        clks = new Uint8Array(total * (filterBits / 8));
        return clks;
      },
      rows: (r, c) => {
        for (let i = 0; i < r.length; i++) {
          refs.push(r[i]!);
          claims.push(c[i] ?? null);
        }
      },
    });
    return { refs, clks, claims };
  }

  /**
   * Reads every row of a version, in upload order, into `sink`: the CLKs straight into the buffer it
   * gives for all of them (the engine's shared memory when a broker loads a version, so 10M records'
   * filters are never held twice), refs and claims chunk by chunk. One chunk per query keeps the driver's
   * buffers small.
   */
  async readVersionInto(id: string, version: number, filterBits: number, sink: VersionSink): Promise<number> {
    const bytes = filterBits / 8;
    const [{ total }] = await this.sql<{ total: number }[]>`
      select coalesce(sum(row_count), 0)::int as total from dataset_chunks
      where dataset_id = ${id} and version = ${version}`;
    const clks = sink.begin(total);
    let at = 0;
    const chunks = await this.sql<{ chunk: number }[]>`
      select chunk from dataset_chunks where dataset_id = ${id} and version = ${version} order by chunk`;
    for (const { chunk } of chunks) {
      const [row] = await this.sql<{ refs: string[]; clks: Buffer; claims: Claims[]; row_count: number }[]>`
        select refs, clks, claims, row_count from dataset_chunks
        where dataset_id = ${id} and version = ${version} and chunk = ${chunk}`;
      if (!row || row.clks.length !== row.row_count * bytes || at + row.row_count > total)
        throw new PavilionError('DATASET_CORRUPT', `stored chunk ${chunk} of version ${version} is inconsistent`);
      clks.set(row.clks, at * bytes);
      sink.rows(row.refs, row.claims);
      at += row.row_count;
    }
    return at;
  }

  /**
   * Calls `onChange(id)` for every dataset change committed by any process
   * (CHANGES_CHANNEL), and `onListening()` each time the listening connection
   * is (re)established, when changes may have been missed meanwhile. Needs a
   * connection of its own: not for the single-connection embedded server.
   */
  async listenForChanges(onChange: (id: string) => void, onListening: () => void): Promise<() => Promise<void>> {
    const { unlisten } = await this.sql.listen(CHANGES_CHANNEL, onChange, onListening);
    return unlisten;
  }

  async setSecret(id: string, sealed: Uint8Array, updatedBy: string, fingerprint: string): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`
        insert into dataset_secrets (dataset_id, sealed, updated_by, fingerprint)
        values (${id}, ${Buffer.from(sealed)}, ${updatedBy}, ${fingerprint})
        on conflict (dataset_id) do update set sealed = excluded.sealed, updated_by = excluded.updated_by,
          fingerprint = excluded.fingerprint, updated_at = now()`;
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${id})`;
    });
  }

  /** Records the fingerprint of a secret registered before fingerprints existed (computed by its opener). */
  async setSecretFingerprint(id: string, fingerprint: string): Promise<void> {
    await this
      .sql`update dataset_secrets set fingerprint = ${fingerprint} where dataset_id = ${id} and fingerprint is null`;
  }

  async getSecret(id: string): Promise<Buffer | null> {
    const rows = await this.sql<{ sealed: Buffer }[]>`select sealed from dataset_secrets where dataset_id = ${id}`;
    return rows[0]?.sealed ?? null;
  }

  async hasSecret(id: string): Promise<boolean> {
    const rows = await this.sql`select 1 from dataset_secrets where dataset_id = ${id}`;
    return rows.length > 0;
  }
}
