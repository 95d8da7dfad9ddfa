// A string feature's `format.pattern` against clkhash: the values clkhash
// 0.18.3 accepts and refuses (test/fixtures/clkhash/pattern-vectors.json, made
// by generate_pattern_vectors.py beside it) must be the ones the encoder
// accepts and refuses, through the schema parser and prepareValue as an
// encode runs them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PavilionError } from '../../../common/errors.js';
import { ClkEncoder } from '../../../engine/clk/index.js';
import { prepareValue } from '../../../engine/clk/prepare.js';
import { type HashedFeature, parseSchema } from '../../../engine/clk/schema.js';

interface PatternVectors {
  generator: { clkhash_version: string };
  cases: Array<{ topic: string; pattern: string; records: Array<{ value: string; valid: boolean }> }>;
}

const vectors = JSON.parse(
  readFileSync(new URL('../../fixtures/clkhash/pattern-vectors.json', import.meta.url), 'utf8'),
) as PatternVectors;

const schemaFor = (pattern: string) => ({
  version: 3,
  clkConfig: { l: 64, kdf: { type: 'HKDF' } },
  features: [
    {
      identifier: 'f',
      format: { type: 'string', pattern },
      hashing: { comparison: { type: 'ngram', n: 1 }, strategy: { bitsPerToken: 5 } },
    },
  ],
});

const featureFor = (pattern: string): HashedFeature => parseSchema(schemaFor(pattern)).features[0] as HashedFeature;

/** true when the encoder takes the value, false when it refuses it with RECORD_INVALID. */
function accepts(feature: HashedFeature, value: string): boolean {
  try {
    prepareValue(feature, value);
    return true;
  } catch (e) {
    if (e instanceof PavilionError && e.code === 'RECORD_INVALID') return false;
    throw e;
  }
}

describe(`patterns against clkhash ${vectors.generator.clkhash_version}`, () => {
  const topics = [...new Set(vectors.cases.map((c) => c.topic))];
  it.each(topics)('%s', (topic) => {
    const cases = vectors.cases.filter((c) => c.topic === topic);
    const got = cases.map((c) => {
      const feature = featureFor(c.pattern);
      return { ...c, records: c.records.map((r) => ({ value: r.value, valid: accepts(feature, r.value) })) };
    });
    expect(got).toEqual(cases);
  });

  it('an encode refuses a record whose value holds an emoji after the digits (the probe finding)', () => {
    const encoder = ClkEncoder.create(schemaFor('\\d*'), 'secret');
    expect(() => encoder.encode(['0412\u{1F600}'])).toThrow(/does not match pattern/);
    expect(() => encoder.encode(['0412'])).not.toThrow();
  });
});
