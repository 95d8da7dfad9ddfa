/**
 * What a linkage job's results look like, stored and sent: pairs (two parties) or groups (multi-party), the
 * records numbered within the job's results (never the data provider's record id or row), their released
 * claims, and the threshold guidance. Shared by jobs run whole (jobs.ts) and chunked ones (chunked-jobs.ts).
 */
import { isPavilionError } from '../../common/errors.js';
import type { CandidatePairs, LinkPair, PartyRecord, ThresholdGuidance } from '../../engine/index.js';
import { estimateThresholds, greedySolve, sampleIndices } from '../../engine/index.js';
import type { LoadedVersion } from '../datasets/active-datasets.js';
import { type AuditEvent, linkageJobEvent } from '../support/audit-events.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { MeteredEngine } from '../support/metered-engine.js';
import type { JobDataset, JobRecord, Solution, StoredGroup, StoredPair } from './store.js';

/** Queries sampled for threshold guidance (the engine's default: about ±0.01 of sampling error). */
const GUIDANCE_SAMPLE = 5000;

/** Results over this many pairs (or groups) are not pushed over the WebSocket: fetch them from /results. */
export const WS_RESULT_PAIRS_LIMIT = 50_000;

export type JobMessage =
  | { type: 'progress'; job: string; done: number; total: number; chunks?: { count: number; done: number } }
  | {
      type: 'result';
      job: string;
      status: 'done';
      pair_count: number;
      pairs?: PairView[];
      groups?: GroupMemberView[][];
      results_url: string;
    }
  | { type: 'result'; job: string; status: 'failed'; code: string };

export interface PairView {
  query: number;
  /** The matched record, numbered within these results in order of first appearance. */
  candidate: number;
  score: number;
  claims: Record<string, unknown>;
}

export type GroupMemberView =
  | { dataset: string; candidate: number; claims: Record<string, unknown> }
  | { query: number };

/** The wire form of guidance (server/http/schemas.ts ThresholdGuidance). */
export interface GuidanceView {
  floor: number;
  histogram: ThresholdGuidance['histogram'];
  curve: ThresholdGuidance['curve'];
  suggested: ThresholdGuidance['suggested'];
  at_policy_minimum: ThresholdGuidance['suggested'] | null;
  policy_minimum: number | null;
  match_share: number;
  sampled_queries: number;
}

export function jobView(j: JobRecord): Record<string, unknown> {
  return {
    id: j.id,
    status: j.status,
    dataset: j.datasetId,
    dataset_version: j.datasetVersion,
    datasets: j.datasets.map((d) => ({ dataset: d.dataset, version: d.version })),
    threshold: j.threshold,
    policy_minimum: j.policyMinimum,
    top_k: j.topK,
    solution: j.solution,
    blocking: j.blocking === null ? null : j.blocking.type === 'lsh' ? 'lambda-fold' : 'blocks',
    claims: j.claims,
    done: progressDone(j),
    total: j.total,
    chunks: j.chunks === null ? null : { count: j.chunks, done: j.status === 'done' ? j.chunks : j.chunksDone },
    pair_count: j.pairCount,
    comparisons:
      j.comparisons === null
        ? null
        : {
            compared: j.comparisons.compared,
            full: j.comparisons.full,
            avoided: j.comparisons.full - j.comparisons.compared,
          },
    error_code: j.errorCode,
    created_at: j.createdAt.toISOString(),
    finished_at: j.finishedAt ? j.finishedAt.toISOString() : null,
  };
}

/** Work done, in the job's `total` units: a chunked job's stored chunks plus the running ones' shares. */
export function progressDone(j: JobRecord): number {
  if (j.chunks === null || j.status === 'done') return j.done;
  return Math.floor((j.total * Math.min(j.chunks, j.chunksDone + j.chunkProgress)) / j.chunks);
}

export function progressMessage(j: JobRecord): JobMessage {
  return {
    type: 'progress',
    job: j.id,
    done: progressDone(j),
    total: j.total,
    ...(j.chunks === null ? {} : { chunks: { count: j.chunks, done: j.status === 'done' ? j.chunks : j.chunksDone } }),
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

/**
 * Groups as the relying party sees them: each dataset's records numbered within the results, per dataset,
 * in order of first appearance; the clks party (after the datasets) as query positions.
 */
export function groupViews(groups: StoredGroup[], datasets: readonly JobDataset[]): GroupMemberView[][] {
  const numbering = datasets.map(() => new Map<number, number>());
  return groups.map((g) =>
    g.map(([party, record, claims]): GroupMemberView => {
      const d = datasets[party];
      if (!d) return { query: record };
      const seen = numbering[party]!;
      let candidate = seen.get(record);
      if (candidate === undefined) {
        candidate = seen.size;
        seen.set(record, candidate);
      }
      return { dataset: d.dataset, candidate, claims: claims ?? {} };
    }),
  );
}

/** The claims of one record that the job releases. */
export function releasedOf(
  row: Record<string, unknown> | null | undefined,
  names: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!row) return out;
  for (const name of names) if (Object.hasOwn(row, name)) out[name] = row[name];
  return out;
}

/** Two-party pairs solved as the job asks and stored with the released claims of each matched record. */
export function storedPairs(
  pairs: readonly LinkPair[],
  solution: Solution,
  loaded: LoadedVersion,
  claims: readonly string[],
): StoredPair[] {
  const solved =
    solution === 'greedy'
      ? greedySolve(pairs)
      : [...pairs].sort((a, b) => a.query - b.query || b.score - a.score || a.index - b.index);
  return solved.map((p) => [p.query, p.index, p.score, releasedOf(loaded.claims.at(p.index), claims)]);
}

/** Two-party pairs of a chunked job (the dataset is party 0, the queries party 1). */
export function linkPairsOf(pairs: CandidatePairs): LinkPair[] {
  return Array.from({ length: pairs.length }, (_, i) => ({
    query: pairs.recordB[i]!,
    index: pairs.recordA[i]!,
    score: pairs.scores[i]!,
  }));
}

/** Groups with each dataset record's released claims (`claims[party]`); queries (party ≥ datasets) carry none. */
export function storedGroups(
  groups: readonly PartyRecord[][],
  loaded: readonly LoadedVersion[],
  claims: readonly (readonly string[])[],
): StoredGroup[] {
  return groups.map((g) =>
    g.map(([party, record]): [number, number, Record<string, unknown> | null] => {
      const version = loaded[party];
      return [party, record, version ? releasedOf(version.claims.at(record), claims[party] ?? []) : null];
    }),
  );
}

/** The final message of a finished job: pairs or groups inline up to WS_RESULT_PAIRS_LIMIT, the results URL always. */
export function doneMessage(job: JobRecord, results: StoredPair[] | StoredGroup[]): JobMessage {
  const inline = results.length <= WS_RESULT_PAIRS_LIMIT;
  const multi = job.datasets.length > 1;
  return {
    type: 'result',
    job: job.id,
    status: 'done',
    pair_count: results.length,
    ...(inline && !multi ? { pairs: pairViews(results as StoredPair[]) } : {}),
    ...(inline && multi ? { groups: groupViews(results as StoredGroup[], job.datasets) } : {}),
    results_url: `/v1/linkage-jobs/${job.id}/results`,
  };
}

/**
 * Threshold guidance (engine/linkage/threshold-guidance.ts): a sample of the job's queries against its first
 * dataset, or, for a job without queries, a sample of its second dataset's records against its first. Aggregate
 * histograms and estimates, with the policy minimum as the floor of the suggestion. Null when the sample has too
 * few scores to fit.
 */
export async function jobGuidance(
  engine: MeteredEngine,
  loaded: readonly LoadedVersion[],
  queries: Uint8Array | null,
  policyMinimum: number | null,
): Promise<GuidanceView | null> {
  const against = loaded[0]!;
  const bytes = against.filterBits / 8;
  let sample = queries;
  if (sample === null) {
    const other = loaded[1];
    if (!other) return null;
    sample = await engine.datasetFilters(other.engineId, sampleIndices(other.size, GUIDANCE_SAMPLE));
  }
  try {
    const g = await estimateThresholds(engine, against.engineId, sample, {
      filterBits: against.filterBits,
      sample: GUIDANCE_SAMPLE,
      ...(policyMinimum !== null ? { policyMinimum } : {}),
    });
    return {
      floor: g.floor,
      histogram: g.histogram,
      curve: g.curve,
      suggested: g.suggested,
      at_policy_minimum: g.atPolicyMinimum ?? null,
      policy_minimum: policyMinimum,
      match_share: g.matchShare,
      sampled_queries: Math.min(GUIDANCE_SAMPLE, sample.length / bytes),
    };
  } catch (err) {
    if (isPavilionError(err) && err.code === 'GUIDANCE_TOO_FEW_SCORES') return null;
    throw err;
  }
}

/** The audit event of a finished job (one per job, whichever broker finished it). */
export function jobEvent(
  trail: AuditTrail,
  job: JobRecord,
  tenant: string | null,
  counts: { queries: number; pairs: number; groups?: number },
): AuditEvent {
  const multi = job.datasets.length > 1;
  return linkageJobEvent({
    job: job.id,
    actor: trail.party(job.owner),
    relyingParty: trail.party(tenant ?? job.owner),
    dataset: job.datasetId,
    datasetVersion: String(job.datasets[0]?.version ?? job.datasetVersion),
    ...(multi ? { datasets: job.datasets.map((d) => ({ dataset: d.dataset, version: String(d.version) })) } : {}),
    queries: counts.queries,
    threshold: job.threshold,
    solution: job.solution,
    pairs: counts.pairs,
    ...(counts.groups !== undefined ? { groups: counts.groups } : {}),
    ...(job.chunks !== null ? { chunks: job.chunks } : {}),
    ...(job.blocking ? { blocking: job.blocking.type } : {}),
    releasedClaims: job.claims,
  });
}

/** Every cross-party pair of parties of `sizes` records: what brute force compares. */
export function fullComparisons(sizes: readonly number[]): number {
  let n = 0;
  for (let a = 0; a < sizes.length; a++) for (let b = a + 1; b < sizes.length; b++) n += sizes[a]! * sizes[b]!;
  return n;
}
