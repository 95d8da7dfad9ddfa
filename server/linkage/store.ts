/**
 * Linkage job persistence (component "jobs"): one row per job with its
 * owner, parameters, progress and, once done, its result pairs (jsonb of
 * [query, index, score, claims] tuples, compact for large results; rows of
 * jobs that ended before claims were released hold the record's ref in
 * place of the claims) or, for a multi-party job, its groups. The data
 * provider's record ids are not kept: the results never show them
 * (server/linkage/jobs.ts).
 *
 * A chunked job (server/linkage/chunked-jobs.ts) also has one row per chunk in
 * `linkage_job_chunks`: the queue job running it, its heartbeat and progress,
 * and once stored its candidate pairs as five byte columns (the engine's
 * CandidatePairs: 18 bytes a pair), dropped when the job ends.
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
  // Chunked jobs: how many chunks (null: run whole by the process that took it), the datasets in party
  // order (the queries, when sent, are the last party), the blocking (an LSH config, or {type: 'blocks'}
  // with the block keys sealed beside the queries), threshold guidance, and, for multi-party jobs, groups.
  `alter table linkage_jobs add column chunks integer;
   alter table linkage_jobs add column datasets jsonb;
   alter table linkage_jobs add column blocking jsonb;
   alter table linkage_jobs add column sealed_blocks bytea;
   alter table linkage_jobs add column guidance jsonb;
   alter table linkage_jobs add column policy_minimum double precision;
   alter table linkage_jobs add column finisher uuid;
   alter table linkage_jobs add column comparisons bigint;
   alter table linkage_jobs add column full_comparisons bigint;
   create table linkage_job_chunks (
     job_id uuid not null references linkage_jobs (id) on delete cascade,
     chunk integer not null,
     queue_job uuid,
     heartbeat_at timestamptz not null default now(),
     progress double precision not null default 0,
     pairs integer,
     comparisons bigint,
     scores bytea,
     party_a bytea,
     record_a bytea,
     party_b bytea,
     record_b bytea,
     primary key (job_id, chunk)
   );`,
  // A chunked job's progress when it failed or was cancelled (its chunk rows are dropped then): chunks stored,
  // and the summed share done of those running, so its view still shows the work done.
  `alter table linkage_jobs add column ended_chunks_done integer;
   alter table linkage_jobs add column ended_chunk_progress double precision;`,
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
  /** Chunks of a chunked job (null: the job runs whole in the process that took it). */
  chunks: number | null;
  /** Chunks stored so far, and the share done of those running (a chunked job while it runs). */
  chunksDone: number;
  chunkProgress: number;
  /** The datasets in party order (the queries, when sent, are the last party). */
  datasets: JobDataset[];
  blocking: StoredBlocking | null;
  guidance: unknown;
  /** The highest policy min_score over the job's datasets: no pair below it is ever computed. */
  policyMinimum: number | null;
  /** Once done: the pairs compared, and the cross-party pairs brute force compares (blocking avoids the rest). */
  comparisons: Comparisons | null;
}

export interface Comparisons {
  compared: number;
  full: number;
}

export interface JobDataset {
  dataset: string;
  version: number;
  /** The claims the results carry for this dataset's records (requested ∩ released for it). */
  claims?: string[];
}

/** The blocking of a job as stored: an LSH config is kept as is; explicit blocks' keys are sealed apart. */
export type StoredBlocking = { type: 'lsh'; config: unknown } | { type: 'blocks' };

/** A multi-party job's group: [party, record, released claims (dataset records) or null (queries)] members. */
export type StoredGroup = [number, number, Record<string, unknown> | null][];

/** A chunk's candidate pairs, as the engine's CandidatePairs columns. */
export interface ChunkPairs {
  scores: Float64Array;
  partyA: Uint8Array;
  recordA: Uint32Array;
  partyB: Uint8Array;
  recordB: Uint32Array;
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
  chunks: number | null;
  datasets: JobDataset[] | null;
  blocking: StoredBlocking | null;
  guidance: unknown;
  policy_minimum: number | null;
  comparisons: string | null;
  full_comparisons: string | null;
  chunks_done?: string | number | null;
  chunk_progress?: number | null;
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
    chunks: r.chunks,
    chunksDone: Number(r.chunks_done ?? 0),
    chunkProgress: r.chunk_progress ?? 0,
    datasets: r.datasets ?? (r.dataset_version === null ? [] : [{ dataset: r.dataset_id, version: r.dataset_version }]),
    blocking: r.blocking,
    guidance: r.guidance,
    policyMinimum: r.policy_minimum,
    comparisons:
      r.comparisons === null ? null : { compared: Number(r.comparisons), full: Number(r.full_comparisons ?? 0) },
  };
}

const COLUMNS =
  'id, owner, dataset_id, dataset_version, threshold, top_k, solution, claims, status, done, total, pair_count, ' +
  'error_code, created_at, finished_at, chunks, datasets, blocking, guidance, policy_minimum, comparisons, ' +
  'full_comparisons';
/** Of job `j`: its chunks stored, and the summed share done of its chunks not stored yet. */
const CHUNKS_STORED = '(select count(*) from linkage_job_chunks c where c.job_id = j.id and c.pairs is not null)';
const CHUNKS_RUNNING =
  '(select coalesce(sum(c.progress), 0) from linkage_job_chunks c where c.job_id = j.id and c.pairs is null)';
/** COLUMNS of `linkage_jobs j` with the progress of its chunks (as it was when it failed, once it has). */
const COLUMNS_WITH_CHUNKS = `${COLUMNS.replace(/(\w+)/g, 'j.$1')},
  coalesce(j.ended_chunks_done, ${CHUNKS_STORED}) as chunks_done,
  coalesce(j.ended_chunk_progress, ${CHUNKS_RUNNING}) as chunk_progress`;

const columnBytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
/** A little-endian typed array over a copy of `b` (Buffers may share an unaligned pool). */
function typed<T>(b: Buffer, make: (buf: ArrayBuffer) => T): T {
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return make(copy.buffer);
}

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
    sealedQueries: Buffer | null;
    /** The highest min_score of the policy over the job's datasets. */
    policyMinimum?: number;
    /** A chunked job: its chunks, datasets in party order, blocking. */
    chunked?: {
      chunks: number;
      datasets: JobDataset[];
      blocking: StoredBlocking | null;
      sealedBlocks: Buffer | null;
    };
    /** Runs in the same transaction (queueing its chunks), so a job is never stored without them. */
    inTransaction?: (tx: Sql) => Promise<unknown>;
  }): Promise<JobRecord> {
    const c = job.chunked;
    const insert = (sql: Sql) => sql<JobRow[]>`
      insert into linkage_jobs (id, owner, tenant, dataset_id, dataset_version, threshold, top_k, solution, claims,
                                status, total, queries, attempts, chunks, datasets, blocking, sealed_blocks,
                                policy_minimum)
      values (${job.id}, ${job.owner}, ${job.tenant}, ${job.datasetId}, ${job.datasetVersion}, ${job.threshold},
              ${job.topK}, ${job.solution}, ${sql.json(job.claims ?? [])}, 'queued', ${job.total}, ${job.sealedQueries},
              1, ${c?.chunks ?? null},
              ${c ? sql.json(c.datasets as never) : null}, ${c?.blocking ? sql.json(c.blocking as never) : null},
              ${c?.sealedBlocks ?? null}, ${job.policyMinimum ?? null})
      returning ${sql.unsafe(COLUMNS)}`;
    const then = job.inTransaction;
    const rows = then
      ? await this.sql.begin(async (tx) => {
          const inserted = await insert(tx as unknown as Sql);
          await then(tx as unknown as Sql);
          return inserted;
        })
      : await insert(this.sql);
    return toRecord(rows[0]!);
  }

  async get(id: string): Promise<JobRecord | null> {
    const rows = await this.sql<JobRow[]>`
      select ${this.sql.unsafe(COLUMNS_WITH_CHUNKS)} from linkage_jobs j where j.id = ${id}`;
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** What a process running a chunk needs beyond the job: the sealed queries and blocks, the tenant. */
  async sealed(id: string): Promise<{ queries: Buffer | null; blocks: Buffer | null; tenant: string | null } | null> {
    const rows = await this.sql<{ queries: Buffer | null; sealed_blocks: Buffer | null; tenant: string | null }[]>`
      select queries, sealed_blocks, tenant from linkage_jobs where id = ${id}`;
    const r = rows[0];
    return r ? { queries: r.queries, blocks: r.sealed_blocks, tenant: r.tenant } : null;
  }

  async markRunning(id: string, datasetVersion: number): Promise<void> {
    await this.sql`update linkage_jobs set status = 'running', dataset_version = ${datasetVersion} where id = ${id}`;
  }

  /**
   * Saves a whole job's progress (queries done), unless an earlier run of it got further: a run after a broker
   * died (claimStale) starts from 0 again.
   */
  async progress(id: string, done: number): Promise<void> {
    await this.sql`update linkage_jobs set done = greatest(done, ${done}) where id = ${id} and status = 'running'`;
  }

  /**
   * Records a job's result unless it ended meanwhile (cancelled): false then. `pairCount` is the pairs, or
   * the groups of a multi-party job. The chunks' pairs go with it.
   */
  async finish(
    id: string,
    results: StoredPair[] | StoredGroup[],
    extra: { guidance?: unknown; comparisons?: Comparisons } = {},
  ): Promise<boolean> {
    const { guidance, comparisons } = extra;
    const rows = await this.sql`
      update linkage_jobs set status = 'done', done = total, pair_count = ${results.length},
        results = ${this.sql.json(results as never)},
        guidance = ${guidance ? this.sql.json(guidance as never) : null},
        comparisons = ${comparisons?.compared ?? null}, full_comparisons = ${comparisons?.full ?? null},
        queries = null, sealed_blocks = null, finished_at = now()
      where id = ${id} and status in ('queued', 'running')
      returning id`;
    await this.sql`delete from linkage_job_chunks where job_id = ${id}`;
    return rows.length > 0;
  }

  /**
   * Fails a job still queued or running (its error, a chunk out of retries, a cancel: LINK_CANCELLED), its
   * queries and chunks dropped, the chunks' progress kept in the job's row. False when it had already ended:
   * a cancelled job stays cancelled.
   */
  async fail(id: string, code: string): Promise<boolean> {
    const rows = await this.sql`
      update linkage_jobs j set status = 'failed', error_code = ${code}, queries = null, sealed_blocks = null,
        finished_at = now(), ended_chunks_done = ${this.sql.unsafe(CHUNKS_STORED)},
        ended_chunk_progress = ${this.sql.unsafe(CHUNKS_RUNNING)}
      where id = ${id} and status in ('queued', 'running')
      returning id`;
    await this.sql`delete from linkage_job_chunks where job_id = ${id}`;
    return rows.length > 0;
  }

  // --- chunks -----------------------------------------------------------------------------------------------

  /**
   * A chunk starts (or starts again) in this process, run by queue job `queueJob`: its row is (re)made with a
   * fresh heartbeat, and the job is marked running. Returns 'stored' when the chunk's pairs are already stored
   * (it ran before), 'ended' when the job has ended (done, failed, cancelled), else 'run'. A chunk started again
   * keeps the progress its earlier run saved (chunkProgress keeps the highest): the job's done never goes back.
   */
  async startChunk(id: string, chunk: number, queueJob: string): Promise<'run' | 'stored' | 'ended'> {
    return this.sql.begin(async (tx) => {
      const [job] = await tx<{ status: JobStatus }[]>`select status from linkage_jobs where id = ${id} for update`;
      if (!job || job.status === 'done' || job.status === 'failed') return 'ended';
      if (job.status === 'queued') await tx`update linkage_jobs set status = 'running' where id = ${id}`;
      const [row] = await tx<{ pairs: number | null }[]>`
        insert into linkage_job_chunks (job_id, chunk, queue_job) values (${id}, ${chunk}, ${queueJob})
        on conflict (job_id, chunk) do update set queue_job = excluded.queue_job, heartbeat_at = now()
        returning pairs`;
      return row!.pairs === null ? 'run' : 'stored';
    }) as Promise<'run' | 'stored' | 'ended'>;
  }

  /**
   * Saves a running chunk's progress (share of its units done), unless an earlier run of it got further: a run
   * after a broker died starts from 0 again. False when its job has ended.
   */
  async chunkProgress(id: string, chunk: number, progress: number): Promise<boolean> {
    const rows = await this.sql`
      update linkage_job_chunks set progress = greatest(progress, ${progress}), heartbeat_at = now()
      where job_id = ${id} and chunk = ${chunk} and pairs is null
      returning chunk`;
    return rows.length > 0;
  }

  /** Refreshes the heartbeat of the chunks this process runs. */
  async chunkHeartbeat(chunks: { job: string; chunk: number }[]): Promise<void> {
    if (chunks.length === 0) return;
    await this.sql`
      update linkage_job_chunks c set heartbeat_at = now()
      from (select * from unnest(${chunks.map((c) => c.job)}::uuid[], ${chunks.map((c) => c.chunk)}::int[])
            as t(job_id, chunk)) t
      where c.job_id = t.job_id and c.chunk = t.chunk`;
  }

  /**
   * Stores a chunk's pairs, once: under the job's row lock, so of chunks ending at once on several brokers
   * exactly one sees all stored. Returns whether every chunk is now stored ('complete'), some are not yet
   * ('partial'), or the job ended meanwhile ('ended': nothing stored).
   */
  async storeChunk(
    id: string,
    chunk: number,
    pairs: ChunkPairs,
    comparisons: number,
  ): Promise<'complete' | 'partial' | 'ended'> {
    return this.sql.begin(async (tx) => {
      const [job] = await tx<{ status: JobStatus; chunks: number }[]>`
        select status, chunks from linkage_jobs where id = ${id} for update`;
      if (!job || job.status === 'done' || job.status === 'failed') return 'ended';
      await tx`
        insert into linkage_job_chunks (job_id, chunk, pairs, comparisons, progress, scores, party_a, record_a,
                                        party_b, record_b)
        values (${id}, ${chunk}, ${pairs.scores.length}, ${comparisons}, 1, ${columnBytes(pairs.scores)},
                ${columnBytes(pairs.partyA)}, ${columnBytes(pairs.recordA)}, ${columnBytes(pairs.partyB)},
                ${columnBytes(pairs.recordB)})
        on conflict (job_id, chunk) do update
          set pairs = excluded.pairs, comparisons = excluded.comparisons, progress = 1, scores = excluded.scores,
              party_a = excluded.party_a, record_a = excluded.record_a, party_b = excluded.party_b,
              record_b = excluded.record_b
          where linkage_job_chunks.pairs is null`;
      const [count] = await tx<{ stored: string }[]>`
        select count(*) as stored from linkage_job_chunks where job_id = ${id} and pairs is not null`;
      return Number(count!.stored) >= job.chunks ? 'complete' : 'partial';
    }) as Promise<'complete' | 'partial' | 'ended'>;
  }

  /** A stored chunk's queue job ends: nothing is left to watch (the finishing chunk's stays until the job ends). */
  async chunkEnded(id: string, chunk: number): Promise<void> {
    await this.sql`update linkage_job_chunks set queue_job = null where job_id = ${id} and chunk = ${chunk}`;
  }

  /** Whether every chunk of the job is stored. */
  async allChunksStored(id: string): Promise<boolean> {
    const [row] = await this.sql<{ stored: string; chunks: number | null }[]>`
      select (select count(*) from linkage_job_chunks c where c.job_id = j.id and c.pairs is not null) as stored,
             j.chunks
      from linkage_jobs j where j.id = ${id}`;
    return !!row && row.chunks !== null && Number(row.stored) >= row.chunks;
  }

  /**
   * Claims the finishing of a job (merge, solve, audit, results) for the chunk run by queue job `queueJob`:
   * granted when no other chunk holds it, or the one holding it stopped beating `staleMs` ago (its broker
   * died; the queue runs that chunk again, and it claims again). One finisher at a time: one audit event.
   */
  async claimFinish(id: string, queueJob: string, staleMs: number): Promise<boolean> {
    const rows = await this.sql`
      update linkage_jobs j set finisher = ${queueJob}
      where j.id = ${id} and j.status in ('queued', 'running')
        and (j.finisher is null or j.finisher = ${queueJob} or not exists (
          select 1 from linkage_job_chunks c
          where c.job_id = j.id and c.queue_job = j.finisher
            and c.heartbeat_at > now() - ${staleMs} * interval '1 millisecond'))
      returning j.id`;
    return rows.length > 0;
  }

  /** Every stored chunk's pairs and comparisons, in chunk order. */
  async chunkPairs(id: string): Promise<(ChunkPairs & { comparisons: number })[]> {
    const rows = await this.sql<
      { comparisons: string; scores: Buffer; party_a: Buffer; record_a: Buffer; party_b: Buffer; record_b: Buffer }[]
    >`
      select comparisons, scores, party_a, record_a, party_b, record_b from linkage_job_chunks
      where job_id = ${id} and pairs is not null order by chunk`;
    return rows.map((r) => ({
      comparisons: Number(r.comparisons),
      scores: typed(r.scores, (b) => new Float64Array(b)),
      partyA: typed(r.party_a, (b) => new Uint8Array(b)),
      recordA: typed(r.record_a, (b) => new Uint32Array(b)),
      partyB: typed(r.party_b, (b) => new Uint8Array(b)),
      recordB: typed(r.record_b, (b) => new Uint32Array(b)),
    }));
  }

  /** The stored results: pairs, or a multi-party job's groups. */
  async results(id: string): Promise<StoredPair[] | StoredGroup[] | null> {
    const rows = await this.sql<{ results: StoredPair[] | StoredGroup[] | null }[]>`
      select results from linkage_jobs where id = ${id}`;
    return rows[0]?.results ?? null;
  }

  /** Refreshes the heartbeat of jobs this process runs; returns those still queued or running (not cancelled). */
  async heartbeat(ids: string[]): Promise<string[]> {
    const rows = await this.sql<{ id: string }[]>`
      update linkage_jobs set heartbeat_at = now()
      where id = any(${ids}::uuid[]) and status in ('queued', 'running')
      returning id`;
    return rows.map((r) => r.id);
  }

  /** Hands a job back (its process is stopping): any process may claim it at once. */
  async release(id: string): Promise<void> {
    await this.sql`
      update linkage_jobs set status = 'queued', heartbeat_at = 'epoch'
      where id = ${id} and status in ('queued', 'running')`;
  }

  /**
   * Claims one job whose process stopped beating `ms` ago and that may be started again (queries kept, fewer
   * than `maxAttempts` starts), for this process: one statement, so two processes never claim the same job.
   * Chunked jobs are not claimed: their chunks are the queue's (server/linkage/queue.ts). The job keeps the
   * progress its earlier run saved (progress keeps the highest): its done never goes back.
   */
  async claimStale(ms: number, maxAttempts: number): Promise<ResumableJob | null> {
    const rows = await this.sql<(JobRow & { queries: Buffer; tenant: string | null })[]>`
      update linkage_jobs set heartbeat_at = now(), attempts = attempts + 1, status = 'queued'
      where id = (
        select id from linkage_jobs
        where status in ('queued', 'running') and heartbeat_at < now() - ${ms} * interval '1 millisecond'
          and queries is not null and attempts < ${maxAttempts} and chunks is null
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
        and (queries is null or attempts >= ${maxAttempts}) and chunks is null
      returning id`;
    return rows.length;
  }
}
