/** The decision rule (server/verification/decision.ts): match, ambiguous or no_match from the candidates. */
import { describe, expect, it } from 'vitest';
import { decide } from '../../../server/verification/decision.js';

describe('decision rule', () => {
  it('no candidate → no_match with score 0', () =>
    expect(decide([], 0.8, 0.02)).toEqual({ decision: 'no_match', score: 0, index: null }));
  it('candidates below min score are ignored', () =>
    expect(decide([{ index: 1, score: 0.79 }], 0.8, 0.02).decision).toBe('no_match'));
  it('one candidate → match', () =>
    expect(decide([{ index: 4, score: 0.9 }], 0.8, 0.02)).toEqual({ decision: 'match', score: 0.9, index: 4 }));
  it('clearly ahead → match', () =>
    expect(
      decide(
        [
          { index: 2, score: 0.85 },
          { index: 4, score: 0.95 },
        ],
        0.8,
        0.02,
      ),
    ).toEqual({ decision: 'match', score: 0.95, index: 4 }));
  it('within the margin → ambiguous', () =>
    expect(
      decide(
        [
          { index: 2, score: 0.94 },
          { index: 4, score: 0.95 },
        ],
        0.8,
        0.02,
      ),
    ).toEqual({ decision: 'ambiguous', score: 0.95, index: null }));
  it('second below min score does not make it ambiguous', () =>
    expect(
      decide(
        [
          { index: 2, score: 0.799 },
          { index: 4, score: 0.81 },
        ],
        0.8,
        0.02,
      ).decision,
    ).toBe('match'));
});
