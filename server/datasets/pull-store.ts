/**
 * Pull jobs (component "dataset_pulls"): a data provider asks the broker to
 * read a dataset version from the object store; one row per request records
 * what was asked, by whom, and how it ended (the version it published, or the
 * error code), so the provider can poll it and an operator can see history.
 */
import type { Sql } from '../../storage/postgres.js';
import { migrate } from '../../storage/postgres.js';

const MIGRATIONS = [
  `create table dataset_pulls (
     id uuid primary key,
     dataset_id text not null references datasets(id) on delete cascade,
     object_key text not null,
     format text not null check (format in ('jsonl', 'binary')),
     status text not null check (status in ('running', 'succeeded', 'failed')),
     requested_by text not null,
     bytes bigint,
     version integer,
     row_count integer,
     error_code text,
     error_detail text,
     created_at timestamptz not null default now(),
     finished_at timestamptz,
     heartbeat_at timestamptz not null default now()
   );
   create index dataset_pulls_dataset on dataset_pulls (dataset_id, created_at);`,
];

export type PullStatus = 'running' | 'succeeded' | 'failed';

export interface PullRecord {
  id: string;
  datasetId: string;
  objectKey: string;
  format: 'jsonl' | 'binary';
  status: PullStatus;
  requestedBy: string;
  bytes: number | null;
  version: number | null;
  rows: number | null;
  errorCode: string | null;
  /** The error's message: our messages name positions and fields, never values (common/errors.ts). */
  errorDetail: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

interface PullRow {
  id: string;
  dataset_id: string;
  object_key: string;
  format: 'jsonl' | 'binary';
  status: PullStatus;
  requested_by: string;
  bytes: string | null;
  version: number | null;
  row_count: number | null;
  error_code: string | null;
  error_detail: string | null;
  created_at: Date;
  finished_at: Date | null;
}

const COLUMNS =
  'id, dataset_id, object_key, format, status, requested_by, bytes::text as bytes, version, row_count, ' +
  'error_code, error_detail, created_at, finished_at';

function toRecord(r: PullRow): PullRecord {
  return {
    id: r.id,
    datasetId: r.dataset_id,
    objectKey: r.object_key,
    format: r.format,
    status: r.status,
    requestedBy: r.requested_by,
    bytes: r.bytes === null ? null : Number(r.bytes),
    version: r.version,
    rows: r.row_count,
    errorCode: r.error_code,
    errorDetail: r.error_detail,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}

export class PullStore {
  private constructor(private readonly sql: Sql) {}

  static async open(sql: Sql): Promise<PullStore> {
    await migrate(sql, 'dataset_pulls', MIGRATIONS);
    return new PullStore(sql);
  }

  async create(pull: {
    id: string;
    datasetId: string;
    objectKey: string;
    format: 'jsonl' | 'binary';
    requestedBy: string;
  }): Promise<PullRecord> {
    const rows = await this.sql<PullRow[]>`
      insert into dataset_pulls (id, dataset_id, object_key, format, status, requested_by)
      values (${pull.id}, ${pull.datasetId}, ${pull.objectKey}, ${pull.format}, 'running', ${pull.requestedBy})
      returning ${this.sql.unsafe(COLUMNS)}`;
    return toRecord(rows[0]!);
  }

  async get(datasetId: string, id: string): Promise<PullRecord | null> {
    const rows = await this.sql<
      PullRow[]
    >`select ${this.sql.unsafe(COLUMNS)} from dataset_pulls where id = ${id} and dataset_id = ${datasetId}`;
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async succeed(id: string, result: { bytes: number; version: number; rows: number }): Promise<void> {
    await this.sql`
      update dataset_pulls
      set status = 'succeeded', bytes = ${result.bytes}, version = ${result.version}, row_count = ${result.rows},
          finished_at = now()
      where id = ${id}`;
  }

  async fail(id: string, error: { code: string; detail: string; bytes: number | null }): Promise<void> {
    await this.sql`
      update dataset_pulls
      set status = 'failed', error_code = ${error.code}, error_detail = ${error.detail}, bytes = ${error.bytes},
          finished_at = now()
      where id = ${id}`;
  }

  async heartbeat(ids: string[]): Promise<void> {
    await this.sql`update dataset_pulls set heartbeat_at = now() where id = any(${ids}::uuid[]) and status = 'running'`;
  }

  /**
   * Pulls whose process stopped beating (common/heartbeat.ts): failed with
   * PULL_INTERRUPTED (their partial version was never activated); the
   * provider asks again.
   */
  async failStale(ms: number): Promise<number> {
    const rows = await this.sql`
      update dataset_pulls
      set status = 'failed', error_code = 'PULL_INTERRUPTED', error_detail = 'the broker stopped during the pull',
          finished_at = now()
      where status = 'running' and heartbeat_at < now() - ${ms} * interval '1 millisecond' returning id`;
    return rows.length;
  }
}
