/**
 * Linkage job persistence (component "jobs"): one row per job with its
 * owner, parameters, progress and, once done, its result pairs (jsonb of
 * [query, index, score, claims] tuples, compact for large results; rows of
 * jobs that ended before claims were released hold the record's ref in
 * place of the claims). The data provider's record ids are not kept: the
 * results never show them (server/linkage/jobs.ts).
 */
import type { Sql } from '../../storage/postgres.js';
import { migrate } from '../../storage/postgres.js';

const MIGRATIONS = [
  `create table linkage_jobs (
     id uuid primary key,
     owner text not null,
     dataset_id text not null,
     dataset_version integer,
     threshold double precision not null,
     top_k integer,
     solution text not null check (solution in ('pairs', 'greedy')),
     status text not null check (status in ('queued', 'running', 'done', 'failed')),
     done integer not null default 0,
     total integer not null,
     pair_count integer,
     error_code text,
     results jsonb,
     created_at timestamptz not null default now(),
     finished_at timestamptz
   );
   create index linkage_jobs_owner on linkage_jobs (owner, created_at);`,
  // Liveness of the process running a job (common/heartbeat.ts).
  `alter table linkage_jobs add column heartbeat_at timestamptz not null default now();`,
  // What another process needs to run the job again: the queries (sealed
  // under the master key, dropped once the job ends), the submitter's tenant
  // (for its audit event), and how often it was started.
  `alter table linkage_jobs add column queries bytea;
   alter table linkage_jobs add column tenant text;
   alter table linkage_jobs add column attempts integer not null default 0;`,
  // The claims the results carry (requested ∩ what the policy released for the purpose).
  `alter table linkage_jobs add column claims jsonb not null default '[]';`,
];

/** A job another process left unfinished, claimed to run again. */
export interface ResumableJob {
  job: JobRecord;
  sealedQueries: Buffer;
  tenant: string | null;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';
export type Solution = 'pairs' | 'greedy';

export interface JobRecord {
  id: string;
  owner: string;
  datasetId: string;
  datasetVersion: number | null;
  threshold: number;
  topK: number | null;
  solution: Solution;
  /** Names of the claims the results carry. */
  claims: string[];
  status: JobStatus;
  done: number;
  total: number;
  pairCount: number | null;
  errorCode: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

/**
 * [query, dataset index, score, the record's released claims]; jobs that ended before claims were
 * released stored the dataset ref (a string) in the last place.
 */
export type StoredPair = [number, number, number, Record<string, unknown> | string | null];

interface JobRow {
  id: string;
  owner: string;
  dataset_id: string;
  dataset_version: number | null;
  threshold: number;
  top_k: number | null;
  solution: Solution;
  claims: string[];
  status: JobStatus;
  done: number;
  total: number;
  pair_count: number | null;
  error_code: string | null;
  created_at: Date;
  finished_at: Date | null;
}

function toRecord(r: JobRow): JobRecord {
  return {
    id: r.id,
    owner: r.owner,
    datasetId: r.dataset_id,
    datasetVersion: r.dataset_version,
    threshold: r.threshold,
    topK: r.top_k,
    solution: r.solution,
    claims: r.claims ?? [],
    status: r.status,
    done: r.done,
    total: r.total,
    pairCount: r.pair_count,
    errorCode: r.error_code,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}

const COLUMNS =
  'id, owner, dataset_id, dataset_version, threshold, top_k, solution, claims, status, done, total, pair_count, error_code, created_at, finished_at';

export class JobStore {
  private constructor(private readonly sql: Sql) {}

  static async open(sql: Sql): Promise<JobStore> {
    await migrate(sql, 'jobs', MIGRATIONS);
    return new JobStore(sql);
  }

  async create(job: {
    id: string;
    owner: string;
    tenant: string | null;
    datasetId: string;
    datasetVersion: number;
    threshold: number;
    topK: number | null;
    solution: Solution;
    /** Names of the claims the results carry (default none). */
    claims?: string[];
    total: number;
    sealedQueries: Buffer;
  }): Promise<JobRecord> {
    const rows = await this.sql<JobRow[]>`
      insert into linkage_jobs (id, owner, tenant, dataset_id, dataset_version, threshold, top_k, solution, claims, status, total, queries, attempts)
      values (${job.id}, ${job.owner}, ${job.tenant}, ${job.datasetId}, ${job.datasetVersion}, ${job.threshold}, ${job.topK}, ${job.solution},
              ${this.sql.json(job.claims ?? [])}, 'queued', ${job.total}, ${job.sealedQueries}, 1)
      returning ${this.sql.unsafe(COLUMNS)}`;
    return toRecord(rows[0]!);
  }

  async get(id: string): Promise<JobRecord | null> {
    const rows = await this.sql<JobRow[]>`select ${this.sql.unsafe(COLUMNS)} from linkage_jobs where id = ${id}`;
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async markRunning(id: string, datasetVersion: number): Promise<void> {
    await this.sql`update linkage_jobs set status = 'running', dataset_version = ${datasetVersion} where id = ${id}`;
  }

  async progress(id: string, done: number): Promise<void> {
    await this.sql`update linkage_jobs set done = ${done} where id = ${id} and status = 'running'`;
  }

  async finish(id: string, pairs: StoredPair[]): Promise<void> {
    await this.sql`
      update linkage_jobs set status = 'done', done = total, pair_count = ${pairs.length},
        results = ${this.sql.json(pairs as never)}, queries = null, finished_at = now()
      where id = ${id}`;
  }

  async fail(id: string, code: string): Promise<void> {
    await this
      .sql`update linkage_jobs set status = 'failed', error_code = ${code}, queries = null, finished_at = now() where id = ${id}`;
  }

  async results(id: string): Promise<StoredPair[] | null> {
    const rows = await this.sql<{ results: StoredPair[] | null }[]>`select results from linkage_jobs where id = ${id}`;
    return rows[0]?.results ?? null;
  }

  async heartbeat(ids: string[]): Promise<void> {
    await this
      .sql`update linkage_jobs set heartbeat_at = now() where id = any(${ids}::uuid[]) and status in ('queued', 'running')`;
  }

  /** Hands a job back (its process is stopping): any process may claim it at once. */
  async release(id: string): Promise<void> {
    await this
      .sql`update linkage_jobs set status = 'queued', heartbeat_at = 'epoch' where id = ${id} and status in ('queued', 'running')`;
  }

  /**
   * Claims one job whose process stopped beating `ms` ago and that may be
   * started again (queries kept, fewer than `maxAttempts` starts), for this
   * process: one statement, so two processes never claim the same job.
   */
  async claimStale(ms: number, maxAttempts: number): Promise<ResumableJob | null> {
    const rows = await this.sql<(JobRow & { queries: Buffer; tenant: string | null })[]>`
      update linkage_jobs set heartbeat_at = now(), attempts = attempts + 1, status = 'queued', done = 0
      where id = (
        select id from linkage_jobs
        where status in ('queued', 'running') and heartbeat_at < now() - ${ms} * interval '1 millisecond'
          and queries is not null and attempts < ${maxAttempts}
        order by created_at limit 1
        for update skip locked)
      returning ${this.sql.unsafe(COLUMNS)}, queries, tenant`;
    const row = rows[0];
    return row ? { job: toRecord(row), sealedQueries: row.queries, tenant: row.tenant } : null;
  }

  /** Stale jobs that cannot be started again (no queries kept, or out of attempts): JOB_INTERRUPTED. */
  async failStale(ms: number, maxAttempts: number): Promise<number> {
    const rows = await this.sql`
      update linkage_jobs set status = 'failed', error_code = 'JOB_INTERRUPTED', queries = null, finished_at = now()
      where status in ('queued', 'running') and heartbeat_at < now() - ${ms} * interval '1 millisecond'
        and (queries is null or attempts >= ${maxAttempts})
      returning id`;
    return rows.length;
  }
}
