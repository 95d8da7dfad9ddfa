// Linkage schemas of versions 1 and 2: upgraded to v3 exactly as clkhash
// 0.18.3 upgrades them, and encoded to clkhash's CLKs bit for bit
// (test/fixtures/clkhash/legacy-schema-vectors.json, generate_legacy_vectors.py;
// the published v1 vector of clkhash-vectors.json).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClkEncoder, clkToBase64, parseSchema } from '../../../engine/clk/index.js';
import { upgradeSchema } from '../../../engine/clk/schema-upgrade.js';

const fixture = (name: string): any =>
  JSON.parse(readFileSync(new URL(`../../fixtures/clkhash/${name}`, import.meta.url), 'utf8'));

interface LegacyVectors {
  generator: { clkhash_version: string };
  cases: Array<{
    id: string;
    description: string;
    schema: Record<string, unknown>;
    upgraded: unknown;
    secret: string;
    records: string[][];
    clks_b64: string[];
  }>;
}

const legacy = fixture('legacy-schema-vectors.json') as LegacyVectors;

describe(`linkage schemas v1 and v2 (clkhash ${legacy.generator.clkhash_version})`, () => {
  it('covers both old versions', () => {
    expect(new Set(legacy.cases.map((c) => c.schema.version))).toEqual(new Set([1, 2]));
  });

  for (const c of legacy.cases) {
    it(`${c.id}: upgrades to clkhash's v3 schema — ${c.description}`, () => {
      const given = structuredClone(c.schema);
      expect(upgradeSchema(given)).toEqual(c.upgraded);
      expect(given).toEqual(c.schema); // the caller's object is left alone
    });
    for (const backend of ['wasm', 'node'] as const) {
      it(`${c.id} (${backend}): clkhash's CLKs from the old schema`, () => {
        const encoder = ClkEncoder.create(c.schema, c.secret, { hashBackend: backend });
        expect(c.records.map((r) => clkToBase64(encoder.encode(r)))).toEqual(c.clks_b64);
      });
    }
  }

  it('the published v1 vector encodes the same from its v1 original as from its v3 form', () => {
    const v = fixture('clkhash-vectors.json').vectors[0];
    const fromV1 = ClkEncoder.create(v.schema_v1_original, v.secret);
    for (const c of v.cases) expect(clkToBase64(fromV1.encode(c.record))).toBe(c.expected_clk_b64);
  });

  it('refuses what clkhash refuses, naming the path', () => {
    const v1 = structuredClone(legacy.cases.find((c) => c.schema.version === 1)!.schema) as any;
    const code = (schema: unknown) => {
      try {
        parseSchema(schema);
      } catch (e) {
        return `${(e as { code: string }).code} ${(e as Error).message.split(':')[0]}`;
      }
      return 'accepted';
    };
    // k · weight rounds to 0 bits per token (0.02 · 20 = 0.4).
    const tiny = structuredClone(v1);
    tiny.features[1].hashing.weight = 0.02;
    expect(code(tiny)).toBe('SCHEMA_INVALID linkage schema $.features[1].hashing.strategy.bitsPerToken');
    const negative = structuredClone(v1);
    negative.features[1].hashing.weight = -1;
    expect(code(negative)).toBe('SCHEMA_INVALID linkage schema $.features[1].hashing.weight');
    const noNgram = structuredClone(v1);
    delete noNgram.features[1].hashing.ngram;
    expect(code(noNgram)).toBe('SCHEMA_INVALID linkage schema $.features[1].hashing.ngram');
    const v2 = structuredClone(legacy.cases.find((c) => c.schema.version === 2)!.schema) as any;
    delete v2.features[1].hashing.strategy;
    expect(code(v2)).toBe('SCHEMA_INVALID linkage schema $.features[1].hashing.strategy');
  });
});
