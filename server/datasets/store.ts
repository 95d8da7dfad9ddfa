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

import { PavilionError } from '../../common/errors.js';
import type { Sql } from '../../storage/postgres.js';
import { migrate } from '../../storage/postgres.js';

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
];

export interface DatasetDefinition {
  id: string;
  owner: string;
  schema: unknown;
  claims: string[];
  filterBits: number;
  allowBrokerEncoding: boolean;
  purposes: string[] | null;
}

/** A stored dataset: its definition plus what the store maintains. */
export interface DatasetRecord extends DatasetDefinition {
  activeVersion: number | null;
  rowCount: number;
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

interface DatasetRow {
  id: string;
  owner: string;
  schema: unknown;
  claims: string[];
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
    filterBits: r.filter_bits,
    allowBrokerEncoding: r.allow_broker_encoding,
    purposes: r.purposes,
    activeVersion: r.active_version,
    rowCount: r.row_count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class DatasetStore {
  private constructor(private readonly sql: Sql) {}

  static async open(sql: Sql): Promise<DatasetStore> {
    await migrate(sql, 'datasets', MIGRATIONS);
    return new DatasetStore(sql);
  }

  /** The dataset, or null when unknown or deleted (`includeDeleted`: a deleted one too, for its owner). */
  async get(id: string, opts: { includeDeleted?: boolean } = {}): Promise<DatasetRecord | null> {
    const rows = await this.sql<
      DatasetRow[]
    >`select * from datasets where id = ${id} and (${opts.includeDeleted ?? false} or deleted_at is null)`;
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async list(): Promise<DatasetRecord[]> {
    const rows = await this.sql<DatasetRow[]>`select * from datasets where deleted_at is null order by id`;
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
      const versions = await tx`update dataset_versions set status = 'deleted'
                                where dataset_id = ${id} and status in ('loading', 'active') returning version`;
      await tx`delete from dataset_chunks where dataset_id = ${id}`;
      await tx`delete from dataset_secrets where dataset_id = ${id}`;
      return { versions: versions.length };
    });
  }

  /**
   * Creates or updates a dataset definition. The owner never changes; the
   * filter length may change only while no version is active (the loaded
   * CLKs would no longer fit the schema).
   */
  async upsert(def: DatasetDefinition): Promise<{ created: boolean; record: DatasetRecord }> {
    return this.sql.begin(async (tx) => {
      const existing = await tx<DatasetRow[]>`select * from datasets where id = ${def.id} for update`;
      const revived = existing[0]?.deleted_at != null;
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${def.id})`;
      const cur = existing[0];
      if (cur && cur.active_version !== null && cur.filter_bits !== def.filterBits) {
        throw new PavilionError(
          'DATASET_SCHEMA_CONFLICT',
          `dataset has an active version of ${cur.filter_bits}-bit CLKs; the new schema has ${def.filterBits}`,
        );
      }
      const purposes = def.purposes === null ? null : tx.json(def.purposes);
      const rows = cur
        ? await tx<DatasetRow[]>`
            update datasets set schema = ${tx.json(def.schema as never)}, claims = ${tx.json(def.claims)},
              filter_bits = ${def.filterBits}, allow_broker_encoding = ${def.allowBrokerEncoding},
              purposes = ${purposes}, deleted_at = null, updated_at = now()
            where id = ${def.id} returning *`
        : await tx<DatasetRow[]>`
            insert into datasets (id, owner, schema, claims, filter_bits, allow_broker_encoding, purposes)
            values (${def.id}, ${def.owner}, ${tx.json(def.schema as never)}, ${tx.json(def.claims)}, ${def.filterBits},
                    ${def.allowBrokerEncoding}, ${purposes})
            returning *`;
      return { created: !cur || revived, record: toRecord(rows[0]!) };
    });
  }

  /** Allocates the next version number, marked `loading` until activated. */
  async beginVersion(id: string, filterBits: number, createdBy: string): Promise<number> {
    return this.sql.begin(async (tx) => {
      const ds = await tx`select 1 from datasets where id = ${id} and deleted_at is null for update`;
      if (ds.length === 0) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
      const [{ next }] = await tx<{ next: number }[]>`
        select coalesce(max(version), 0) + 1 as next from dataset_versions where dataset_id = ${id}`;
      await tx`insert into dataset_versions (dataset_id, version, status, filter_bits, created_by)
               values (${id}, ${next}, 'loading', ${filterBits}, ${createdBy})`;
      return next;
    });
  }

  async writeChunk(id: string, version: number, chunk: number, rows: VersionRows): Promise<void> {
    const clks = Buffer.from(rows.clks.buffer, rows.clks.byteOffset, rows.clks.byteLength);
    await this.sql`
      insert into dataset_chunks (dataset_id, version, chunk, row_count, refs, clks, claims)
      values (${id}, ${version}, ${chunk}, ${rows.refs.length}, ${this.sql.array(rows.refs)}, ${clks}, ${this.sql.json(rows.claims as never)})`;
  }

  /**
   * Marks `version` active (the previous active one superseded) and drops
   * the rows of every other version: the broker serves one version, and a
   * restart reloads only that one.
   */
  async activateVersion(id: string, version: number, rowCount: number): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`update dataset_versions set status = 'superseded' where dataset_id = ${id} and status = 'active'`;
      await tx`update dataset_versions set status = 'active', row_count = ${rowCount}, activated_at = now()
               where dataset_id = ${id} and version = ${version}`;
      const live = await tx`update datasets set active_version = ${version}, row_count = ${rowCount}, updated_at = now()
                            where id = ${id} and deleted_at is null returning id`;
      // Deleted meanwhile (by another broker process): roll the whole activation back.
      if (live.length === 0) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${id})`;
      await tx`delete from dataset_chunks where dataset_id = ${id} and version <> ${version}`;
    });
  }

  async failVersion(id: string, version: number): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`update dataset_versions set status = 'failed' where dataset_id = ${id} and version = ${version}`;
      await tx`delete from dataset_chunks where dataset_id = ${id} and version = ${version}`;
    });
  }

  /** Reads every row of a version, in upload order. */
  async readVersion(id: string, version: number, filterBits: number): Promise<VersionRows> {
    const bytes = filterBits / 8;
    const [{ total }] = await this.sql<{ total: number }[]>`
      select coalesce(sum(row_count), 0)::int as total from dataset_chunks where dataset_id = ${id} and version = ${version}`;
    const clks = new Uint8Array(total * bytes);
    const refs: string[] = new Array(total);
    const claims: Claims[] = new Array(total);
    let at = 0;
    // One chunk per query keeps the driver's buffers small for million-row versions.
    const chunks = await this.sql<{ chunk: number }[]>`
      select chunk from dataset_chunks where dataset_id = ${id} and version = ${version} order by chunk`;
    for (const { chunk } of chunks) {
      const [row] = await this.sql<{ refs: string[]; clks: Buffer; claims: Claims[]; row_count: number }[]>`
        select refs, clks, claims, row_count from dataset_chunks
        where dataset_id = ${id} and version = ${version} and chunk = ${chunk}`;
      if (!row || row.clks.length !== row.row_count * bytes)
        throw new PavilionError('DATASET_CORRUPT', `stored chunk ${chunk} of version ${version} is inconsistent`);
      clks.set(row.clks, at * bytes);
      for (let i = 0; i < row.row_count; i++) {
        refs[at + i] = row.refs[i]!;
        claims[at + i] = row.claims[i] ?? null;
      }
      at += row.row_count;
    }
    return { refs, clks, claims };
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

  async setSecret(id: string, sealed: Uint8Array, updatedBy: string): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`
        insert into dataset_secrets (dataset_id, sealed, updated_by) values (${id}, ${Buffer.from(sealed)}, ${updatedBy})
        on conflict (dataset_id) do update set sealed = excluded.sealed, updated_by = excluded.updated_by, updated_at = now()`;
      await tx`select pg_notify(${CHANGES_CHANNEL}, ${id})`;
    });
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
