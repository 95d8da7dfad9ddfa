/**
 * The verification decision from the engine's best candidates.
 *
 * The search runs with threshold = the policy's min_score and top-k 2:
 * - no candidate at or above min_score → `no_match` (score 0: scores below
 *   the policy's bar are not disclosed);
 * - one candidate, or the best ahead of the second by at least `margin`
 *   → `match` with the best score;
 * - two candidates at or above min_score within `margin` of each other →
 *   `ambiguous` with the best score: the broker cannot tell which record is
 *   the person, so it releases no claims. (Dice scores of one person's
 *   re-typed record vs. a different person's record sharing name and
 *   birth year differ by a few hundredths with the demo schema, hence the
 *   default margin 0.02, AMBIGUITY_MARGIN.)
 */
export type VerificationDecision = 'match' | 'no_match' | 'ambiguous';

export interface ScoredCandidate {
  index: number;
  score: number;
}

export interface DecisionOutcome {
  decision: VerificationDecision;
  score: number;
  /** Dataset index of the matched record (match only). */
  index: number | null;
}

export function decide(candidates: readonly ScoredCandidate[], minScore: number, margin: number): DecisionOutcome {
  const eligible = candidates.filter((c) => c.score >= minScore).sort((a, b) => b.score - a.score || a.index - b.index);
  const best = eligible[0];
  if (!best) return { decision: 'no_match', score: 0, index: null };
  const second = eligible[1];
  if (second && best.score - second.score < margin) return { decision: 'ambiguous', score: best.score, index: null };
  return { decision: 'match', score: best.score, index: best.index };
}
