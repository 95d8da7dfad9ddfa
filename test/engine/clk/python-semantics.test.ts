// The Python behaviours the encoder reproduces, checked directly. Expected
// values were taken from CPython 3.11 (the interpreter clkhash 0.18.3 runs
// on here), e.g. `python3 -c "print(int(' +5'))"`.
import { describe, expect, it } from 'vitest';
import { compilePythonPattern } from '../../../engine/clk/pattern.js';
import { ASCII_FOLD, UNICODE_FOLD } from '../../../engine/clk/py-case.js';
import { floorMod, parsePyFloat, parsePyInt, pyLen, pyStrip, roundHalfEven } from '../../../engine/clk/python.js';
import { type HashedFeature, parseSchema } from '../../../engine/clk/schema.js';
import { compileDateFormat } from '../../../engine/clk/strptime.js';
import { encodeToken, tokenize } from '../../../engine/clk/tokens.js';

describe('int(s, 10)', () => {
  it.each([
    ['007', 7n],
    [' +5', 5n],
    ['1_000', 1000n],
    ['-0', 0n],
    ['\u0661\u0662', 12n],
    ['\u00a012\u2003', 12n],
    ['\t-42\n', -42n],
    ['123456789012345678901234567890', 123456789012345678901234567890n],
    ['\uff11\uff12', 12n],
  ])('%j -> %s', (s, v) => expect(parsePyInt(s)).toBe(v));
  it.each(['1__0', '_1', '1_', '5.0', '', '+', '- 1', '0x10', '1e3', '\u200b1'])('%j is a ValueError', (s) =>
    expect(parsePyInt(s)).toBeNull(),
  );
  it('rejects more than 4300 digits (CPython int_max_str_digits)', () => {
    expect(parsePyInt('1'.repeat(4300))).not.toBeNull();
    expect(parsePyInt('1'.repeat(4301))).toBeNull();
  });
});

describe('float(s), round(), %, len()', () => {
  it.each([
    ['1e2', 100],
    [' 3.25 ', 3.25],
    ['1_0.5', 10.5],
    ['.5', 0.5],
    ['5.', 5],
    ['-inf', -Infinity],
    ['\u0661.5', 1.5],
  ])('float(%j)', (s, v) => expect(parsePyFloat(s)).toBe(v));
  it.each(['1__0', 'e5', '1e', '', '.', '0x1p3'])('float(%j) is a ValueError', (s) =>
    expect(parsePyFloat(s)).toBeNull(),
  );
  it('round() ties to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
    // 2.675 * 100 is exactly 267.5 as a double: Python's round gives 268 (even).
    expect(roundHalfEven(2.675 * 100)).toBe(268);
    expect(roundHalfEven(0.285 * 100)).toBe(28); // 28.499999999999996
  });
  it('floor modulo', () => {
    expect(floorMod(-7n, 5n)).toBe(3n);
    expect(floorMod(7n, 5n)).toBe(2n);
    expect(floorMod(-10n, 5n)).toBe(0n);
  });
  it('len() counts code points; strip() uses Python whitespace', () => {
    expect(pyLen('𝔄𝔩𝔦𝔠𝔢')).toBe(5);
    expect(pyLen('Zoe\u0308')).toBe(4);
    expect(pyStrip('\u001c x \u3000')).toBe('x');
    expect(pyStrip('\u200bx')).toBe('\u200bx');
  });
});

describe('strptime -> %Y%m%d', () => {
  it.each([
    ['%Y-%m-%d', '1963-12-13', '19631213'],
    ['%Y-%m-%d', '2024-2-3', '20240203'],
    ['%Y-%m-%d', '0123-01-12', '1230112'],
    ['%d/%m/%Y', ' 3/4/2001', '20010403'],
    ['%d %b %Y', '13   DEC 1963', '19631213'],
    ['%B %d, %Y', 'may 1, 2020', '20200501'],
    ['%y%m%d', '681231', '20681231'],
    ['%y%m%d', '690101', '19690101'],
    ['%Y %j', '2001 366', '20020101'],
    ['%Y %j', '2000 366', '20001231'],
    ['%m/%d', '12/31', '19001231'],
    ['%Y%m%d', '2000229', '20000229'],
  ])('%s %j', (format, value, expected) => expect(compileDateFormat(format).parseToYmd(value)).toBe(expected));
  it.each([
    ['%Y-%m-%d', '1900-02-29'],
    ['%Y-%m-%d', '1992-13-01'],
    ['%Y-%m-%d', '1992-12-01x'],
    ['%Y-%m-%d', '  1992-12-01'],
    ['%m/%d', '02/29'],
    ['%Y %j', '2001 0'],
    ['%Y-%m-%dT%H:%M:%S', '2020-01-01T00:00:60'],
    ['%d.%m.%Y %H:%M', '13.12.1963 24:00'],
    ['%B %d, %Y', 'Sept 1, 2020'],
    ['%Y-%m-%d', '0000-01-01'],
    ['%d/%m/%Y', ' 3/ 4/2001'],
    // ſ (long s) matches s case-insensitively, but str.lower() keeps it: not a name.
    ['%d %B %Y', '1 \u017feptember 2020'],
    ['%d %b %Y', '1 \u017fep 2020'],
    ['%A %d %m %Y', '\u017funday 1 1 2020'],
    ['%a %d %m %Y', '\u017fun 1 1 2020'],
  ])('%s rejects %j', (format, value) => expect(compileDateFormat(format).parseToYmd(value)).toBeNull());
});

describe('Python regex patterns (re.fullmatch)', () => {
  it('\\d and \\w are Unicode, the match is full', () => {
    const digits = compilePythonPattern('[a-z]{3}\\d\\d\\d');
    expect(digits.test('abc\u0661\u0662\u0663')).toBe(true);
    expect(digits.test('abc1234')).toBe(false);
    const words = compilePythonPattern('\\w+');
    expect(words.test('héllo_日本')).toBe(true);
    expect(words.test('a b')).toBe(false);
  });
  it('named groups, inline flags, escaped punctuation, literal braces', () => {
    expect(compilePythonPattern('(?P<a>x)(?P=a)').test('xx')).toBe(true);
    expect(compilePythonPattern('(?i)abc').test('ABC')).toBe(true);
    expect(compilePythonPattern('a\\-b\\.c').test('a-b.c')).toBe(true);
    expect(compilePythonPattern('a{').test('a{')).toBe(true);
    expect(compilePythonPattern('a|b').test('ab')).toBe(false);
  });
  it('the match starts at index 0 whatever the value holds; $ and (?m) anchor at \\n only', () => {
    // With a lookbehind for the start, V8 began '\d*' between the halves of the emoji's surrogate pair.
    expect(compilePythonPattern('\\d*').test('0412\u{1F600}')).toBe(false);
    expect(compilePythonPattern('a?').test('\u{1F600}')).toBe(false);
    expect(compilePythonPattern('abc$\n').test('abc\n')).toBe(true);
    expect(compilePythonPattern('(?m)a$\r^b').test('a\rb')).toBe(false);
    expect(compilePythonPattern('(?m)a$\n^b').test('a\nb')).toBe(true);
  });
  it(". leaves out \\n only; (?i) goes by Python's case mappings; sets and braces parse as in Python", () => {
    expect(compilePythonPattern('.+').test('a\u2028b\r\u2029')).toBe(true);
    expect(compilePythonPattern('.').test('\n')).toBe(false);
    expect(compilePythonPattern('(?s).').test('\n')).toBe(true);
    // İ lowers to i, ı is i's extra case, ſ s's, the Kelvin sign lowers to k; (?a) lowers A-Z only.
    expect(compilePythonPattern('(?i)[a-z]+').source).toBe('^(?:[A-Za-z\u0130-\u0131\u017f\u212a]+)$');
    expect(compilePythonPattern('(?i)i').test('\u0130')).toBe(true);
    expect(compilePythonPattern('(?i)[^i]').test('\u0131')).toBe(false);
    expect(compilePythonPattern('(?ai)k').test('\u212a')).toBe(false);
    expect(compilePythonPattern('a]}').test('a]}')).toBe(true);
    expect(compilePythonPattern('a{,2}').test('aa')).toBe(true);
    expect(compilePythonPattern('[\\d-]+').test('1-')).toBe(true);
    expect(() => compilePythonPattern('[\\A]')).toThrow(/bad escape \\A/);
  });
  it('\\d, \\w and \\s answer alike for a character and its Python lower case ((?i) sets rely on it)', () => {
    for (const [category, fold] of [
      ['\\d', UNICODE_FOLD],
      ['\\w', UNICODE_FOLD],
      ['\\s', UNICODE_FOLD],
      ['(?a)\\w', ASCII_FOLD],
    ] as const) {
      const re = compilePythonPattern(category);
      for (const [a, b] of fold.changed) {
        for (let cp = a; cp <= b; cp++) {
          const lower = String.fromCodePoint(fold.lower(cp));
          expect(re.test(String.fromCodePoint(cp)), `${category} U+${cp.toString(16)}`).toBe(re.test(lower));
        }
      }
    }
  });
  it('an unclosed (?#...) or (?P=...) is refused as Python refuses it ("missing )")', () => {
    expect(compilePythonPattern('a(?#note)b').test('ab')).toBe(true);
    expect(() => compilePythonPattern('a(?#note')).toThrow(/missing \), unterminated comment/);
    expect(() => compilePythonPattern('(?P<a>x)(?P=a')).toThrow(/missing \), unterminated name/);
  });
});

describe('tokens', () => {
  const feature = (comparison: object, encoding = 'utf-8'): HashedFeature =>
    parseSchema({
      version: 3,
      clkConfig: { l: 64, kdf: { type: 'HKDF' } },
      features: [
        {
          identifier: 'f',
          format: { type: 'string', encoding },
          hashing: { comparison, strategy: { bitsPerToken: 1 } },
        },
      ],
    }).features[0] as HashedFeature;

  it('bigrams pad with spaces and slice by code point; positional tokens are 1-based', () => {
    const out: string[] = [];
    tokenize(feature({ type: 'ngram', n: 2 }), 'a😀', out);
    expect(out).toEqual([' a', 'a😀', '😀 ']);
    tokenize(feature({ type: 'ngram', n: 2, positional: true }), 'ab', out);
    expect(out).toEqual(['1  a', '2 ab', '3 b ']);
    tokenize(feature({ type: 'ngram', n: 2 }), '', out);
    expect(out).toEqual([]);
  });
  it('numeric tokens (clkhash docstring example: 25 with threshold 8, resolution 2 -> 88..120)', () => {
    const out: string[] = [];
    tokenize(feature({ type: 'numeric', thresholdDistance: 8, resolution: 2 }), '25', out);
    expect(out).toEqual(['88', '96', '104', '112', '120']);
  });
  it('utf-16 and utf-32 tokens carry a little-endian BOM', () => {
    expect(Buffer.from(encodeToken('a😀', 'utf-16')).toString('hex')).toBe('fffe61003dd800de');
    expect(Buffer.from(encodeToken('a', 'utf-32')).toString('hex')).toBe('fffe000061000000');
  });
});
