/**
 * Python semantics that clkhash relies on and that JavaScript does
 * differently: str.isspace(), int(s, 10), float(s), round() (half to
 * even), % (floor modulo), len() in code points. Each helper mirrors the
 * CPython 3.11 behaviour clkhash 0.18.3 runs on.
 */

/** Code points for which CPython's str.isspace() is true (Py_UNICODE_ISSPACE). */
const PY_WHITESPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
  0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** A regex character class source matching one Python `\s` character. */
export const PY_WHITESPACE_CLASS =
  '[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';

/** str.strip() with no arguments. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  // All Python whitespace code points are in the BMP, so UTF-16 units suffice.
  while (start < end && PY_WHITESPACE.has(s.charCodeAt(start))) start++;
  while (end > start && PY_WHITESPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/** len(s): number of code points (astral characters count once). */
export function pyLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

const ND = /^\p{Nd}$/u;

/**
 * Decimal value of a Unicode Nd code point, or -1. Unicode allocates every
 * Nd digit set as a contiguous run of ten starting at zero, and adjacent
 * runs (e.g. the mathematical digits) are whole runs, so the offset from the
 * start of the contiguous Nd stretch, mod 10, is the value.
 */
export function decimalValue(cp: number): number {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (cp < 0x80 || !ND.test(String.fromCodePoint(cp))) return -1;
  let start = cp;
  while (ND.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

/** CPython's default limit on digits in int(str) (sys.int_info.default_max_str_digits). */
const MAX_INT_DIGITS = 4300;

/**
 * int(s, 10): surrounding whitespace, one optional sign, decimal digits of
 * any script with single underscores between digits. Returns null where
 * Python raises ValueError.
 */
export function parsePyInt(s: string): bigint | null {
  const t = pyStrip(s);
  let i = 0;
  let negative = false;
  if (t[0] === '+' || t[0] === '-') {
    negative = t[0] === '-';
    i = 1;
  }
  let digits = '';
  let lastWasDigit = false;
  for (const ch of t.slice(i)) {
    if (ch === '_') {
      if (!lastWasDigit) return null;
      lastWasDigit = false;
      continue;
    }
    const v = decimalValue(ch.codePointAt(0)!);
    if (v < 0) return null;
    digits += String.fromCharCode(0x30 + v);
    lastWasDigit = true;
  }
  if (digits.length === 0 || !lastWasDigit) return null;
  if (digits.length > MAX_INT_DIGITS) return null;
  const value = BigInt(digits);
  return negative ? -value : value;
}

const PY_FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_FLOAT_SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;

/** float(s): returns null where Python raises ValueError. */
export function parsePyFloat(s: string): number | null {
  let t = '';
  for (const ch of pyStrip(s)) {
    const v = decimalValue(ch.codePointAt(0)!);
    t += v >= 0 ? String.fromCharCode(0x30 + v) : ch;
  }
  if (PY_FLOAT_SPECIAL.test(t)) {
    const neg = t[0] === '-';
    if (/nan/i.test(t)) return NaN;
    return neg ? -Infinity : Infinity;
  }
  if (!PY_FLOAT.test(t)) return null;
  // Both Python and Number() round the decimal string correctly to a double.
  return Number(t.replace(/_/g, ''));
}

/** round(x) for a float: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const frac = Math.abs(x % 1);
  if (frac === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/** a % b with Python's sign convention (result has the sign of b). */
export function floorMod(a: bigint, b: bigint): bigint {
  const r = a % b;
  return r !== 0n && r < 0n !== b < 0n ? r + b : r;
}
