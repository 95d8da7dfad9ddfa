/**
 * The subset of Python's datetime.strptime that clkhash date features use,
 * reproduced from CPython 3.11's _strptime: each directive becomes the same
 * regular expression CPython builds (case-insensitive, `\d` = any Unicode
 * decimal digit, format whitespace = one or more whitespace characters),
 * the match is anchored at the start only and must then consume the whole
 * input ("unconverted data remains"), and the fields are combined the way
 * _strptime does (%y pivot at 69, %j overriding month/day, day-of-month
 * checked by the date constructor, seconds 60/61 rejected by datetime).
 *
 * Output is clkhash's re-rendering with strftime('%Y%m%d') as glibc does it:
 * the year is NOT zero padded (year 123 renders "123"), month and day are.
 */
import { PY_WHITESPACE_CLASS, parsePyInt } from './python.js';

const D = '\\p{Nd}';

const MONTHS_FULL = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const MONTHS_ABBR = MONTHS_FULL.map((m) => m.slice(0, 3));
const WEEKDAYS_FULL = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const WEEKDAYS_ABBR = WEEKDAYS_FULL.map((d) => d.slice(0, 3));

/** Directive regexes from CPython 3.11 _strptime.TimeRE (C locale names). */
const DIRECTIVES: Record<string, string> = {
  d: `3[0-1]|[1-2]${D}|0[1-9]|[1-9]| [1-9]`,
  f: '[0-9]{1,6}',
  H: `2[0-3]|[0-1]${D}|${D}`,
  I: '1[0-2]|0[1-9]|[1-9]',
  j: `36[0-6]|3[0-5]${D}|[1-2]${D}${D}|0[1-9]${D}|00[1-9]|[1-9]${D}|0[1-9]|[1-9]`,
  m: '1[0-2]|0[1-9]|[1-9]',
  M: `[0-5]${D}|${D}`,
  S: `6[0-1]|[0-5]${D}|${D}`,
  w: '[0-6]',
  u: '[1-7]',
  y: `${D}${D}`,
  Y: `${D}${D}${D}${D}`,
  A: longestFirst(WEEKDAYS_FULL),
  a: longestFirst(WEEKDAYS_ABBR),
  B: longestFirst(MONTHS_FULL),
  b: longestFirst(MONTHS_ABBR),
  p: longestFirst(['am', 'pm']),
};

/** Directives CPython accepts that this port does not reproduce (locale, ISO week, time zone). */
const UNSUPPORTED = new Set(['c', 'x', 'X', 'G', 'V', 'U', 'W', 'z', 'Z']);

function longestFirst(names: string[]): string {
  // _strptime sorts by length, longest first (a stable sort), so that a
  // prefix never wins over the longer name.
  return [...names].sort((a, b) => b.length - a.length).join('|');
}

export class StrptimeFormatError extends Error {
  constructor(
    message: string,
    readonly unsupported: boolean,
  ) {
    super(message);
  }
}

export interface CompiledDateFormat {
  readonly format: string;
  /** Returns "%Y%m%d" as clkhash renders it, or null where strptime raises ValueError. */
  parseToYmd(value: string): string | null;
}

/** Compiles a strptime format; throws StrptimeFormatError for formats CPython or this port rejects. */
export function compileDateFormat(format: string): CompiledDateFormat {
  let source = '';
  const seen = new Set<string>();
  /** Directive of each capture group, in order (numbered groups: no groups object per match). */
  const order: string[] = [];
  const ws = new RegExp(`^${PY_WHITESPACE_CLASS}+`, 'u');
  const chars = Array.from(format);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '%') {
      const directive = chars[i + 1];
      if (directive === undefined) throw new StrptimeFormatError(`stray % in date format`, false);
      i++;
      if (directive === '%') {
        source += '%';
        continue;
      }
      if (UNSUPPORTED.has(directive))
        throw new StrptimeFormatError(`date directive %${directive} is not supported`, true);
      const re = DIRECTIVES[directive];
      if (re === undefined) throw new StrptimeFormatError(`'${directive}' is a bad directive in date format`, false);
      // CPython compiles each directive as a named group, so a repeated
      // directive is a regex compile error there.
      if (seen.has(directive)) throw new StrptimeFormatError(`date directive %${directive} is repeated`, false);
      seen.add(directive);
      order.push(directive);
      source += `(${re})`;
      continue;
    }
    const rest = chars.slice(i).join('');
    const m = ws.exec(rest);
    if (m) {
      source += `${PY_WHITESPACE_CLASS}+`;
      i += Array.from(m[0]).length - 1;
      continue;
    }
    source += escapeLiteral(ch);
  }
  // Sticky + no end anchor: like re.match, then a length check.
  const regex = new RegExp(source, 'iuy');
  return {
    format,
    parseToYmd(value: string): string | null {
      regex.lastIndex = 0;
      const m = regex.exec(value);
      if (!m || m[0].length !== value.length) return null;
      const fields: Record<string, string | undefined> = {};
      for (let i = 0; i < order.length; i++) fields[order[i]!] = m[i + 1];
      return combine(fields);
    },
  };
}

function escapeLiteral(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (/[A-Za-z0-9]/.test(ch)) return ch;
  return `\\u{${cp.toString(16)}}`;
}

const ASCII_DIGITS = /^[0-9]+$/;

function num(s: string): number {
  // Directive groups are digits of any script (\d); ASCII is the common case.
  return ASCII_DIGITS.test(s) ? Number(s) : Number(parsePyInt(s));
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(y: number, m: number): number {
  return m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1]!;
}

/** Proleptic Gregorian ordinal, 0001-01-01 = 1 (datetime.date.toordinal). */
function toOrdinal(y: number, m: number, d: number): number {
  const py = y - 1;
  let days = py * 365 + Math.floor(py / 4) - Math.floor(py / 100) + Math.floor(py / 400);
  for (let k = 1; k < m; k++) days += daysIn(y, k);
  return days + d;
}

function fromOrdinal(ord: number): [number, number, number] | null {
  if (ord < 1 || ord > toOrdinal(9999, 12, 31)) return null;
  let y = Math.max(1, Math.floor(ord / 365.2425));
  while (toOrdinal(y + 1, 1, 1) <= ord) y++;
  while (toOrdinal(y, 1, 1) > ord) y--;
  let rest = ord - toOrdinal(y, 1, 1) + 1;
  let m = 1;
  while (rest > daysIn(y, m)) {
    rest -= daysIn(y, m);
    m++;
  }
  return [y, m, rest];
}

function combine(g: Record<string, string | undefined>): string | null {
  let year: number | null = null;
  let month = 1;
  let day = 1;
  let julian: number | null = null;
  if (g.y !== undefined) {
    const y = num(g.y);
    year = y <= 68 ? y + 2000 : y + 1900;
  }
  if (g.Y !== undefined) year = num(g.Y);
  if (g.m !== undefined) month = num(g.m);
  // _strptime looks names up by str.lower() (list.index: a ValueError when
  // absent). The regex's case folding also takes ſ (U+017F) for s, which
  // lower() keeps: 'ſeptember' matched and became month 0.
  if (g.B !== undefined) month = MONTHS_FULL.indexOf(g.B.toLowerCase()) + 1;
  if (g.b !== undefined) month = MONTHS_ABBR.indexOf(g.b.toLowerCase()) + 1;
  if (month === 0) return null;
  if (g.A !== undefined && !WEEKDAYS_FULL.includes(g.A.toLowerCase())) return null;
  if (g.a !== undefined && !WEEKDAYS_ABBR.includes(g.a.toLowerCase())) return null;
  if (g.d !== undefined) day = num(g.d);
  if (g.j !== undefined) julian = num(g.j);
  const second = g.S !== undefined ? num(g.S) : 0;

  // _strptime borrows leap year 1904 to validate Feb 29 without a year, then
  // puts 1900 back, which the datetime constructor rejects.
  const leapYearFix = year === null && month === 2 && day === 29;
  if (year === null) year = leapYearFix ? 1904 : 1900;
  if (year < 1 || year > 9999) return null;
  if (julian === null) {
    if (day > daysIn(year, month)) return null;
  } else {
    // %j wins over month/day and may roll into the next year (2001 %j 366 -> 2002-01-01).
    const ymd = fromOrdinal(julian - 1 + toOrdinal(year, 1, 1));
    if (!ymd) return null;
    [year, month, day] = ymd;
  }
  if (leapYearFix) year = 1900;
  if (day > daysIn(year, month)) return null;
  if (second > 59) return null;
  return `${year}${String(month).padStart(2, '0')}${String(day).padStart(2, '0')}`;
}
