/**
 * Translates the Python `re` patterns clkhash uses for string features
 * (`format.pattern`, applied with re.fullmatch on str) into an equivalent
 * JavaScript RegExp with the `u` flag and no other.
 *
 * Differences handled: Python's `\d` is any Unicode decimal digit and `\w`
 * any Unicode letter/digit/underscore (JS: ASCII only); `\s` is Python's
 * whitespace set; `.` leaves out only \n (JS also \r, U+2028, U+2029);
 * `(?P<n>...)`/`(?P=n)` are named groups/backreferences; `\A`, `\Z`; `$`
 * (also before a final \n) and `^`/`$` under `(?m)` (lines end at \n only);
 * leading inline flags `(?i)`, `(?s)`, `(?m)`, `(?a)`, with `(?i)` by
 * Python's case mappings rather than JS's case folding (py-case.ts);
 * character sets as Python parses them; `{` and `}` that open no repetition
 * are literals. Constructs JavaScript cannot express the same way (verbose
 * mode, `\W`/`\D`/`\S` inside a class, conditionals, possessive quantifiers,
 * a backreference under `(?i)`) raise a PatternError marked unsupported so
 * the schema is refused rather than silently matched differently.
 */
import { ASCII_FOLD, type CaseFold, type CpRanges, foldedMembers, UNICODE_FOLD, unionRanges } from './py-case.js';
import { PY_WHITESPACE_CLASS } from './python.js';

export class PatternError extends Error {
  constructor(
    message: string,
    readonly unsupported: boolean,
  ) {
    super(message);
  }
}

const WORD_INNER = '\\p{L}\\p{N}_';
const WS_INNER = PY_WHITESPACE_CLASS.slice(1, -1);
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

/**
 * Index of the ')' closing the group opened at `from`. Python's re refuses
 * an unclosed `(?#...` or `(?P=...` ("missing ), ..."); without this check
 * indexOf's -1 sent the scan back to the start of the pattern forever.
 */
function closingParen(cps: readonly string[], from: number, what: string): number {
  const close = cps.indexOf(')', from);
  if (close === -1) throw new PatternError(`missing ), ${what}`, false);
  return close;
}

/** One code point as JS source: letters, marks and digits as they are, anything else escaped. */
function cpSource(cp: number): string {
  return /[\p{L}\p{M}\p{N}]/u.test(String.fromCodePoint(cp)) ? String.fromCodePoint(cp) : `\\u{${cp.toString(16)}}`;
}

/** A set of characters as JS source: one character, or a class. */
function setSource(ranges: CpRanges, negate: boolean, categories: string): string {
  const only = ranges.length === 1 && ranges[0]![0] === ranges[0]![1] ? ranges[0]![0] : undefined;
  if (only !== undefined && !negate && categories === '') return cpSource(only);
  let out = `[${negate ? '^' : ''}${categories}`;
  for (const [a, b] of ranges) out += a === b ? cpSource(a) : `${cpSource(a)}-${cpSource(b)}`;
  return `${out}]`;
}

/**
 * An escape that stands for one code point (Lib/re/_parser.py, _escape and
 * _class_escape): \x.., \u...., \U........, the control letters (and \b in a
 * set), an escaped non-letter. Returns [code point, index of the escape's
 * last character], or null for a category, anchor or backreference.
 */
function literalEscape(cps: readonly string[], i: number, inClass: boolean): [number, number] | null {
  const e = cps[i + 1];
  if (e === undefined) throw new PatternError('pattern ends with a backslash', false);
  if (e in CONTROL_ESCAPES) return [CONTROL_ESCAPES[e]!, i + 1];
  if (e === 'b' && inClass) return [8, i + 1];
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
    const digits = cps.slice(i + 2, i + 2 + n).join('');
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits) || parseInt(digits, 16) > 0x10ffff)
      throw new PatternError(`bad \\${e} escape`, false);
    return [parseInt(digits, 16), i + 1 + n];
  }
  if (/[0-9]/.test(e)) {
    // Python reads \0.., and three octal digits such as \123, as an octal escape; other digits name a group.
    const octal = e === '0' || /^[0-7]{3}$/.test(cps.slice(i + 1, i + 4).join(''));
    if (octal || inClass) throw new PatternError('octal escapes are not supported', true);
    return null;
  }
  if (e === 'N' && cps[i + 2] === '{') throw new PatternError('\\N{...} (a character by name) is not supported', true);
  if (/[A-Za-z]/.test(e)) {
    if ((inClass ? 'dDwWsS' : 'dDwWsSAZbB').includes(e)) return null;
    // Python rejects unknown ASCII-letter escapes (re.error), in a set \A, \Z and \B too.
    throw new PatternError(`bad escape \\${e}`, false);
  }
  return [e.codePointAt(0)!, i + 1];
}

export function compilePythonPattern(pattern: string): RegExp {
  let ascii = false;
  // Python's flags are emulated in the translation, never with JS's: the m
  // flag also ends lines at \r, U+2028 and U+2029 (and the wrapper below needs
  // a `^` that holds only at index 0), the i flag folds case by other tables.
  let multiline = false;
  let dotAll = false;
  let ignoreCase = false;
  let src = pattern;
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    for (const f of inline[1]!) {
      if (f === 'i') ignoreCase = true;
      else if (f === 's') dotAll = true;
      else if (f === 'm') multiline = true;
      else if (f === 'a') ascii = true;
      else if (f === 'u') {
        /* default for str patterns */
      } else throw new PatternError(`regex flag (?${f}) is not supported`, true);
    }
    src = src.slice(inline[0].length);
  }
  const digit = ascii ? '0-9' : '\\p{Nd}';
  const word = ascii ? 'A-Za-z0-9_' : WORD_INNER;
  const space = ascii ? ' \\t\\n\\r\\f\\v' : WS_INNER;
  const fold: CaseFold | null = ignoreCase ? (ascii ? ASCII_FOLD : UNICODE_FOLD) : null;

  /** A literal or a set (its code points, ranges and \d \w \s categories) as JS. */
  const charSet = (literals: number[], ranges: CpRanges, categories: string, negate: boolean): string => {
    const single = literals.map((cp): [number, number] => [cp, cp]);
    if (!fold) return setSource(unionRanges(ranges, single), negate, categories);
    for (const cp of literals) {
      if (cp > 0xffff && fold.lower(cp) !== cp) {
        // _sre takes a lone one by its lower case, but in a set (or in an
        // alternation of single characters, which its parser turns into a
        // set) it takes nothing for it: which one applies depends on the
        // neighbours, which this translation does not follow.
        const u = cp.toString(16).toUpperCase();
        throw new PatternError(`(?i) with the upper-case character U+${u} beyond U+FFFF is not supported`, true);
      }
    }
    return setSource(foldedMembers(fold, literals, ranges), negate, categories);
  };

  const cps = Array.from(src);

  /** The set opened by the '[' at `open` (Lib/re/_parser.py): its JS and the index of its ']'. */
  const charClass = (open: number): [string, number] => {
    let i = open + 1;
    const negate = cps[i] === '^';
    if (negate) i++;
    const literals: number[] = [];
    const ranges: CpRanges = [];
    let categories = '';
    let items = 0;
    const unterminated = () => new PatternError('unterminated character class', false);
    /** The member at i, a code point or a category's JS; moves i past it. */
    const member = (): number | string => {
      const ch = cps[i];
      if (ch === undefined) throw unterminated();
      if (ch !== '\\') {
        i++;
        return ch.codePointAt(0)!;
      }
      const literal = literalEscape(cps, i, true);
      if (literal) {
        i = literal[1] + 1;
        return literal[0];
      }
      const e = cps[i + 1]!;
      i += 2;
      if (e === 'd' || e === 'w' || e === 's') return e === 'd' ? digit : e === 'w' ? word : space;
      throw new PatternError(`\\${e} inside a character class is not supported`, true);
    };
    const add = (m: number | string) => {
      if (typeof m === 'number') literals.push(m);
      else categories += m;
    };
    for (;;) {
      // A ']' first in a Python set is a literal.
      if (cps[i] === ']' && items > 0) return [charSet(literals, ranges, categories, negate), i];
      const first = member();
      items++;
      if (cps[i] !== '-') {
        add(first);
        continue;
      }
      i++;
      if (cps[i] === undefined) throw unterminated();
      if (cps[i] === ']') {
        add(first);
        literals.push(0x2d);
        return [charSet(literals, ranges, categories, negate), i];
      }
      const last = member();
      if (typeof first !== 'number' || typeof last !== 'number' || last < first)
        throw new PatternError('bad character range', false);
      ranges.push([first, last]);
    }
  };

  let out = '';
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === '\\') {
      const literal = literalEscape(cps, i, false);
      if (literal) {
        out += charSet([literal[0]], [], '', false);
        i = literal[1];
        continue;
      }
      const e = cps[++i]!;
      switch (e) {
        case 'd':
        case 'w':
        case 's':
          out += `[${e === 'd' ? digit : e === 'w' ? word : space}]`;
          break;
        case 'D':
        case 'W':
        case 'S':
          out += `[^${e === 'D' ? digit : e === 'W' ? word : space}]`;
          break;
        case 'A':
          out += '^';
          break;
        case 'Z':
          out += '$';
          break;
        case 'b':
        case 'B':
          if (!ascii) throw new PatternError(`\\${e} (Unicode word boundary) is not supported`, true);
          out += `\\${e}`;
          break;
        default:
          // \1-\9. Under (?i) _sre compares the group's text by lower case
          // (Lib/re/_compiler.py, GROUPREF_UNI_IGNORE), which JS has no way to say.
          if (fold) throw new PatternError('a backreference under (?i) is not supported', true);
          out += `\\${e}`;
      }
      continue;
    }
    if (c === '[') {
      const [js, close] = charClass(i);
      out += js;
      i = close;
      continue;
    }
    if (c === '.') {
      // Python's `.` leaves out \n only (nothing under (?s)); JS's also \r, U+2028 and U+2029.
      out += dotAll ? '[\\s\\S]' : '[^\\n]';
      continue;
    }
    if (c === '^') {
      // Python's ^: the start, and with (?m) also after each \n.
      out += multiline ? '(?<![^\\n])' : '^';
      continue;
    }
    if (c === '$') {
      // Python's $: the end or before a \n that ends the string, and with (?m) before each \n.
      out += multiline ? '(?=\\n|$)' : '(?=\\n?$)';
      continue;
    }
    if (c === '(' && cps[i + 1] === '?') {
      const rest = cps.slice(i + 2, i + 4).join('');
      if (rest.startsWith('P<')) {
        const close = cps.indexOf('>', i);
        if (close === -1) throw new PatternError('missing >, unterminated name', false);
        out += `(?<${cps.slice(i + 4, close).join('')}>`;
        i = close;
        continue;
      }
      if (rest.startsWith('P=')) {
        const close = closingParen(cps, i, 'unterminated name');
        if (fold) throw new PatternError('a backreference under (?i) is not supported', true);
        out += `\\k<${cps.slice(i + 4, close).join('')}>`;
        i = close;
        continue;
      }
      if (rest.startsWith('#')) {
        i = closingParen(cps, i, 'unterminated comment');
        continue;
      }
      const opener = [':', '=', '!', '<=', '<!'].find((o) => rest.startsWith(o));
      if (opener) {
        out += `(?${opener}`;
        i += 1 + opener.length;
        continue;
      }
      throw new PatternError('this group syntax is not supported', true);
    }
    if (c === '+' || c === '?' || c === '*') {
      if (cps[i + 1] === '+') throw new PatternError('possessive quantifiers are not supported', true);
      out += c;
      continue;
    }
    if (c === '(' || c === ')' || c === '|') {
      out += c;
      continue;
    }
    if (c === '{') {
      // Python's repetition: {m}, {m,}, {,n}, {m,n}; any other '{' is a literal.
      const rep = /^\{(\d*)(?:(,)(\d*))?\}/.exec(cps.slice(i, i + 64).join(''));
      if (rep && rep[0] !== '{}') {
        const end = i + rep[0].length;
        if (cps[end] === '+') throw new PatternError('possessive quantifiers are not supported', true);
        out += rep[2] ? `{${rep[1] || '0'},${rep[3]}}` : `{${rep[1]}}`;
        i = end - 1;
        continue;
      }
    }
    // Any other character, ']' and '}' among them, is a literal.
    out += charSet([c.codePointAt(0)!], [], '', false);
  }
  try {
    // fullmatch: from index 0 to the end. The start was a lookbehind,
    // (?<![\s\S]), which V8 (Node 20) finds true between the two halves of a
    // surrogate pair: .test() then matched '\d*' from the middle of '0412😀'.
    // Without the m flag `^` holds only at index 0 and `$` only at the end.
    return new RegExp(`^(?:${out})$`, 'u');
  } catch {
    throw new PatternError('pattern cannot be compiled', false);
  }
}
