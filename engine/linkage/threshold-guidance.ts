/**
 * Threshold guidance: the score histograms of a job's links, and the
 * expected precision and recall of its links at every threshold above a
 * floor, with a suggested threshold and what a policy's minimum costs.
 *
 * Input: for each query of a (seeded, random) sample, its best two
 * candidates at or above the floor from a full comparison (top-2, cheap with
 * the engine's top-k kernel). From them:
 * - the links: each query's best candidate. A 1:1 (greedy) solution links a
 *   query to its best candidate unless another query took that record first,
 *   which happens where strangers score (below about 0.8 with clkhash's FEBRL
 *   schema); above that the two are the same links. A sample cannot see those
 *   conflicts (they involve the queries not sampled), which is why the links
 *   are defined per query;
 * - the strangers: the runner-up score of every query whose best candidate is
 *   surely its match (score ≥ `sure`). A runner-up is the best of the
 *   dataset's other records, which is what a query without a match links to,
 *   so it measures the non-match score distribution instead of assuming one.
 *
 * Model, fitted by EM on the histogram of the links' scores (rescaled to
 * x = (s − floor)/(1 − floor)): a non-match component whose shape is the
 * strangers' histogram (only its weight is fitted) and a match component made
 * of two Beta distributions, one for the spike of near-exact copies and one
 * for the shoulder of re-typed records (bin probabilities from the Beta CDF,
 * so the spike at 1 is no problem; M-step by weighted moments). A single Beta
 * per component, the first model tried, was off by up to 0.08 in recall on
 * the generator's data (docs/linkage.md). For threshold t, with S the
 * components' survival functions: matches above t ∝ w₁S₁(t) + w₂S₂(t),
 * non-matches ∝ w₀S₀(t); precision is matches / (matches + non-matches),
 * recall matches above t / all matches above the floor.
 */
import jstat from 'jstat';
import { PavilionError } from '../../common/errors.js';

const betaCdf = jstat.jStat.beta.cdf;

export interface BetaParams {
  alpha: number;
  beta: number;
}

export interface ThresholdPoint {
  threshold: number;
  /** Sampled queries whose best candidate is at or above the threshold (counted, not estimated). */
  links: number;
  precision: number;
  recall: number;
}

export interface ThresholdGuidance {
  floor: number;
  /** Score histograms over [floor, 1]: bin i is [floor + i·width, floor + (i + 1)·width), the last closed at 1. */
  histogram: { floor: number; width: number; links: number[]; strangers: number[] };
  model: {
    nonMatchWeight: number;
    /** The two parts of the match component, weights relative to all links. */
    match: { weight: number; alpha: number; beta: number }[];
    iterations: number;
    converged: boolean;
  };
  curve: ThresholdPoint[];
  /** Highest estimated F1 on the curve, never below `policyMinimum`. */
  suggested: ThresholdPoint;
  /** The curve at the policy minimum, when one is given: what the policy's floor costs. */
  atPolicyMinimum?: ThresholdPoint;
  /** Estimated share of the links that are matches, at the floor. */
  matchShare: number;
}

export interface GuidanceOptions {
  /** The threshold the candidates were found at (default 0.7). */
  floor?: number;
  /** A best candidate at or above this is taken as the query's match, for its runner-up (default 0.95). */
  sure?: number;
  /** Histogram bins over [floor, 1] (default 30). */
  bins?: number;
  /** Curve thresholds: floor, floor + step, …, 1 (default 0.01). */
  step?: number;
  policyMinimum?: number;
}

export interface ScoredCandidate {
  query: number;
  index: number;
  score: number;
}

export const DEFAULT_GUIDANCE_FLOOR = 0.7;
/** Queries sampled for guidance by default: about ±0.01 of sampling error on the estimates. */
export const DEFAULT_GUIDANCE_SAMPLE = 5000;
const MAX_ITERATIONS = 5000;
/** Bin probabilities stay above this, so an empty bin cannot make a likelihood −∞. */
const TINY = 1e-12;

function momentFit(centres: Float64Array, weights: Float64Array, width: number): BetaParams {
  let w = 0;
  let mean = 0;
  for (let i = 0; i < centres.length; i++) {
    w += weights[i]!;
    mean += weights[i]! * centres[i]!;
  }
  mean /= w;
  let v = width ** 2 / 12; // spread within a bin
  for (let i = 0; i < centres.length; i++) v += (weights[i]! * (centres[i]! - mean) ** 2) / w;
  mean = Math.min(1 - 1e-6, Math.max(1e-6, mean));
  v = Math.min(v, mean * (1 - mean) * 0.999);
  const common = (mean * (1 - mean)) / v - 1;
  return { alpha: Math.max(1e-3, mean * common), beta: Math.max(1e-3, (1 - mean) * common) };
}

/** Deterministic sample of `count` of `total` indices (ascending), the same for the same seed on every process. */
export function sampleIndices(total: number, count: number, seed = 1): number[] {
  if (count >= total) return Array.from({ length: total }, (_, i) => i);
  // Floyd's algorithm with a mulberry32 stream: count draws, no array of size total
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const chosen = new Set<number>();
  for (let j = total - count; j < total; j++) {
    const r = Math.floor(rnd() * (j + 1));
    chosen.add(chosen.has(r) ? j : r);
  }
  return [...chosen].sort((x, y) => x - y);
}

/** Links (each query's best candidate) and strangers (runner-ups of queries whose best is surely their match). */
export function linksAndStrangers(
  topTwo: readonly ScoredCandidate[],
  sure: number,
): { links: number[]; strangers: number[] } {
  const byQuery = new Map<number, number[]>();
  for (const c of topTwo) {
    const list = byQuery.get(c.query);
    if (list) list.push(c.score);
    else byQuery.set(c.query, [c.score]);
  }
  const links: number[] = [];
  const strangers: number[] = [];
  for (const scores of byQuery.values()) {
    scores.sort((x, y) => y - x);
    links.push(scores[0]!);
    if (scores[0]! >= sure && scores.length > 1) strangers.push(scores[1]!);
  }
  return { links, strangers };
}

export function thresholdGuidance(
  linkScores: ArrayLike<number>,
  strangerScores: ArrayLike<number>,
  opts: GuidanceOptions = {},
): ThresholdGuidance {
  const floor = opts.floor ?? DEFAULT_GUIDANCE_FLOOR;
  const bins = opts.bins ?? 30;
  const step = opts.step ?? 0.01;
  if (!(floor >= 0 && floor < 1)) throw new PavilionError('GUIDANCE_INVALID', 'the guidance floor must be in [0, 1)');
  if (!Number.isInteger(bins) || bins < 4 || bins > 1000)
    throw new PavilionError('GUIDANCE_INVALID', 'bins must be an integer from 4 to 1000');
  if (!(step > 0 && step <= 0.5)) throw new PavilionError('GUIDANCE_INVALID', 'step must be in (0, 0.5]');
  const width = (1 - floor) / bins;
  const histogram = (xs: ArrayLike<number>): Float64Array => {
    const h = new Float64Array(bins);
    for (let i = 0; i < xs.length; i++) {
      const s = xs[i]!;
      if (s >= floor && s <= 1) h[Math.min(bins - 1, Math.floor((s - floor) / width))]!++;
    }
    return h;
  };
  const counts = histogram(linkScores);
  const strangers = histogram(strangerScores);
  const n = counts.reduce((s, c) => s + c, 0);
  const ns = strangers.reduce((s, c) => s + c, 0);
  if (n < 20 || ns < 20) {
    throw new PavilionError(
      'GUIDANCE_TOO_FEW_SCORES',
      `threshold guidance needs at least 20 links and 20 runner-up scores above the floor (found ${n} and ${ns})`,
    );
  }
  // the non-match shape: the strangers' histogram, lightly smoothed so no bin is impossible
  const u = Float64Array.from(strangers, (c) => (c + 0.5) / (ns + 0.5 * bins));

  const edges = Float64Array.from({ length: bins + 1 }, (_, i) => i / bins);
  const centres = Float64Array.from({ length: bins }, (_, i) => (i + 0.5) / bins);
  const binProbabilities = (p: BetaParams): Float64Array => {
    const out = new Float64Array(bins);
    let prev = 0;
    for (let i = 0; i < bins; i++) {
      const next = i === bins - 1 ? 1 : betaCdf(edges[i + 1]!, p.alpha, p.beta);
      out[i] = Math.max(TINY, next - prev);
      prev = next;
    }
    return out;
  };

  // non-match, spike of copies near 1, shoulder of re-typed records
  let w = [0.4, 0.3, 0.3];
  let spike: BetaParams = { alpha: 20, beta: 1 };
  let shoulder: BetaParams = { alpha: 4, beta: 2 };
  const r = [new Float64Array(bins), new Float64Array(bins), new Float64Array(bins)] as const;
  let last = Number.NEGATIVE_INFINITY;
  let iterations = 0;
  let converged = false;
  while (iterations < MAX_ITERATIONS) {
    iterations++;
    const p1 = binProbabilities(spike);
    const p2 = binProbabilities(shoulder);
    const sums = [0, 0, 0];
    let ll = 0;
    for (let i = 0; i < bins; i++) {
      const parts = [w[0]! * u[i]!, w[1]! * p1[i]!, w[2]! * p2[i]!];
      const total = parts[0]! + parts[1]! + parts[2]!;
      for (let c = 0; c < 3; c++) {
        r[c][i] = (counts[i]! * parts[c]!) / total;
        sums[c]! += r[c][i]!;
      }
      if (counts[i]! > 0) ll += counts[i]! * Math.log(total);
    }
    w = sums.map((s) => Math.max(1e-9, s / n));
    if (sums[1]! > 1e-9) spike = momentFit(centres, r[1], 1 / bins);
    if (sums[2]! > 1e-9) shoulder = momentFit(centres, r[2], 1 / bins);
    if (Math.abs(ll - last) < 1e-10 * Math.max(1, Math.abs(ll))) {
      converged = true;
      break;
    }
    last = ll;
  }

  const sorted = Float64Array.from(
    Array.prototype.filter.call(linkScores, (s: number) => s >= floor && s <= 1) as number[],
  );
  sorted.sort();
  const linksAtOrAbove = (t: number): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return sorted.length - lo;
  };
  const matchWeight = w[1]! + w[2]!;
  const point = (t: number): ThresholdPoint => {
    const x = Math.min(1, Math.max(0, (t - floor) / (1 - floor)));
    const matches =
      w[1]! * (1 - betaCdf(x, spike.alpha, spike.beta)) + w[2]! * (1 - betaCdf(x, shoulder.alpha, shoulder.beta));
    // the non-match shape is a histogram: its survival is the mass of the bins from x on (x within a bin: pro rata)
    const at = Math.min(bins, x * bins);
    let tail = 0;
    for (let i = Math.floor(at); i < bins; i++) tail += u[i]! * (i === Math.floor(at) ? 1 - (at - i) : 1);
    const nonMatches = w[0]! * tail;
    return {
      threshold: Number(t.toFixed(6)),
      links: linksAtOrAbove(t),
      precision: matches + nonMatches > 0 ? matches / (matches + nonMatches) : 1,
      recall: matches / matchWeight,
    };
  };
  const curve: ThresholdPoint[] = [];
  for (let k = 0; floor + k * step <= 1 + 1e-12; k++) curve.push(point(Math.min(1, floor + k * step)));
  const f1 = (p: ThresholdPoint): number =>
    p.precision + p.recall > 0 ? (2 * p.precision * p.recall) / (p.precision + p.recall) : 0;
  const min = opts.policyMinimum;
  const allowed = curve.filter((p) => min === undefined || p.threshold >= min - 1e-9);
  const suggested = (allowed.length > 0 ? allowed : curve).reduce((best, p) => (f1(p) > f1(best) ? p : best));
  return {
    floor,
    histogram: { floor, width, links: Array.from(counts), strangers: Array.from(strangers) },
    model: {
      nonMatchWeight: w[0]!,
      match: [
        { weight: w[1]!, ...spike },
        { weight: w[2]!, ...shoulder },
      ],
      iterations,
      converged,
    },
    curve,
    suggested,
    ...(min === undefined ? {} : { atPolicyMinimum: point(Math.max(floor, min)) }),
    matchShare: matchWeight,
  };
}

/** What estimateThresholds needs of the engine (engine/index.ts's Engine has it). */
export interface GuidanceEngine {
  link(
    id: string,
    queries: Uint8Array,
    opts: { threshold: number; topK?: number },
  ): Promise<{ pairs: ScoredCandidate[] }>;
}

export interface EstimateOptions extends GuidanceOptions {
  filterBits: number;
  /** Queries sampled (default DEFAULT_GUIDANCE_SAMPLE); all of them when there are fewer. */
  sample?: number;
  seed?: number;
}

/**
 * Guidance for linking `queries` (concatenated CLKs) against the loaded
 * dataset `datasetId`: a seeded sample of the queries, each sampled query's
 * best two candidates at the floor from a full comparison (the engine's top-k
 * kernel), then linksAndStrangers and thresholdGuidance. Costs sample ×
 * dataset size comparisons, whether or not the job itself uses blocking.
 */
export async function estimateThresholds(
  engine: GuidanceEngine,
  datasetId: string,
  queries: Uint8Array,
  opts: EstimateOptions,
): Promise<ThresholdGuidance> {
  const bytes = opts.filterBits / 8;
  const floor = opts.floor ?? DEFAULT_GUIDANCE_FLOOR;
  const picked = sampleIndices(queries.length / bytes, opts.sample ?? DEFAULT_GUIDANCE_SAMPLE, opts.seed ?? 1);
  const sampled = new Uint8Array(picked.length * bytes);
  picked.forEach((q, i) => {
    sampled.set(queries.subarray(q * bytes, (q + 1) * bytes), i * bytes);
  });
  const top2 = (await engine.link(datasetId, sampled, { threshold: floor, topK: 2 })).pairs;
  const { links, strangers } = linksAndStrangers(top2, opts.sure ?? 0.95);
  return thresholdGuidance(links, strangers, opts);
}
