/**
 * Chunked linkage jobs, run by every broker replica: a job with blocking, several datasets, or more
 * comparisons than one chunk holds is split into `count` chunks (engine.linkParties with `chunk`: a
 * contiguous range of LSH bands, blocks or tiles fixed by the input alone), each a message of the queue
 * (queue.ts). Whichever broker takes a chunk leases the job's dataset versions, opens the job's sealed
 * queries (and blocks), links its chunk and stores the chunk's pairs in columns (store.ts). The broker that
 * stores the last chunk finishes the job: every chunk's pairs merged (mergeCandidatePairs gives the unsplit
 * result), solved (greedy 1:1, or anonlink's multi-party greedy groups), threshold guidance, the audit event,
 * the results.
 *
 * A broker that dies loses only its chunk: the chunk's heartbeat stops (or never started: it died between
 * taking the chunk and starting it), any other broker's sweep hands it back to the queue, and it runs again,
 * elsewhere or on the restarted broker, giving the same pairs (chunks are deterministic). A broker that dies
 * while finishing is found the same way: its chunk runs again, finds its pairs stored, and finishes.
 * Cancelling fails the job row and takes its chunks not yet taken out of the queue; brokers running its chunks
 * stop at their next progress save (docs/linkage.md, "Jobs in the server").
 */
import type { Logger } from 'pino';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import { STALE_AFTER_MS } from '../../common/heartbeat.js';
import {
  CandidatePairs,
  type LambdaFoldConfig,
  mergeCandidatePairs,
  multipartyGreedySolve,
  type PartyBlocking,
} from '../../engine/index.js';
import { isDatabaseUnavailable } from '../../storage/postgres.js';
import type { ActiveDatasets, Lease } from '../datasets/active-datasets.js';
import type { AuditEvent } from '../support/audit-events.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { MasterKeys } from '../support/master-keys.js';
import type { MeteredEngine } from '../support/metered-engine.js';
import type { ChunkMessage, LinkageQueue } from './queue.js';
import {
  doneMessage,
  fullComparisons,
  type JobMessage,
  jobEvent,
  jobGuidance,
  linkPairsOf,
  storedGroups,
  storedPairs,
} from './results.js';
import type { JobDataset, JobRecord, JobStore, StoredGroup, StoredPair } from './store.js';

/** How long a broker waits to serve the dataset version a chunk needs (it may still be loading it). */
const VERSION_WAIT_MS = 30_000;
/** How often a running chunk saves its progress (and learns that its job was cancelled). */
const PROGRESS_SAVE_MS = 1_000;

export interface ChunkedJobsDeps {
  jobs: JobStore;
  datasets: ActiveDatasets;
  engine: MeteredEngine;
  trail: AuditTrail;
  keys: Pick<MasterKeys, 'open'>;
  log: Logger;
  countComparisons(n: number): void;
  queue: LinkageQueue;
  /** Publishes a job's final message to this broker's subscribers. */
  settle(id: string, m: JobMessage): void;
  /** Records that a job failed with `code` (across a short database outage) and tells its subscribers. */
  failJob(id: string, code: string): Promise<void>;
}

interface RunningChunk {
  job: string;
  chunk: number;
  controller: AbortController;
  /** Its job ended (cancelled) while it ran. */
  ended: boolean;
}

/** A chunk that cannot run here now (its dataset version is not served here yet): back to the queue. */
class NotHereYet extends Error {}

export class ChunkedJobs {
  private readonly running = new Map<string, RunningChunk>();
  private closing = false;

  constructor(private readonly d: ChunkedJobsDeps) {}

  startWorking(): Promise<void> {
    return this.d.queue.work(
      (m, queueJob) => this.runChunk(m, queueJob),
      (m) => this.dead(m),
    );
  }

  /** Heartbeat tick: beats for this broker's chunks, hands back to the queue the chunks of brokers that died. */
  async sweep(): Promise<void> {
    await this.d.jobs.chunkHeartbeat([...this.running.values()].map((r) => ({ job: r.job, chunk: r.chunk })));
    const abandoned = await this.d.queue.retryAbandoned(STALE_AFTER_MS);
    if (abandoned > 0)
      this.d.log.warn({ chunks: abandoned }, 'linkage chunks of a stopped broker process go back to the queue');
  }

  /** Stops this broker's chunks of a cancelled job at once. */
  cancelHere(job: string): void {
    for (const r of this.running.values())
      if (r.job === job) {
        r.ended = true;
        r.controller.abort();
      }
  }

  private async runChunk(m: ChunkMessage, queueJob: string): Promise<void> {
    const { jobs, log } = this.d;
    const state = await jobs.startChunk(m.job, m.chunk, queueJob);
    if (state === 'ended') return;
    const entry: RunningChunk = { job: m.job, chunk: m.chunk, controller: new AbortController(), ended: false };
    const key = `${m.job}/${m.chunk}`;
    this.running.set(key, entry);
    const leases: Lease[] = [];
    try {
      const job = await jobs.get(m.job);
      const sealed = await jobs.sealed(m.job);
      if (!job || !sealed || job.chunks === null) return;
      for (const d of job.datasets) leases.push(await this.lease(d));
      const queries = sealed.queries ? this.d.keys.open({ job: job.id }, sealed.queries) : null;
      const stored =
        state === 'run'
          ? await this.link(job, m, entry, leases, queries, sealed.blocks)
          : (await jobs.allChunksStored(job.id))
            ? 'complete'
            : 'partial';
      if (stored === 'ended') return;
      // Every chunk is stored: this one finishes the job, unless another (alive) is finishing it.
      if (stored === 'complete' && (await jobs.claimFinish(job.id, queueJob, STALE_AFTER_MS)))
        await this.finish(job, sealed.tenant, leases, queries);
      else await jobs.chunkEnded(job.id, m.chunk);
    } catch (err) {
      // Stopping, or the version is not served here yet: the queue gives the chunk to a broker again.
      if ((this.closing && entry.controller.signal.aborted) || err instanceof NotHereYet) throw err;
      if (entry.ended) return; // cancelled: the row says so already
      // A database outage: the queue retries the chunk (when the database is back, so is the queue).
      if (isDatabaseUnavailable(err)) throw err;
      const code = isPavilionError(err) ? err.code : 'INTERNAL';
      if (!isPavilionError(err)) log.error({ err, job: m.job, chunk: m.chunk }, 'linkage job chunk failed');
      // Any other failure is the job's (too many pairs, a bad block): it would fail again anywhere.
      await this.d.failJob(m.job, code);
    } finally {
      for (const l of leases) l.release();
      this.running.delete(key);
    }
  }

  /** Links one chunk and stores its pairs. */
  private async link(
    job: JobRecord,
    m: ChunkMessage,
    entry: RunningChunk,
    leases: readonly Lease[],
    queries: Uint8Array | null,
    sealedBlocks: Buffer | null,
  ): Promise<'complete' | 'partial' | 'ended'> {
    const { jobs, engine } = this.d;
    let blocking: PartyBlocking | undefined;
    if (job.blocking?.type === 'lsh') blocking = { type: 'lsh', config: job.blocking.config as LambdaFoldConfig };
    else if (job.blocking?.type === 'blocks') {
      const parties = JSON.parse(this.d.keys.open({ job: job.id }, sealedBlocks!).toString('utf8')) as string[][][];
      blocking = { type: 'blocks', parties };
    }
    let lastSaved = Date.now();
    const result = await engine.linkParties(
      [...leases.map((l) => engine.datasetParty(l.version.engineId)), ...(queries ? [queries] : [])],
      {
        filterBits: leases[0]!.version.filterBits,
        threshold: job.threshold,
        ...(blocking ? { blocking } : {}),
        chunk: { index: m.chunk, count: m.count },
        signal: entry.controller.signal,
        onProgress: (done, total) => {
          const now = Date.now();
          if (now - lastSaved < PROGRESS_SAVE_MS) return;
          lastSaved = now;
          void jobs.chunkProgress(job.id, m.chunk, done / Math.max(1, total)).then(
            (live) => {
              if (live) return;
              entry.ended = true; // cancelled by some broker
              entry.controller.abort();
            },
            () => {},
          );
        },
      },
    );
    this.d.countComparisons(result.comparisons);
    return jobs.storeChunk(job.id, m.chunk, result.pairs, result.comparisons);
  }

  /** Merges every chunk's pairs, solves, estimates guidance, records the audit event and the results. */
  private async finish(
    job: JobRecord,
    tenant: string | null,
    leases: readonly Lease[],
    queries: Uint8Array | null,
  ): Promise<void> {
    const { jobs, trail, engine } = this.d;
    const chunks = await jobs.chunkPairs(job.id);
    const merged = mergeCandidatePairs(
      chunks.map((c) => new CandidatePairs(c.scores, c.partyA, c.recordA, c.partyB, c.recordB)),
    );
    const loaded = leases.map((l) => l.version);
    const queryCount = queries ? queries.length / (loaded[0]!.filterBits / 8) : 0;
    const sizes = [...loaded.map((v) => v.size), ...(queries ? [queryCount] : [])];
    let results: StoredPair[] | StoredGroup[];
    let event: AuditEvent;
    if (job.datasets.length > 1) {
      const claims = job.datasets.map((d) => d.claims ?? []);
      results = storedGroups(multipartyGreedySolve(merged, sizes), loaded, claims);
      event = jobEvent(trail, job, tenant, { queries: queryCount, pairs: merged.length, groups: results.length });
    } else {
      results = storedPairs(linkPairsOf(merged), job.solution, loaded[0]!, job.claims);
      event = jobEvent(trail, job, tenant, { queries: queryCount, pairs: results.length });
    }
    const guidance = await jobGuidance(engine, loaded, queries, job.policyMinimum);
    const comparisons = { compared: chunks.reduce((n, c) => n + c.comparisons, 0), full: fullComparisons(sizes) };
    // Durable in the audit log before the results can be fetched, as a verification's answer is.
    await trail.record(event);
    if (await jobs.finish(job.id, results, { guidance, comparisons })) this.d.settle(job.id, doneMessage(job, results));
  }

  /**
   * A lease on the version a job runs on. This broker may still be loading it (datasets follow other brokers'
   * changes within moments): it waits a while, then hands the chunk back. A version no longer served (a
   * newer one is) fails the job with JOB_INTERRUPTED, as a whole job run again would.
   */
  private async lease(d: JobDataset): Promise<Lease> {
    const until = Date.now() + VERSION_WAIT_MS;
    for (;;) {
      const current = this.d.datasets.current(d.dataset);
      if (current && current.version > d.version)
        throw new PavilionError('JOB_INTERRUPTED', `dataset ${d.dataset} no longer serves version ${d.version}`);
      if (current?.version === d.version) {
        const lease = this.d.datasets.acquire(d.dataset);
        if (lease.version.version === d.version) return lease;
        lease.release();
      }
      if (Date.now() > until || this.closing) throw new NotHereYet(`dataset ${d.dataset} ${d.version} not served here`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** A chunk the queue gave up on (brokers died under it again and again): its job fails. */
  private async dead(m: ChunkMessage): Promise<void> {
    this.d.log.warn({ job: m.job, chunk: m.chunk }, 'a linkage chunk ran out of retries (JOB_INTERRUPTED)');
    await this.d.failJob(m.job, 'JOB_INTERRUPTED');
  }

  /** Stops taking chunks; chunks still running after `graceMs` are stopped and go back to the queue. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const timer = setTimeout(() => {
      for (const r of this.running.values()) r.controller.abort();
    }, graceMs);
    try {
      await this.d.queue.stop(graceMs + 1000);
    } finally {
      clearTimeout(timer);
    }
  }
}
