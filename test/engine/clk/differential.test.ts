// Differential test: the encoder with the wasm hashing path against the
// same encoder with the node:crypto path (per-token createHmac, plain-TS
// BLAKE2b) on random records, across schemas exercising every hash option.
// Also checks that the token cache (including forced evictions) never
// changes a CLK.
import { describe, expect, it } from 'vitest';
import { seededRandom as rng } from '../../../common/seeded-random.js';
import { ClkEncoder } from '../../../engine/clk/index.js';

const ALPHABET = "abcdefghijklmnopqrstuvwxyz  éüßΩ李😀-'";

function randomWord(r: () => number, maxLen: number): string {
  const chars = Array.from(ALPHABET);
  let s = '';
  const n = Math.floor(r() * (maxLen + 1));
  for (let i = 0; i < n; i++) s += chars[Math.floor(r() * chars.length)];
  return s;
}

function randomDate(r: () => number): string {
  const y = 1900 + Math.floor(r() * 120);
  const m = 1 + Math.floor(r() * 12);
  const d = 1 + Math.floor(r() * 28);
  return `${y}/${String(m).padStart(2, '0')}/${String(d).padStart(2, '0')}`;
}

const kdf = { type: 'HKDF', hash: 'SHA256', salt: 'c2FsdA==', info: 'aW5mbw==', keySize: 64 };

function schema(hash: object, extra: object = {}, encoding = 'utf-8', l = 1024): object {
  return {
    version: 3,
    clkConfig: { l, kdf, ...extra },
    features: [
      { identifier: 'id', ignored: true },
      {
        identifier: 'given',
        format: { type: 'string', encoding },
        hashing: { comparison: { type: 'ngram', n: 2 }, strategy: { bitsPerFeature: 200 }, hash },
      },
      {
        identifier: 'surname',
        format: { type: 'string', encoding },
        hashing: { comparison: { type: 'ngram', n: 2, positional: true }, strategy: { bitsPerToken: 20 }, hash },
      },
      {
        identifier: 'dob',
        format: { type: 'date', format: '%Y/%m/%d' },
        hashing: { comparison: { type: 'ngram', n: 1, positional: true }, strategy: { bitsPerToken: 40 }, hash },
      },
      {
        identifier: 'postcode',
        format: { type: 'integer' },
        hashing: {
          comparison: { type: 'exact' },
          strategy: { bitsPerToken: 50 },
          hash,
          missingValue: { sentinel: '' },
        },
      },
    ],
  };
}

const SCHEMAS: Record<string, object> = {
  doubleHash: schema({ type: 'doubleHash' }),
  'doubleHash prevent_singularity, l=64': schema({ type: 'doubleHash', prevent_singularity: true }, {}, 'utf-8', 64),
  blakeHash: schema({ type: 'blakeHash' }),
  'blakeHash xor_folds 2': schema({ type: 'blakeHash' }, { xor_folds: 2 }, 'utf-8', 256),
  'doubleHash utf-16': schema({ type: 'doubleHash' }, {}, 'utf-16'),
  'blakeHash utf-32': schema({ type: 'blakeHash' }, {}, 'utf-32'),
};

function records(seed: number, n: number): string[][] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => [
    `rec-${i}`,
    randomWord(r, 12),
    randomWord(r, 16),
    randomDate(r),
    r() < 0.1 ? '' : String(Math.floor(r() * 10000)).padStart(4, '0'),
  ]);
}

describe('wasm hashing path = node:crypto hashing path', () => {
  for (const [name, s] of Object.entries(SCHEMAS)) {
    it(name, () => {
      const rows = records(name.length * 7919, 150);
      const wasm = ClkEncoder.create(s, 'differential secret', { hashBackend: 'wasm' });
      const node = ClkEncoder.create(s, 'differential secret', { hashBackend: 'node' });
      const a = wasm.encodeMany(rows);
      const b = node.encodeMany(rows);
      expect(a.length).toBe(rows.length * wasm.filterBytes);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      // Sanity: CLKs are not all identical (small filters saturate, so only for l >= 256).
      if (wasm.filterBits >= 256)
        expect(
          new Set(
            rows.map((_, i) =>
              Buffer.from(a.subarray(i * wasm.filterBytes, (i + 1) * wasm.filterBytes)).toString('hex'),
            ),
          ).size,
        ).toBeGreaterThan(rows.length - 5);
    });
  }

  it('a tiny cache (evicting constantly) gives the same CLKs as the default cache', () => {
    const rows = records(42, 300);
    for (const s of [SCHEMAS.doubleHash!, SCHEMAS.blakeHash!]) {
      const big = ClkEncoder.create(s, 'k').encodeMany(rows);
      const tiny = ClkEncoder.create(s, 'k', { cacheEntries: 7 }).encodeMany(rows);
      expect(Buffer.from(tiny).equals(Buffer.from(big))).toBe(true);
    }
  });

  it('value caches that switch themselves off and on per feature give the same CLKs as no value cache', () => {
    // 100,000 records: given names repeat (its value cache stays on), surnames and dates rarely do
    // (theirs is switched off after a window of 16,384 values and tried again 65,536 values later),
    // postcodes fill the cache; plain and positional grams go through the gram tables, astral
    // names through the string path.
    const r = rng(11);
    const given = ['ann', 'bob', 'zoë', '𝒜lice', 'li'];
    const rows = Array.from({ length: 100_000 }, (_, i) => [
      `rec-${i}`,
      given[i % given.length]!,
      randomWord(r, 16),
      randomDate(r),
      i % 9 === 0 ? '' : String(1000 + (i % 3000)),
    ]);
    for (const [s, n] of [
      [SCHEMAS.doubleHash!, rows.length],
      [SCHEMAS.blakeHash!, 20_000],
    ] as const) {
      // A small budget fills up: what does not fit is encoded without the cache.
      const cached = ClkEncoder.create(s, 'k', { valueCacheBytes: 1 << 20 }).encodeMany(rows.slice(0, n));
      const uncached = ClkEncoder.create(s, 'k', { valueCacheBytes: 0 }).encodeMany(rows.slice(0, n));
      expect(Buffer.from(cached).equals(Buffer.from(uncached))).toBe(true);
    }
  });

  it('encode, encodeRecord and encodeMany agree; re-encoding is stable', () => {
    const e = ClkEncoder.create(SCHEMAS.doubleHash!, 'k');
    const rows = records(7, 20);
    const many = e.encodeMany(rows);
    rows.forEach((row, i) => {
      const one = e.encode(row);
      expect(Buffer.from(one).equals(Buffer.from(many.subarray(i * e.filterBytes, (i + 1) * e.filterBytes)))).toBe(
        true,
      );
      const rec = Object.fromEntries(e.featureNames.map((n, j) => [n, row[j]!]));
      delete rec.id; // ignored features may be absent
      expect(Buffer.from(e.encodeRecord(rec)).equals(Buffer.from(one))).toBe(true);
    });
    expect(e.featureNames).toEqual(['id', 'given', 'surname', 'dob', 'postcode']);
    expect(e.filterBits).toBe(1024);
  });

  it('different secrets give different CLKs', () => {
    const row = records(3, 1)[0]!;
    const a = ClkEncoder.create(SCHEMAS.doubleHash!, 'one').encode(row);
    const b = ClkEncoder.create(SCHEMAS.doubleHash!, 'two').encode(row);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('dispose frees kernel key slots (many encoders created and disposed)', () => {
    for (let i = 0; i < 200; i++) ClkEncoder.create(SCHEMAS.doubleHash!, `s${i}`).dispose();
    const e = ClkEncoder.create(SCHEMAS.doubleHash!, 'k');
    e.dispose();
    expect(() => e.encode(records(1, 1)[0]!)).toThrow(expect.objectContaining({ code: 'ENCODER_DISPOSED' }));
  });
});
