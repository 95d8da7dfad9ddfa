/**
 * Batch linkage jobs: N CLKs against a dataset's active version, or several
 * datasets (and the CLKs) linked into groups, persisted by
 * server/linkage/store.ts, with progress and the result pushed to WebSocket
 * subscribers. A small two-party job without blocking runs whole in the
 * broker that took it (engine.link); any other job is split into chunks that
 * every broker replica takes from the queue (chunked-jobs.ts, queue.ts).
 *
 * The effective threshold is max(requested, policy min_score): a job cannot
 * see pairs the policy would not let a single verification see. A pair tells
 * what a single verification would: the query, the score and the matched
 * record's claims the policy releases for the job's purpose (those asked for).
 * The record itself is named only by a number local to the job's results
 * (`candidate`), never by the data provider's record id (ref) or row, so
 * results of two jobs cannot be joined on the provider's records either.
 * A job belongs to the subject that submitted it: anyone else gets 404 (the
 * job's existence is not revealed), except admins.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import { type Heartbeat, STALE_AFTER_MS, startHeartbeat } from '../../common/heartbeat.js';
import { retryFor } from '../../common/retry.js';
import { isUuid } from '../../common/uuid.js';
import {
  decodeClkBase64,
  type PartyBlocking,
  parseLambdaFold,
  parseRecordBlocks,
  type RecordBlocks,
} from '../../engine/index.js';
import type { Principal } from '../../identity/index.js';
import { type Decision, denied, type Policy } from '../../policy/index.js';
import type { ActiveDatasets, Lease, LoadedVersion } from '../datasets/active-datasets.js';
import { type LinkageBlockingRequest, type LinkageJobRequest, MAX_JOB_CHUNKS } from '../http/schemas.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { MasterKeys } from '../support/master-keys.js';
import type { MeteredEngine } from '../support/metered-engine.js';
import { authorize, recordDenial } from '../support/policy-gate.js';
import { ChunkedJobs } from './chunked-jobs.js';
import type { LinkageQueue } from './queue.js';
import {
  doneMessage,
  fullComparisons,
  type GroupMemberView,
  groupViews,
  type JobMessage,
  jobEvent,
  jobGuidance,
  type PairView,
  pairViews,
  progressMessage,
  storedPairs,
} from './results.js';
import type { JobRecord, JobStore, ResumableJob, Solution, StoredBlocking, StoredGroup, StoredPair } from './store.js';

export { type JobMessage, jobView, type PairView, WS_RESULT_PAIRS_LIMIT } from './results.js';

/** How long a job keeps trying to record its end (database outages shorter than this leave no stale row). */
const RECORD_RETRY_MS = 30_000;
/** Starts of one job, by any process, before a stale one is failed rather than run again. */
const MAX_ATTEMPTS = 3;
/** Stale jobs one process claims per heartbeat, so brokers share the work of one that died. */
const CLAIMS_PER_TICK = 2;
/** How often a subscriber follows a job another broker runs (its row's progress is saved about every second). */
const REMOTE_POLL_MS = 1_000;

/** Who submitted a job, as its audit event names them. */
export interface Submitter {
  subject: string;
  tenant: string | null;
}

/**
 * Work one unit of blocking stands for, in comparisons, to size chunks: an LSH band of N records costs
 * about what 200·N comparisons do (1M × 1M: 100 bands of 2M records in 166 s at 222 M comparisons/s under
 * load, docs/linkage.md); explicit blocks are counted as one such pass.
 */
const BLOCKING_COMPARISONS_PER_RECORD = 200;

export interface LinkageJobsDeps {
  jobs: JobStore;
  datasets: ActiveDatasets;
  policy: Policy;
  engine: MeteredEngine;
  trail: AuditTrail;
  /** Queries are kept sealed while a job runs (support/master-keys.ts). */
  keys: Pick<MasterKeys, 'seal' | 'open'>;
  log: Logger;
  /** Counts Dice comparisons for /metrics. */
  countComparisons(n: number): void;
  /** The chunks of chunked jobs, shared by the replicas. */
  queue: LinkageQueue;
  /**
   * Comparisons a chunk is sized to (LINKAGE_CHUNK_COMPARISONS); a two-party job without blocking that
   * needs more is chunked too.
   */
  chunkComparisons: number;
}

/** A job request's blocking, as the engine takes it and as the job row keeps it. */
interface JobBlocking {
  engine: PartyBlocking;
  stored: StoredBlocking;
  /** Explicit blocks' keys, per party: sealed with the job (they are derived from personal data). */
  blocks?: RecordBlocks[];
}

/**
 * A request's blocking for parties of `sizes` records (datasets first, then the queries when sent):
 * BLOCKING_CONFIG_INVALID or BLOCKS_INVALID (422) when it does not fit.
 */
function jobBlocking(req: LinkageBlockingRequest, datasets: readonly string[], sizes: readonly number[]): JobBlocking {
  if (req.type === 'lambda-fold') {
    const config = parseLambdaFold(req);
    return { engine: { type: 'lsh', config }, stored: { type: 'lsh', config } };
  }
  const given = req as { datasets?: unknown; queries?: unknown };
  const forDatasets = given.datasets;
  if (typeof forDatasets !== 'object' || forDatasets === null || Array.isArray(forDatasets))
    throw new PavilionError('BLOCKS_INVALID', 'blocks: "datasets" must map each dataset of the job to its blocks');
  const unknown = Object.keys(forDatasets).find((k) => !datasets.includes(k));
  if (unknown !== undefined)
    throw new PavilionError(
      'BLOCKS_INVALID',
      `blocks: dataset ${JSON.stringify(unknown.slice(0, 128))} is not in the job`,
    );
  const parties = datasets.map((d, i) => {
    const json = (forDatasets as Record<string, unknown>)[d];
    if (json === undefined) throw new PavilionError('BLOCKS_INVALID', `blocks: none for dataset ${d}`);
    return parseRecordBlocks(json, sizes[i]!, `blocks of dataset ${d}`);
  });
  if (sizes.length > datasets.length) {
    if (given.queries === undefined) throw new PavilionError('BLOCKS_INVALID', 'blocks: none for the queries (clks)');
    parties.push(parseRecordBlocks(given.queries, sizes[datasets.length]!, 'blocks of the queries'));
  } else if (given.queries !== undefined) {
    throw new PavilionError('BLOCKS_INVALID', 'blocks: "queries" given for a job without clks');
  }
  return { engine: { type: 'blocks', parties }, stored: { type: 'blocks' }, blocks: parties };
}

/** How many chunks a job is split into: about `perChunk` comparisons (or their blocking equivalent) each. */
function chunkCount(sizes: readonly number[], blocking: JobBlocking | undefined, perChunk: number): number {
  const records = sizes.reduce((s, n) => s + n, 0);
  if (blocking?.engine.type === 'lsh') {
    const bands = blocking.engine.config.config.Lambda;
    return Math.max(1, Math.min(bands, Math.ceil((bands * records * BLOCKING_COMPARISONS_PER_RECORD) / perChunk)));
  }
  const work = blocking ? records * BLOCKING_COMPARISONS_PER_RECORD : fullComparisons(sizes);
  return Math.max(1, Math.min(MAX_JOB_CHUNKS, Math.ceil(work / perChunk)));
}

export class LinkageJobs {
  private readonly subscribers = new Map<string, Set<(m: JobMessage) => void>>();
  private readonly running = new Map<string, { controller: AbortController; promise: Promise<void> }>();
  private readonly chunked: ChunkedJobs;
  private closing = false;
  private heartbeat: Heartbeat | undefined;

  constructor(private readonly d: LinkageJobsDeps) {
    this.chunked = new ChunkedJobs({
      ...d,
      settle: (id, m) => this.settle(id, m),
      failJob: (id, c) => this.fail(id, c),
    });
  }

  /**
   * Starts the heartbeat (beats for this process's jobs and chunks, sweeps for those other processes left)
   * and works the chunk queue. Call once the datasets are loaded: a job is run again only on the dataset
   * version it started on, which must be served.
   */
  async startWorking(): Promise<void> {
    this.heartbeat ??= startHeartbeat({
      runningIds: () => [...this.running.keys()],
      beat: async (ids) => {
        // A job no longer queued or running was cancelled (by any broker): stop it here.
        const live = new Set(await this.d.jobs.heartbeat(ids));
        for (const id of ids) if (!live.has(id)) this.running.get(id)?.controller.abort();
      },
      sweep: () => this.sweep(),
      onError: (err) => this.d.log.warn({ err }, 'linkage job heartbeat failed'),
    });
    await this.chunked.startWorking();
  }

  async submit(principal: Principal, req: LinkageJobRequest): Promise<JobRecord> {
    const names = req.datasets ?? [req.dataset!];
    const leases: Lease[] = [];
    let handedOver = false;
    try {
      for (const name of names) leases.push(this.d.datasets.acquire(name));
      const filterBits = leases[0]!.version.filterBits;
      const other = leases.find((l) => l.version.filterBits !== filterBits);
      if (other)
        throw new PavilionError(
          'CLK_LENGTH_MISMATCH',
          `dataset ${other.version.datasetId} has ${other.version.filterBits}-bit CLKs, ${names[0]} ${filterBits}-bit`,
        );
      const asked = {
        claims: req.claims,
        purpose: req.purpose,
        ...(req.consent !== undefined ? { consent: req.consent } : {}),
      };
      const defs = names.map((n) => this.d.datasets.definition(n)!);
      const decisions: Decision[] = [];
      for (const def of defs)
        decisions.push(await authorize(this.d.policy, principal, def, asked, 'link', this.d.trail));
      const requested = new Set(req.claims);
      const released = decisions.map((d) => d.obligations.revealable_claims.filter((c) => requested.has(c)));
      if (requested.size > 0 && released.every((c) => c.length === 0)) {
        // As a verification is refused (policy/verification.rego, no_revealable_claims), rather than
        // answered with bare matches the caller did not ask for.
        const reasons = ['no_revealable_claims'];
        for (const def of defs) await recordDenial(this.d.trail, principal, def, asked, 'link', reasons);
        throw denied({ ...decisions[0]!, allow: false, reasons });
      }
      const clks = req.clks ?? [];
      const bytes = filterBits / 8;
      const queries = new Uint8Array(clks.length * bytes);
      clks.forEach((b64, i) => {
        try {
          queries.set(decodeClkBase64(b64, filterBits), i * bytes);
        } catch (err) {
          if (isPavilionError(err)) throw new PavilionError(err.code, `clks[${i}]: ${err.message}`);
          throw err;
        }
      });
      // No pair below any dataset's minimum is ever computed, so none can be released.
      const policyMinimum = Math.max(...decisions.map((d) => d.obligations.min_score));
      const threshold = Math.max(req.threshold, policyMinimum);
      const sizes = [...leases.map((l) => l.version.size), ...(clks.length > 0 ? [clks.length] : [])];
      if (sizes.length < 2) throw new PavilionError('PARTIES_INVALID', 'a job needs two parties or more');
      const blocking = req.blocking ? jobBlocking(req.blocking, names, sizes) : undefined;
      const multi = names.length > 1;
      if (req.top_k !== undefined && (blocking || multi || req.chunks !== undefined))
        throw new PavilionError('TOPK_INVALID', 'top_k is for two-party jobs without blocking, run whole');
      const submitter: Submitter = { subject: principal.subject, tenant: principal.tenant ?? null };
      const id = randomUUID();
      const solution: Solution = multi ? 'greedy' : req.solution;
      const common = {
        id,
        owner: submitter.subject,
        tenant: submitter.tenant,
        datasetId: names[0]!,
        datasetVersion: leases[0]!.version.version,
        threshold,
        topK: req.top_k ?? null,
        solution,
        claims: [...new Set(released.flat())],
        // Records of every party for a multi-party job; the queries for a two-party one.
        total: multi ? sizes.reduce((s, n) => s + n, 0) : clks.length,
        // Kept, sealed, while the job runs, so another process can run it (again) if this one dies.
        sealedQueries: clks.length > 0 ? this.d.keys.seal({ job: id }, queries) : null,
      };
      const chunked =
        blocking !== undefined ||
        multi ||
        req.chunks !== undefined ||
        (req.top_k === undefined && fullComparisons(sizes) > this.d.chunkComparisons);
      if (!chunked) {
        const job = await this.d.jobs.create({ ...common, policyMinimum });
        this.start(job, submitter, queries, leases[0]!);
        handedOver = true;
        return job;
      }
      const chunks = req.chunks ?? chunkCount(sizes, blocking, this.d.chunkComparisons);
      const job = await this.d.jobs.create({
        ...common,
        chunked: {
          chunks,
          datasets: leases.map((l, i) => ({
            dataset: l.version.datasetId,
            version: l.version.version,
            claims: released[i]!,
          })),
          blocking: blocking?.stored ?? null,
          sealedBlocks: blocking?.blocks
            ? this.d.keys.seal({ job: id }, Buffer.from(JSON.stringify(blocking.blocks), 'utf8'))
            : null,
        },
        policyMinimum,
        inTransaction: (tx) => this.d.queue.sendChunks(tx, id, chunks),
      });
      this.d.queue.wake();
      return job;
    } finally {
      if (!handedOver) for (const l of leases) l.release();
    }
  }

  /** Runs `job` on the leased version, in the background, until it ends or this process stops. */
  private start(job: JobRecord, submitter: Submitter, queries: Uint8Array, lease: Lease): void {
    const controller = new AbortController();
    const promise = this.run(job, submitter, queries, lease.version, controller.signal).finally(() => {
      lease.release();
      this.running.delete(job.id);
    });
    this.running.set(job.id, { controller, promise });
  }

  /**
   * Heartbeat sweep: chunks of processes that stopped beating go back to the queue; whole jobs of such
   * processes are run again here (a linkage is deterministic: same queries, same version, same pairs)
   * while their dataset still serves the version they started on; the others fail with JOB_INTERRUPTED.
   */
  private async sweep(): Promise<void> {
    await this.chunked.sweep();
    const failed = await this.d.jobs.failStale(STALE_AFTER_MS, MAX_ATTEMPTS);
    if (failed > 0)
      this.d.log.warn(
        { jobs: failed },
        'linkage jobs of a stopped broker process could not be run again (JOB_INTERRUPTED)',
      );
    for (let i = 0; i < CLAIMS_PER_TICK && !this.closing; i++) {
      const claimed = await this.d.jobs.claimStale(STALE_AFTER_MS, MAX_ATTEMPTS);
      if (!claimed) return;
      this.resume(claimed);
    }
  }

  private resume({ job, sealedQueries, tenant }: ResumableJob): void {
    let lease: Lease | undefined;
    try {
      lease = this.d.datasets.acquire(job.datasetId);
      if (lease.version.version !== job.datasetVersion)
        throw new PavilionError('JOB_INTERRUPTED', 'the dataset version the job started on is no longer served');
      const queries = this.d.keys.open({ job: job.id }, sealedQueries);
      this.d.log.info({ job: job.id }, 'running again a linkage job a stopped broker process left');
      this.start(job, { subject: job.owner, tenant }, queries, lease);
    } catch (err) {
      // Its dataset is gone or serves another version, or its queries cannot be opened.
      lease?.release();
      this.d.log.warn(
        { job: job.id, code: isPavilionError(err) ? err.code : 'INTERNAL' },
        'a linkage job a stopped broker process left cannot run again',
      );
      void this.fail(job.id, 'JOB_INTERRUPTED');
    }
  }

  private async run(
    job: JobRecord,
    submitter: Submitter,
    queries: Uint8Array,
    loaded: LoadedVersion,
    signal: AbortSignal,
  ): Promise<void> {
    const { jobs, engine, trail, log } = this.d;
    let lastPush = 0;
    let lastSaved = 0;
    // A job run again after its broker died starts from 0: what it pushes and saves never goes below the
    // progress the earlier run reached (kept in its row; store.ts progress keeps the highest too).
    const reached = job.done;
    try {
      await jobs.markRunning(job.id, loaded.version);
      const result = await engine.link(loaded.engineId, queries, {
        threshold: job.threshold,
        ...(job.topK !== null ? { topK: job.topK } : {}),
        signal,
        onProgress: (done, total) => {
          const now = Date.now();
          if (now - lastPush < 100 && done < total) return;
          lastPush = now;
          const doneQueries = Math.max(reached, Math.floor((job.total * done) / Math.max(1, total)));
          this.publish(job.id, { type: 'progress', job: job.id, done: doneQueries, total: job.total });
          if (now - lastSaved > 1000) {
            lastSaved = now;
            void jobs.progress(job.id, doneQueries).catch(() => {});
          }
        },
      });
      const compared = job.total * loaded.size;
      this.d.countComparisons(compared);
      const stored = storedPairs(result.pairs, job.solution, loaded, job.claims);
      const guidance = await jobGuidance(engine, [loaded], queries, job.policyMinimum);
      // Durable in the audit log before the results can be fetched, as a verification's answer is.
      await trail.record(jobEvent(trail, job, submitter.tenant, { queries: job.total, pairs: stored.length }));
      const comparisons = { compared, full: compared };
      if (await jobs.finish(job.id, stored, { guidance, comparisons })) this.settle(job.id, doneMessage(job, stored));
    } catch (err) {
      if (signal.aborted && this.closing) {
        // This process is stopping: hand the job back for another one (or this one, restarted) to run again.
        await jobs.release(job.id).catch((e) => {
          log.warn(
            { err: e, job: job.id },
            'could not hand a linkage job back; it is run again once its heartbeat is stale',
          );
        });
        return;
      }
      const code = isPavilionError(err) ? err.code : 'INTERNAL';
      if (!isPavilionError(err)) log.error({ err, job: job.id }, 'linkage job failed');
      await this.fail(job.id, code);
    }
  }

  /**
   * Records that a job failed with `code` and tells its subscribers. Recorded even across a short database
   * outage; a longer one leaves the row `running` until its heartbeat is stale (common/heartbeat.ts), or, for a
   * chunked job, until the queue runs its chunk again.
   */
  private async fail(id: string, code: string): Promise<void> {
    await retryFor(
      () => this.d.jobs.fail(id, code),
      RECORD_RETRY_MS,
      () => this.closing,
    ).catch((err) => {
      this.d.log.error({ err, job: id }, 'could not record a failed linkage job');
    });
    this.settle(id, { type: 'result', job: id, status: 'failed', code });
  }

  /** The job if `principal` may see it; JOB_NOT_FOUND (404) otherwise. */
  async get(principal: Principal, id: string): Promise<JobRecord> {
    const job = isUuid(id) ? await this.d.jobs.get(id) : null;
    if (!job || (job.owner !== principal.subject && !principal.roles.has('admin')))
      throw new PavilionError('JOB_NOT_FOUND', 'no such job');
    return job;
  }

  /**
   * Cancels a job still queued or running, wherever it runs: it fails with LINK_CANCELLED at once; the
   * broker running it (or a chunk of it) stops at its next progress or heartbeat. JOB_ENDED (409) when it
   * had already ended.
   */
  async cancel(principal: Principal, id: string): Promise<JobRecord> {
    await this.get(principal, id);
    if (!(await this.d.jobs.fail(id, 'LINK_CANCELLED')))
      throw new PavilionError('JOB_ENDED', 'the job has already ended');
    this.running.get(id)?.controller.abort();
    // Chunks running elsewhere stop at their next progress save (they find the job ended); queued ones go now.
    this.chunked.cancelHere(id);
    await this.d.queue.cancelQueued(id).catch((err) => {
      this.d.log.warn({ err, job: id }, 'queued chunks of a cancelled job stay queued; each ends when taken');
    });
    this.settle(id, { type: 'result', job: id, status: 'failed', code: 'LINK_CANCELLED' });
    return (await this.d.jobs.get(id))!;
  }

  async results(
    principal: Principal,
    id: string,
  ): Promise<{
    job: string;
    solution: Solution;
    pair_count?: number;
    pairs?: PairView[];
    group_count?: number;
    groups?: GroupMemberView[][];
    policy_minimum: number | null;
    guidance: unknown;
  }> {
    const job = await this.get(principal, id);
    if (job.status === 'failed')
      throw new PavilionError('JOB_FAILED', `the job failed (${job.errorCode ?? 'unknown'})`);
    if (job.status !== 'done') throw new PavilionError('JOB_NOT_DONE', 'the job has not finished yet');
    const stored = (await this.d.jobs.results(id)) ?? [];
    const common = {
      job: id,
      solution: job.solution,
      policy_minimum: job.policyMinimum,
      guidance: job.guidance ?? null,
    };
    if (job.datasets.length > 1) {
      const groups = groupViews(stored as unknown as StoredGroup[], job.datasets);
      return { ...common, group_count: groups.length, groups };
    }
    const pairs = pairViews(stored as StoredPair[]);
    return { ...common, pair_count: pairs.length, pairs };
  }

  /**
   * Subscribes to a job's progress; a job already finished gets its final
   * message at once. Returns an unsubscribe function.
   */
  async subscribe(principal: Principal, id: string, send: (m: JobMessage) => void): Promise<() => void> {
    let job = await this.get(principal, id);
    // Finished while the row was being read: it has left `running` (see
    // settle) and its row is final now, so read it again rather than wait
    // for a result message that has already gone out.
    if (job.status !== 'done' && job.status !== 'failed' && !this.running.has(id)) job = await this.get(principal, id);
    if (job.status === 'done' || job.status === 'failed') {
      // Same sequence as a live subscription: progress, then the result.
      send(progressMessage(job));
      if (job.status === 'failed')
        send({ type: 'result', job: id, status: 'failed', code: job.errorCode ?? 'INTERNAL' });
      else send(doneMessage(job, (await this.d.jobs.results(id)) ?? []));
      return () => {};
    }
    let set = this.subscribers.get(id);
    if (!set) {
      set = new Set();
      this.subscribers.set(id, set);
    }
    let ended = false;
    // One result at most, whether this process settles the job or the row says it ended.
    const deliver = (m: JobMessage) => {
      if (ended) return;
      if (m.type === 'result') ended = true;
      send(m);
    };
    set.add(deliver);
    const first = progressMessage(job);
    deliver(first);
    // Running in another broker process, in chunks, or waiting to be run again: follow its row.
    const stopFollowing = this.running.has(id) ? undefined : this.followRow(id, first, deliver);
    return () => {
      stopFollowing?.();
      set!.delete(deliver);
      if (set!.size === 0 && this.subscribers.get(id) === set) this.subscribers.delete(id);
    };
  }

  /** Polls the row of a job another process runs: progress when it moved, the result once final. Returns the stop. */
  private followRow(id: string, start: JobMessage, deliver: (m: JobMessage) => void): () => void {
    let last = JSON.stringify(start);
    const poll = async () => {
      if (this.running.has(id)) return; // claimed here meanwhile: settle() delivers
      const job = await this.d.jobs.get(id);
      if (!job) return;
      if (job.status === 'done' || job.status === 'failed') {
        clearInterval(timer);
        deliver(
          job.status === 'done'
            ? doneMessage(job, (await this.d.jobs.results(id)) ?? [])
            : { type: 'result', job: id, status: 'failed', code: job.errorCode ?? 'INTERNAL' },
        );
        return;
      }
      const progress = progressMessage(job);
      const now = JSON.stringify(progress);
      if (now !== last) {
        last = now;
        deliver(progress);
      }
    };
    const timer = setInterval(() => void poll().catch(() => {}), REMOTE_POLL_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Sends a job's final message. The job leaves `running` first, with its
   * row already final: a subscribe that did not find it running reads the
   * row instead of joining a subscriber set nobody will publish to again.
   */
  private settle(id: string, m: JobMessage): void {
    this.running.delete(id);
    this.publish(id, m);
    this.subscribers.delete(id);
  }

  private publish(id: string, m: JobMessage): void {
    const set = this.subscribers.get(id);
    if (!set) return;
    for (const send of set) {
      try {
        send(m);
      } catch {
        /* a closed socket */
      }
    }
  }

  /**
   * Waits for running jobs and chunks (graceful shutdown), cancelling them after `graceMs`: jobs are handed
   * back, chunks go back to the queue, for another broker (or this one, restarted) to run again.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    this.heartbeat?.stop();
    const all = [...this.running.values()];
    const timer = setTimeout(() => {
      for (const r of all) r.controller.abort();
    }, graceMs);
    await Promise.all([Promise.allSettled(all.map((r) => r.promise)), this.chunked.close(graceMs)]);
    clearTimeout(timer);
  }
}
