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
  sweeps: { probe: Array<[number, number]>; cases: Array<{ pattern: string; accepted: Array<[number, number]> }> };
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

  it('one-character values: every character with a case mapping, against each sweep pattern', () => {
    const expand = (ranges: Array<[number, number]>) =>
      ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => (a + k).toString(16)));
    const probe = expand(vectors.sweeps.probe);
    const got = vectors.sweeps.cases.map(({ pattern }) => {
      const feature = featureFor(pattern);
      return { pattern, accepted: probe.filter((cp) => accepts(feature, String.fromCodePoint(parseInt(cp, 16)))) };
    });
    expect(got).toEqual(vectors.sweeps.cases.map(({ pattern, accepted }) => ({ pattern, accepted: expand(accepted) })));
  });

  it('an encode refuses a record whose value holds an emoji after the digits (the probe finding)', () => {
    const encoder = ClkEncoder.create(schemaFor('\\d*'), 'secret');
    expect(() => encoder.encode(['0412\u{1F600}'])).toThrow(/does not match pattern/);
    expect(() => encoder.encode(['0412'])).not.toThrow();
  });

  it('an encode takes the records clkhash takes for .+ and (?i)[a-z]+ (the probe finding)', () => {
    const encoder = ClkEncoder.create(schemaFor('(?i)[a-z]+'), 'secret');
    expect(() => encoder.encode(['\u0130stanbul'])).not.toThrow();
    expect(() => encoder.encode(['D\u0131yarbak\u0131r'])).not.toThrow();
    expect(() => ClkEncoder.create(schemaFor('.+'), 'secret').encode(['a\u2028b'])).not.toThrow();
  });
});

describe('patterns refused at schema parse where JS cannot answer as Python does', () => {
  it('SCHEMA_UNSUPPORTED naming the construct; the same without (?i), or in lower case, is translated', () => {
    const refused: Array<[string, RegExp]> = [
      ['(?i)(a)\\1', /\$\.features\[0\]\.format\.pattern: a backreference under \(\?i\) is not supported/],
      ['(?i)(?P<x>a)(?P=x)', /a backreference under \(\?i\) is not supported/],
      ['(?i)[\u{10400}x]', /\(\?i\) with the upper-case character U\+10400 beyond U\+FFFF is not supported/],
      ['(?i)\\U00010400', /U\+10400 beyond U\+FFFF/],
      ['\\N{EM DASH}', /\\N\{\.\.\.\} \(a character by name\) is not supported/],
      // Python's octal escape (chr(0o123), 'S'): was SCHEMA_INVALID, read as a backreference to group 123.
      ['\\123', /octal escapes are not supported/],
    ];
    for (const [pattern, message] of refused) {
      expect(() => parseSchema(schemaFor(pattern)), pattern).toThrow(
        expect.objectContaining({ code: 'SCHEMA_UNSUPPORTED', message: expect.stringMatching(message) }),
      );
    }
    expect(() => parseSchema(schemaFor('(a)\\1'))).not.toThrow();
    expect(() => parseSchema(schemaFor('(?i)[\u{10428}x]'))).not.toThrow();
  });
});
