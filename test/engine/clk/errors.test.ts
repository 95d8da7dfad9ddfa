// Bad schemas, secrets and records give typed PavilionErrors naming the JSON
// path or the feature and rule, and never echo record values.
import { describe, expect, it } from 'vitest';
import { ClkEncoder, parseSchema } from '../../../engine/clk/index.js';

const base = (): any => ({
  version: 3,
  clkConfig: { l: 1024, kdf: { type: 'HKDF' } },
  features: [
    { identifier: 'id', ignored: true },
    {
      identifier: 'name',
      format: { type: 'string', maxLength: 10 },
      hashing: { comparison: { type: 'ngram', n: 2 }, strategy: { bitsPerToken: 20 }, hash: { type: 'doubleHash' } },
    },
    {
      identifier: 'dob',
      format: { type: 'date', format: '%Y/%m/%d' },
      hashing: { comparison: { type: 'ngram', n: 2 }, strategy: { bitsPerToken: 20 } },
    },
    {
      identifier: 'n',
      format: { type: 'integer', minimum: 1, maximum: 99 },
      hashing: { comparison: { type: 'exact' }, strategy: { bitsPerToken: 20 } },
    },
    {
      identifier: 'sex',
      format: { type: 'enum', values: ['M', 'F'] },
      hashing: { comparison: { type: 'exact' }, strategy: { bitsPerToken: 20 } },
    },
    {
      identifier: 'code',
      format: { type: 'string', pattern: '[A-Z]{3}' },
      hashing: { comparison: { type: 'exact' }, strategy: { bitsPerToken: 20 } },
    },
    {
      identifier: 'up',
      format: { type: 'string', case: 'upper', encoding: 'ascii' },
      hashing: { comparison: { type: 'exact' }, strategy: { bitsPerToken: 20 } },
    },
  ],
});

function schemaError(mutate: (s: any) => void): { code: string; message: string } {
  const s = base();
  mutate(s);
  try {
    parseSchema(s);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('schema was accepted');
}

describe('schema errors', () => {
  it('accepts the base schema', () => {
    expect(parseSchema(base()).features.length).toBe(7);
  });

  it.each([
    [
      'not an object',
      (s: any) => {
        s.features = 5;
      },
      'SCHEMA_INVALID',
      '$.features',
    ],
    [
      'version 4',
      (s: any) => {
        s.version = 4;
      },
      'SCHEMA_INVALID',
      '$.version',
    ],
    // A v3 body labelled version 2 is upgraded as clkhash does, and lacks v2's ngram.
    [
      'version 2 with v3 fields',
      (s: any) => {
        s.version = 2;
      },
      'SCHEMA_INVALID',
      '$.features[1].hashing.ngram',
    ],
    [
      'version 1 without k',
      (s: any) => {
        s.version = 1;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.k',
    ],
    [
      'version 1 without hash',
      (s: any) => {
        s.version = 1;
        s.clkConfig.k = 20;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.hash',
    ],
    [
      'missing l',
      (s: any) => {
        delete s.clkConfig.l;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.l',
    ],
    [
      'l = 0',
      (s: any) => {
        s.clkConfig.l = 0;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.l',
    ],
    [
      'l = 1.5',
      (s: any) => {
        s.clkConfig.l = 1.5;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.l',
    ],
    [
      'kdf type',
      (s: any) => {
        s.clkConfig.kdf.type = 'PBKDF2';
      },
      'SCHEMA_INVALID',
      '$.clkConfig.kdf.type',
    ],
    [
      'kdf hash',
      (s: any) => {
        s.clkConfig.kdf.hash = 'MD5';
      },
      'SCHEMA_INVALID',
      '$.clkConfig.kdf.hash',
    ],
    [
      'kdf salt not base64',
      (s: any) => {
        s.clkConfig.kdf.salt = 'not base64!';
      },
      'SCHEMA_INVALID',
      '$.clkConfig.kdf.salt',
    ],
    [
      'keySize 0',
      (s: any) => {
        s.clkConfig.kdf.keySize = 0;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.kdf.keySize',
    ],
    [
      'xorFolds negative',
      (s: any) => {
        s.clkConfig.xorFolds = -1;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.xorFolds',
    ],
    [
      'xor_folds huge',
      (s: any) => {
        s.clkConfig.xor_folds = 40;
      },
      'SCHEMA_UNSUPPORTED',
      '$.clkConfig',
    ],
    [
      'feature without identifier',
      (s: any) => {
        delete s.features[1].identifier;
      },
      'SCHEMA_INVALID',
      '$.features[1].identifier',
    ],
    [
      'ignored feature with extra key',
      (s: any) => {
        s.features[0].format = { type: 'string' };
      },
      'SCHEMA_INVALID',
      '$.features[0].hashing',
    ],
    [
      'unknown format type',
      (s: any) => {
        s.features[1].format.type = 'float';
      },
      'SCHEMA_INVALID',
      '$.features[1].format.type',
    ],
    [
      'pattern with maxLength',
      (s: any) => {
        s.features[5].format.maxLength = 3;
      },
      'SCHEMA_INVALID',
      '$.features[5].format.maxLength',
    ],
    [
      'bad regex',
      (s: any) => {
        s.features[5].format.pattern = '[A-Z';
      },
      'SCHEMA_INVALID',
      '$.features[5].format.pattern',
    ],
    // These two once sent the pattern translator into an endless loop.
    [
      'unterminated regex comment',
      (s: any) => {
        s.features[5].format.pattern = '[A-Z]{3}(?#note';
      },
      'SCHEMA_INVALID',
      '$.features[5].format.pattern',
    ],
    [
      'unterminated regex backreference',
      (s: any) => {
        s.features[5].format.pattern = '(?P<a>[A-Z])(?P=a';
      },
      'SCHEMA_INVALID',
      '$.features[5].format.pattern',
    ],
    [
      'bad encoding',
      (s: any) => {
        s.features[1].format.encoding = 'latin-1';
      },
      'SCHEMA_INVALID',
      '$.features[1].format.encoding',
    ],
    [
      'bad strptime directive',
      (s: any) => {
        s.features[2].format.format = '%Q';
      },
      'SCHEMA_INVALID',
      '$.features[2].format.format',
    ],
    [
      'unsupported strptime directive',
      (s: any) => {
        s.features[2].format.format = '%G-%V';
      },
      'SCHEMA_UNSUPPORTED',
      '$.features[2].format.format',
    ],
    [
      'enum values not strings',
      (s: any) => {
        s.features[4].format.values = ['M', 1];
      },
      'SCHEMA_INVALID',
      '$.features[4].format.values[1]',
    ],
    [
      'n = 0',
      (s: any) => {
        s.features[1].hashing.comparison.n = 0;
      },
      'SCHEMA_INVALID',
      '$.features[1].hashing.comparison.n',
    ],
    [
      'unknown comparison',
      (s: any) => {
        s.features[1].hashing.comparison = { type: 'soundex' };
      },
      'SCHEMA_INVALID',
      '$.features[1].hashing.comparison.type',
    ],
    [
      'both strategies',
      (s: any) => {
        s.features[1].hashing.strategy = { bitsPerToken: 1, bitsPerFeature: 2 };
      },
      'SCHEMA_INVALID',
      '$.features[1].hashing.strategy',
    ],
    [
      'strategy 0',
      (s: any) => {
        s.features[1].hashing.strategy = { bitsPerToken: 0 };
      },
      'SCHEMA_INVALID',
      '$.features[1].hashing.strategy.bitsPerToken',
    ],
    [
      'unknown hashing key',
      (s: any) => {
        s.features[1].hashing.weight = 2;
      },
      'SCHEMA_INVALID',
      '$.features[1].hashing.weight',
    ],
    [
      'prevent_singularity with blakeHash',
      (s: any) => {
        s.features[2].hashing.hash = { type: 'blakeHash', prevent_singularity: true };
      },
      'SCHEMA_INVALID',
      '$.features[2].hashing.hash.prevent_singularity',
    ],
    [
      'blakeHash with l not a power of two',
      (s: any) => {
        s.clkConfig.l = 1000;
      },
      'SCHEMA_INVALID',
      '$.features[2].hashing.hash',
    ],
    [
      'blakeHash with keySize > 64',
      (s: any) => {
        s.clkConfig.kdf.keySize = 65;
      },
      'SCHEMA_INVALID',
      '$.clkConfig.kdf.keySize',
    ],
    [
      'prevent_singularity with l = 1',
      (s: any) => {
        s.clkConfig.l = 1;
        s.features = [s.features[1]];
        s.features[0].hashing.hash.prevent_singularity = true;
      },
      'SCHEMA_INVALID',
      '$.features[0].hashing.hash',
    ],
    [
      'numeric without precision for 0.4',
      (s: any) => {
        s.features[3].hashing.comparison = { type: 'numeric', thresholdDistance: 0.4, resolution: 1 };
      },
      'SCHEMA_INVALID',
      '$.features[3].hashing.comparison.thresholdDistance',
    ],
    [
      'missingValue without sentinel',
      (s: any) => {
        s.features[3].hashing.missingValue = {};
      },
      'SCHEMA_INVALID',
      '$.features[3].hashing.missingValue.sentinel',
    ],
    [
      'too many key bytes for HKDF',
      (s: any) => {
        s.clkConfig.kdf.keySize = 3000;
        s.features = s.features.slice(0, 2);
        s.features[1].hashing.hash = { type: 'doubleHash' };
      },
      'SCHEMA_INVALID',
      '$.clkConfig.kdf',
    ],
  ])('%s', (_name, mutate, code, path) => {
    const e = schemaError(mutate);
    expect(e.code).toBe(code);
    expect(e.message).toContain(path);
  });

  it('non-object schemas', () => {
    for (const bad of [null, 3, 'schema', [], undefined]) {
      expect(() => parseSchema(bad)).toThrow(expect.objectContaining({ code: 'SCHEMA_INVALID' }));
    }
  });

  it('create() accepts a schema already parsed by parseSchema', () => {
    const parsed = parseSchema(base());
    expect(parseSchema(parsed)).toBe(parsed);
    expect(ClkEncoder.create(parsed, 'secret').filterBits).toBe(1024);
  });

  it('create() validates the schema too', () => {
    expect(() => ClkEncoder.create({ version: 3 }, 'secret')).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    );
  });
});

describe('secret', () => {
  it.each([[''], [new Uint8Array(0)]])('empty secret -> SECRET_EMPTY', (secret) => {
    expect(() => ClkEncoder.create(base(), secret)).toThrow(expect.objectContaining({ code: 'SECRET_EMPTY' }));
  });
});

describe('record errors', () => {
  const encoder = ClkEncoder.create(base(), 'secret');
  const good = ['r1', 'alice', '2001/02/03', '42', 'F', 'ABC', 'UP'];

  it('a good record encodes', () => {
    expect(encoder.encode(good).length).toBe(128);
  });

  it.each([
    [1, 'Zebediah-the-very-long-name', 'name', 'longer than maxLength 10'],
    [2, '2001-02-03', 'dob', 'does not match format %Y/%m/%d'],
    [2, '2001/02/30', 'dob', 'does not match format %Y/%m/%d'],
    [3, 'forty two', 'n', 'is not an integer'],
    [3, '100', 'n', 'is above maximum 99'],
    [3, '0', 'n', 'is below minimum 1'],
    [4, 'Q', 'sex', 'is not one of the enum values'],
    [5, 'abc', 'code', 'does not match pattern [A-Z]{3}'],
    [6, 'Up', 'up', 'is not upper case'],
    [6, 'ÜP', 'up', 'cannot be encoded as ascii'],
  ])('column %i = %j', (column, value, feature, rule) => {
    const row = [...good];
    row[column] = value;
    try {
      encoder.encode(row);
      throw new Error('accepted');
    } catch (e) {
      const err = e as { code: string; message: string };
      expect(err.code).toBe('RECORD_INVALID');
      expect(err.message).toBe(`feature '${feature}': ${rule}`);
      expect(err.message).not.toContain(value);
    }
  });

  it('wrong field count -> RECORD_FIELD_COUNT', () => {
    expect(() => encoder.encode(good.slice(1))).toThrow(expect.objectContaining({ code: 'RECORD_FIELD_COUNT' }));
    expect(() => encoder.encode([...good, 'extra'])).toThrow(expect.objectContaining({ code: 'RECORD_FIELD_COUNT' }));
    expect(() => encoder.encode('not a row' as unknown as string[])).toThrow(
      expect.objectContaining({ code: 'RECORD_FIELD_COUNT' }),
    );
  });

  it('non-string values -> RECORD_INVALID', () => {
    const row = [...good] as unknown[];
    row[3] = 42;
    expect(() => encoder.encode(row as string[])).toThrow(expect.objectContaining({ code: 'RECORD_INVALID' }));
  });

  it('encodeMany names the row index', () => {
    const bad = [...good];
    bad[3] = 'x';
    expect(() => encoder.encodeMany([good, good, bad])).toThrow(
      expect.objectContaining({ code: 'RECORD_INVALID', message: "row 2: feature 'n': is not an integer" }),
    );
  });

  it('encodeMany reports the first bad row, and in it the first bad feature, as record by record would', () => {
    // Feature by feature (encodeColumns), feature 'n' is encoded before 'code': the earlier row must still win.
    const laterFeature = [...good];
    laterFeature[5] = 'abc'; // code
    const earlierFeature = [...good];
    earlierFeature[3] = 'x'; // n
    const both = [...laterFeature];
    both[3] = 'x';
    const cases: Array<[string[][], string]> = [
      [[good, laterFeature, earlierFeature], "row 1: feature 'code': does not match pattern [A-Z]{3}"],
      [[good, earlierFeature, laterFeature], "row 1: feature 'n': is not an integer"],
      [[good, both], "row 1: feature 'n': is not an integer"],
      [[good, good.slice(1), earlierFeature], 'row 1: record has 6 fields, the schema has 7'],
      [[good, earlierFeature, good.slice(1)], "row 1: feature 'n': is not an integer"],
    ];
    for (const [rows, message] of cases) {
      expect(() => encoder.encodeMany(rows)).toThrow(expect.objectContaining({ message }));
    }
  });

  it('encodeMany over more than one block (4,096 records) gives what encode gives, names a bad row after it', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => {
      const row = [...good];
      row[1] = `name${i % 97}`;
      row[3] = String(1 + (i % 99));
      return row;
    });
    const many = encoder.encodeMany(rows);
    for (const i of [0, 4095, 4096, 4999])
      expect(many.subarray(i * 128, (i + 1) * 128)).toEqual(encoder.encode(rows[i]!));
    const bad = [...good];
    bad[4] = 'Q';
    expect(() => encoder.encodeMany([...rows.slice(0, 4500), bad, ...rows.slice(4500)], 10)).toThrow(
      expect.objectContaining({ message: "row 4510: feature 'sex': is not one of the enum values" }),
    );
  });

  it('encodeColumns keeps the records before a failure, bit for bit what encode gives', () => {
    const rows = [good, ['r2', 'bob', '1999/12/31', '7', 'M', 'XYZ', 'NO'], good];
    const bad = [...good];
    bad[2] = 'not a date';
    const all = [...rows, bad, good];
    const columns = good.map((_, f) => all.map((row) => row[f]!));
    const out = new Uint8Array(all.length * 128);
    const { encoded, error } = encoder.encodeColumns(columns, all.length, out, 0);
    expect(encoded).toBe(3);
    expect(error).toMatchObject({ code: 'RECORD_INVALID', message: "feature 'dob': does not match format %Y/%m/%d" });
    for (const [i, row] of rows.entries()) expect(out.subarray(i * 128, (i + 1) * 128)).toEqual(encoder.encode(row));
    expect(out.subarray(3 * 128).every((b) => b === 0)).toBe(true);
  });

  it('encodeRecord: a missing hashed feature is RECORD_INVALID, a missing ignored one is fine', () => {
    const rec = Object.fromEntries(encoder.featureNames.map((n, i) => [n, good[i]!]));
    delete rec.id;
    expect(encoder.encodeRecord(rec).length).toBe(128);
    delete rec.dob;
    expect(() => encoder.encodeRecord(rec)).toThrow(
      expect.objectContaining({ code: 'RECORD_INVALID', message: "feature 'dob': missing from record" }),
    );
  });
});

describe('fuzz: bad input never escapes as anything but a PavilionError', () => {
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 4294967296;
    };
  }
  const POOL = [
    '',
    ' ',
    '0',
    '-1',
    '+7',
    '1_0',
    '١',
    '2001/02/29',
    '2000/02/29',
    '9999/12/31',
    '0000/01/01',
    'ABC',
    'abc',
    'M',
    'F',
    '\ud800',
    '😀',
    'é',
    '\u0000',
    '1e400',
    'nan',
    '%',
    '\\',
    'x'.repeat(300),
  ];

  it('random record values', () => {
    const r = rng(1);
    const encoder = ClkEncoder.create(base(), 'secret');
    let ok = 0;
    for (let i = 0; i < 3000; i++) {
      const good = ['r', 'alice', '2001/02/03', '42', 'F', 'ABC', 'UP'];
      const row = encoder.featureNames.map((_, col) => {
        if (r() < 0.7) return good[col]!;
        const a = POOL[Math.floor(r() * POOL.length)]!;
        return r() < 0.3 ? a + POOL[Math.floor(r() * POOL.length)]! : a;
      });
      try {
        encoder.encode(row);
        ok++;
      } catch (e) {
        expect((e as { name?: string }).name).toBe('PavilionError');
        expect(['RECORD_INVALID']).toContain((e as { code: string }).code);
      }
    }
    expect(ok).toBeGreaterThan(0);
  });

  it('random schema mutations', () => {
    const r = rng(2);
    const values: unknown[] = [
      null,
      0,
      -1,
      1.5,
      2 ** 60,
      '',
      'x',
      [],
      {},
      true,
      '%Y',
      '[',
      'SHA512',
      'ngram',
      'exact',
      'numeric',
      'doubleHash',
      'blakeHash',
      { type: 'ngram', n: 2 },
    ];
    const paths = (o: unknown, prefix: string[] = []): string[][] => {
      if (typeof o !== 'object' || o === null) return [prefix];
      return [prefix, ...Object.keys(o).flatMap((k) => paths((o as Record<string, unknown>)[k], [...prefix, k]))];
    };
    for (let i = 0; i < 2000; i++) {
      const s = base();
      const all = paths(s).filter((p) => p.length > 0);
      const p = all[Math.floor(r() * all.length)]!;
      let target = s;
      for (const k of p.slice(0, -1)) target = target[k];
      if (r() < 0.2) delete target[p[p.length - 1]!];
      else target[p[p.length - 1]!] = values[Math.floor(r() * values.length)];
      try {
        ClkEncoder.create(s, 'secret').encode(['r', 'alice', '2001/02/03', '42', 'F', 'ABC', 'UP']);
      } catch (e) {
        expect((e as { name?: string }).name, `${String(e)} after setting ${p.join('.')}`).toBe('PavilionError');
      }
    }
  });
});
