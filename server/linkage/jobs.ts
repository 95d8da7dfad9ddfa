/**
 * Batch linkage jobs: N CLKs against a dataset's active version, run in the
 * pool with engine.link, persisted by server/linkage/store.ts, with progress and the
 * result pushed to WebSocket subscribers.
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
import { decodeClkBase64 } from '../../engine/index.js';
import { greedySolve } from '../../engine/solvers/greedy.js';
import type { Principal } from '../../identity/index.js';
import { denied, type Policy } from '../../policy/index.js';
import type { ActiveDatasets, Lease, LoadedVersion } from '../datasets/active-datasets.js';
import type { LinkageJobRequest } from '../http/schemas.js';
import { linkageJobEvent } from '../support/audit-events.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { MasterKeys } from '../support/master-keys.js';
import type { MeteredEngine } from '../support/metered-engine.js';
import { authorize, recordDenial } from '../support/policy-gate.js';
import type { JobRecord, JobStore, ResumableJob, Solution, StoredPair } from './store.js';

/** Results over this many pairs are not pushed over the WebSocket: fetch them from /results. */
export const WS_RESULT_PAIRS_LIMIT = 50_000;

export type JobMessage =
  | { type: 'progress'; job: string; done: number; total: number }
  | { type: 'result'; job: string; status: 'done'; pair_count: number; pairs?: PairView[]; results_url: string }
  | { type: 'result'; job: string; status: 'failed'; code: string };

export interface PairView {
  query: number;
  /** The matched record, numbered within these results in order of first appearance. */
  candidate: number;
  score: number;
  claims: Record<string, unknown>;
}

export function jobView(j: JobRecord): Record<string, unknown> {
  return {
    id: j.id,
    status: j.status,
    dataset: j.datasetId,
    dataset_version: j.datasetVersion,
    threshold: j.threshold,
    top_k: j.topK,
    solution: j.solution,
    claims: j.claims,
    done: j.done,
    total: j.total,
    pair_count: j.pairCount,
    error_code: j.errorCode,
    created_at: j.createdAt.toISOString(),
    finished_at: j.finishedAt ? j.finishedAt.toISOString() : null,
  };
}

/** Pairs as the relying party sees them: records renumbered per job, claims as released. */
export function pairViews(pairs: StoredPair[]): PairView[] {
  const candidates = new Map<number, number>();
  return pairs.map(([query, index, score, claims]) => {
    let candidate = candidates.get(index);
    if (candidate === undefined) {
      candidate = candidates.size;
      candidates.set(index, candidate);
    }
    // A string is the ref older jobs stored: never shown.
    return { query, candidate, score, claims: claims !== null && typeof claims === 'object' ? claims : {} };
  });
}

/** The claims of one record that the job releases. */
function releasedOf(
  row: Record<string, unknown> | null | undefined,
  names: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!row) return out;
  for (const name of names) if (Object.hasOwn(row, name)) out[name] = row[name];
  return out;
}

/** The final message of a finished job: pairs inline up to WS_RESULT_PAIRS_LIMIT, the results URL always. */
function doneMessage(id: string, pairs: StoredPair[]): JobMessage {
  return {
    type: 'result',
    job: id,
    status: 'done',
    pair_count: pairs.length,
    ...(pairs.length <= WS_RESULT_PAIRS_LIMIT ? { pairs: pairViews(pairs) } : {}),
    results_url: `/v1/linkage-jobs/${id}/results`,
  };
}

/** How long a job keeps trying to record its end (database outages shorter than this leave no stale row). */
const RECORD_RETRY_MS = 30_000;
/** Starts of one job, by any process, before a stale one is failed rather than run again. */
const MAX_ATTEMPTS = 3;
/** Stale jobs one process claims per heartbeat, so brokers share the work of one that died. */
const CLAIMS_PER_TICK = 2;
/** How often a subscriber follows a job another broker process runs (its row's progress is saved about every second). */
const REMOTE_POLL_MS = 1_000;

/** Who submitted a job, as its audit event names them. */
interface Submitter {
  subject: string;
  tenant: string | null;
}

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
}

export class LinkageJobs {
  private readonly subscribers = new Map<string, Set<(m: JobMessage) => void>>();
  private readonly running = new Map<string, { controller: AbortController; promise: Promise<void> }>();
  private closing = false;
  private heartbeat: Heartbeat | undefined;

  constructor(private readonly d: LinkageJobsDeps) {}

  /**
   * Starts the heartbeat: beats for this process's jobs and sweeps for jobs
   * other processes left. Call once the datasets are loaded: a job is run
   * again only on the dataset version it started on, which must be served.
   */
  startHeartbeat(): void {
    this.heartbeat ??= startHeartbeat({
      runningIds: () => [...this.running.keys()],
      beat: (ids) => this.d.jobs.heartbeat(ids),
      sweep: () => this.sweep(),
      onError: (err) => this.d.log.warn({ err }, 'linkage job heartbeat failed'),
    });
  }

  async submit(principal: Principal, req: LinkageJobRequest): Promise<JobRecord> {
    const lease = this.d.datasets.acquire(req.dataset);
    let handedOver = false;
    try {
      const loaded = lease.version;
      const def = this.d.datasets.definition(req.dataset)!;
      const asked = {
        claims: req.claims,
        purpose: req.purpose,
        ...(req.consent !== undefined ? { consent: req.consent } : {}),
      };
      const decision = await authorize(this.d.policy, principal, def, asked, 'link', this.d.trail);
      const requested = new Set(req.claims);
      const claims = decision.obligations.revealable_claims.filter((c) => requested.has(c));
      if (requested.size > 0 && claims.length === 0) {
        // As a verification is refused (policy/verification.rego, no_revealable_claims), rather than
        // answered with bare matches the caller did not ask for.
        const reasons = ['no_revealable_claims'];
        await recordDenial(this.d.trail, principal, def, asked, 'link', reasons);
        throw denied({ ...decision, allow: false, reasons });
      }
      const bytes = loaded.filterBits / 8;
      const queries = new Uint8Array(req.clks.length * bytes);
      req.clks.forEach((b64, i) => {
        try {
          queries.set(decodeClkBase64(b64, loaded.filterBits), i * bytes);
        } catch (err) {
          if (isPavilionError(err)) throw new PavilionError(err.code, `clks[${i}]: ${err.message}`);
          throw err;
        }
      });
      const threshold = Math.max(req.threshold, decision.obligations.min_score);
      const id = randomUUID();
      const submitter: Submitter = { subject: principal.subject, tenant: principal.tenant ?? null };
      const job = await this.d.jobs.create({
        id,
        owner: submitter.subject,
        tenant: submitter.tenant,
        datasetId: req.dataset,
        datasetVersion: loaded.version,
        threshold,
        topK: req.top_k ?? null,
        solution: req.solution,
        claims,
        total: req.clks.length,
        // Kept, sealed, while the job runs, so another process can run it again if this one dies.
        sealedQueries: this.d.keys.seal({ job: id }, queries),
      });
      this.start(job, submitter, queries, lease);
      handedOver = true;
      return job;
    } finally {
      if (!handedOver) lease.release();
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
   * Heartbeat sweep: jobs of processes that stopped beating are run again
   * here (a linkage is deterministic: same queries, same version, same
   * pairs) while their dataset still serves the version they started on;
   * the others fail with JOB_INTERRUPTED.
   */
  private async sweep(): Promise<void> {
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
      void retryFor(
        () => this.d.jobs.fail(job.id, 'JOB_INTERRUPTED'),
        RECORD_RETRY_MS,
        () => this.closing,
      ).catch((e) => {
        this.d.log.error({ err: e, job: job.id }, 'could not record a failed linkage job');
      });
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
          const doneQueries = Math.floor((job.total * done) / Math.max(1, total));
          this.publish(job.id, { type: 'progress', job: job.id, done: doneQueries, total: job.total });
          if (now - lastSaved > 1000) {
            lastSaved = now;
            void jobs.progress(job.id, doneQueries).catch(() => {});
          }
        },
      });
      this.d.countComparisons(job.total * loaded.size);
      const solved =
        job.solution === 'greedy'
          ? greedySolve(result.pairs)
          : [...result.pairs].sort((a, b) => a.query - b.query || b.score - a.score || a.index - b.index);
      const stored: StoredPair[] = solved.map((p) => [
        p.query,
        p.index,
        p.score,
        releasedOf(loaded.claims.at(p.index), job.claims),
      ]);
      // Durable in the audit log before the results can be fetched, as a verification's answer is.
      await trail.record(
        linkageJobEvent({
          job: job.id,
          actor: trail.party(submitter.subject),
          relyingParty: trail.party(submitter.tenant ?? submitter.subject),
          dataset: job.datasetId,
          datasetVersion: String(loaded.version),
          queries: job.total,
          threshold: job.threshold,
          solution: job.solution,
          pairs: stored.length,
          releasedClaims: job.claims,
        }),
      );
      await jobs.finish(job.id, stored);
      this.settle(job.id, doneMessage(job.id, stored));
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
      // Recorded even across a short database outage; a longer one leaves
      // the row `running` until its heartbeat is stale (common/heartbeat.ts).
      await retryFor(
        () => jobs.fail(job.id, code),
        RECORD_RETRY_MS,
        () => this.closing,
      ).catch((e) => {
        log.error({ err: e, job: job.id }, 'could not record a failed linkage job');
      });
      this.settle(job.id, { type: 'result', job: job.id, status: 'failed', code });
    }
  }

  /** The job if `principal` may see it; JOB_NOT_FOUND (404) otherwise. */
  async get(principal: Principal, id: string): Promise<JobRecord> {
    const job = isUuid(id) ? await this.d.jobs.get(id) : null;
    if (!job || (job.owner !== principal.subject && !principal.roles.has('admin')))
      throw new PavilionError('JOB_NOT_FOUND', 'no such job');
    return job;
  }

  async results(
    principal: Principal,
    id: string,
  ): Promise<{ job: string; solution: Solution; pair_count: number; pairs: PairView[] }> {
    const job = await this.get(principal, id);
    if (job.status === 'failed')
      throw new PavilionError('JOB_FAILED', `the job failed (${job.errorCode ?? 'unknown'})`);
    if (job.status !== 'done') throw new PavilionError('JOB_NOT_DONE', 'the job has not finished yet');
    const pairs = (await this.d.jobs.results(id)) ?? [];
    return { job: id, solution: job.solution, pair_count: pairs.length, pairs: pairViews(pairs) };
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
      send({ type: 'progress', job: id, done: job.done, total: job.total });
      if (job.status === 'failed')
        send({ type: 'result', job: id, status: 'failed', code: job.errorCode ?? 'INTERNAL' });
      else send(doneMessage(id, (await this.d.jobs.results(id)) ?? []));
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
    deliver({ type: 'progress', job: id, done: job.done, total: job.total });
    // Running in another broker process (or waiting to be run again): follow its row.
    const stopFollowing = this.running.has(id) ? undefined : this.followRow(id, job.done, deliver);
    return () => {
      stopFollowing?.();
      set!.delete(deliver);
      if (set!.size === 0 && this.subscribers.get(id) === set) this.subscribers.delete(id);
    };
  }

  /** Polls the row of a job another process runs: progress when it moved, the result once final. Returns the stop. */
  private followRow(id: string, startDone: number, deliver: (m: JobMessage) => void): () => void {
    let lastDone = startDone;
    const poll = async () => {
      if (this.running.has(id)) return; // claimed here meanwhile: settle() delivers
      const job = await this.d.jobs.get(id);
      if (!job) return;
      if (job.status === 'done' || job.status === 'failed') {
        clearInterval(timer);
        deliver(
          job.status === 'done'
            ? doneMessage(id, (await this.d.jobs.results(id)) ?? [])
            : { type: 'result', job: id, status: 'failed', code: job.errorCode ?? 'INTERNAL' },
        );
      } else if (job.done !== lastDone) {
        lastDone = job.done;
        deliver({ type: 'progress', job: id, done: job.done, total: job.total });
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

  /** Waits for running jobs (graceful shutdown), cancelling them after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    this.heartbeat?.stop();
    const all = [...this.running.values()];
    const timer = setTimeout(() => {
      for (const r of all) r.controller.abort();
    }, graceMs);
    await Promise.allSettled(all.map((r) => r.promise));
    clearTimeout(timer);
  }
}
