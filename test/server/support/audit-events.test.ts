/**
 * Every audit event type has one builder that checks its fields' shape (server/support/audit-events.ts):
 * free text, and with it personal data, cannot reach the log through a field.
 */
import { describe, expect, it } from 'vitest';
import { canonicalEvent } from '../../../audit/index.js';
import { isPavilionError } from '../../../common/errors.js';
import {
  datasetDefinedEvent,
  datasetDeletedEvent,
  datasetSecretSetEvent,
  datasetVersionEvent,
  linkageJobEvent,
  preparedVerificationEvent,
  verificationEvent,
} from '../../../server/support/audit-events.js';

const PERSON = 'Jane Doe 1990-01-01';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!isPavilionError(err)) throw err;
    expect(err.message).not.toContain('Jane');
    return err.code;
  }
}

const verification = {
  requestId: 'r1',
  relyingParty: 'rp',
  dataset: 'd',
  datasetVersion: 'v1',
  queryHash: 'ab'.repeat(32),
  decision: 'match' as const,
  score: 0.9,
  releasedClaims: ['over_21', 'license_valid', 'over_21'],
  purpose: 'kyc',
  policyDecisionId: 'p',
  actor: 'a',
};

const builders: [string, (f: never) => unknown, Record<string, unknown>, Record<string, unknown>[]][] = [
  [
    'verification',
    verificationEvent as never,
    verification,
    [
      { requestId: PERSON },
      { queryHash: 'not a hash' },
      { decision: 'maybe' },
      { score: 1.5 },
      { releasedClaims: [PERSON] },
      { time: '2026-11-26 07:00' },
      { actor: '' },
    ],
  ],
  [
    'dataset_defined',
    datasetDefinedEvent as never,
    { dataset: 'd', created: true, filterBits: 1024, claims: ['over_18'], allowBrokerEncoding: false, actor: 'dp' },
    [{ dataset: PERSON }, { claims: [PERSON] }, { filterBits: -1 }],
  ],
  [
    'dataset_version',
    datasetVersionEvent as never,
    { dataset: 'd', version: 2, rows: 10, filterBits: 1024, actor: 'dp' },
    [{ actor: PERSON }, { rows: 1.5 }, { version: -2 }],
  ],
  ['dataset_deleted', datasetDeletedEvent as never, { dataset: 'd', versions: 3, actor: 'dp' }, [{ actor: PERSON }]],
  ['dataset_secret_set', datasetSecretSetEvent as never, { dataset: 'd', actor: 'dp' }, [{ dataset: PERSON }]],
  [
    'linkage_job',
    linkageJobEvent as never,
    {
      job: '0b0e6e56-4f7f-4c55-9d8a-1f0e6e564f7f',
      actor: 'rp',
      relyingParty: 'rp',
      dataset: 'd',
      datasetVersion: '3',
      queries: 5,
      threshold: 0.8,
      solution: 'greedy',
      pairs: 4,
    },
    [{ relyingParty: PERSON }, { threshold: 2 }, { solution: 'best' }, { pairs: -1 }],
  ],
];

describe('audit event builders', () => {
  for (const [type, build, good, bads] of builders) {
    it(`${type}: builds a canonical event of its type, and refuses malformed fields without echoing them`, () => {
      const event = build({ ...good, time: '2026-12-05T06:00:00.000Z' } as never) as Record<string, unknown>;
      expect(event.type).toBe(type);
      expect(event.v).toBe(1);
      expect(JSON.parse(canonicalEvent(event))).toEqual(event);
      for (const bad of bads)
        expect(
          codeOf(() => build({ ...good, ...bad } as never)),
          JSON.stringify(bad),
        ).toBe('EVENT_INVALID');
    });
  }

  it('verification: released claims are names only, sorted and unique; flags appear only when set', () => {
    const e = verificationEvent({ ...verification, time: '2026-12-05T06:00:00.000Z' });
    expect(e.released_claims).toEqual(['license_valid', 'over_21']);
    expect('cached' in e).toBe(false);
    expect(verificationEvent({ ...verification, cached: true, encodedByBroker: true })).toMatchObject({
      cached: true,
      encoded_by_broker: true,
    });
  });

  it('verification: the prepared text is the canonical text of the event, for any fields the builder accepts', () => {
    // Identifier alphabets at their edges, both hash spellings, scores whose shortest spelling differs
    // (0, 1, exponents, long fractions), claim lists empty, single, repeated and unsorted, each flag.
    const ids = ['a', 'A.b_c:d@e/f+g=h-i', 'hmac-sha256:AbC_-9', '0', 'x'.repeat(200)];
    const hashes = ['ab'.repeat(32), 'Zz_-09'.repeat(8), 'f'.repeat(128)];
    const scores = [0, -0, 1, 0.9, 0.1 + 0.2, 1e-7, 5e-324, 0.8571428571428571, 2 / 3];
    const claimLists = [[], ['over_18'], ['over_21', 'license_valid', 'over_21'], ['b', 'a', 'a_1', 'a0']];
    let n = 0;
    for (const id of ids)
      for (const queryHash of hashes)
        for (const score of scores)
          for (const releasedClaims of claimLists)
            for (const flags of [
              {},
              { cached: true },
              { encodedByBroker: true },
              { cached: true, encodedByBroker: true },
            ]) {
              const f = {
                ...verification,
                requestId: id,
                relyingParty: id,
                dataset: id,
                datasetVersion: id,
                purpose: id,
                policyDecisionId: id,
                actor: id,
                queryHash,
                score,
                releasedClaims,
                decision: (['match', 'no_match', 'ambiguous'] as const)[n++ % 3],
                time: n % 2 ? '2026-12-05T06:00:00.000Z' : '2026-12-05T06:00:00Z',
                ...flags,
              };
              expect(preparedVerificationEvent(f).canonical).toBe(canonicalEvent(verificationEvent(f)));
            }
    expect(n).toBe(ids.length * hashes.length * scores.length * claimLists.length * 4);
  });

  it('verification: the prepared builder refuses what the object builder refuses, without echoing it', () => {
    for (const bad of [
      { requestId: PERSON },
      { relyingParty: 'a"b' },
      { purpose: 'a\\b' },
      { queryHash: 'not a hash' },
      { decision: 'maybe' },
      { score: 1.5 },
      { score: Number.NaN },
      { releasedClaims: [PERSON] },
      { releasedClaims: ['a"'] },
      { time: '2026-11-26 07:00' },
      { time: '2026-11-26T07:00:00.000Z","x":"y' },
      { actor: '' },
    ])
      expect(
        codeOf(() => preparedVerificationEvent({ ...verification, ...bad } as never)),
        JSON.stringify(bad),
      ).toBe('EVENT_INVALID');
  });
});
