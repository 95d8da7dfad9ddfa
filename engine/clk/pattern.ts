/**
 * Translates the Python `re` patterns clkhash uses for string features
 * (`format.pattern`, applied with re.fullmatch on str) into an equivalent
 * JavaScript RegExp with the `u` flag.
 *
 * Differences handled: Python's `\d` is any Unicode decimal digit and `\w`
 * any Unicode letter/digit/underscore (JS: ASCII only); `\s` is Python's
 * whitespace set; `(?P<n>...)`/`(?P=n)` are named groups/backreferences;
 * `\A`, `\Z`; `$` (also before a final \n) and `^`/`$` under `(?m)` (lines
 * end at \n only); leading inline flags `(?i)`, `(?s)`, `(?m)`, `(?a)`; escaped
 * punctuation that `u` mode would reject. Constructs JavaScript cannot
 * express the same way (verbose mode, `\W`/`\D`/`\S` inside a class,
 * conditionals, possessive quantifiers) raise PatternUnsupported so the
 * schema is refused rather than silently matched differently.
 */
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

export function compilePythonPattern(pattern: string): RegExp {
  let flags = 'u';
  let ascii = false;
  // Python's (?m) is emulated in the translation, never with JS's m flag: JS
  // lines also end at \r, U+2028 and U+2029, and the wrapper below needs a `^`
  // that holds only at index 0.
  let multiline = false;
  let src = pattern;
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    for (const f of inline[1]!) {
      if (f === 'i') flags += 'i';
      else if (f === 's') flags += 's';
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

  let out = '';
  let inClass = false;
  const cps = Array.from(src);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === '\\') {
      const e = cps[++i];
      if (e === undefined) throw new PatternError('pattern ends with a backslash', false);
      switch (e) {
        case 'd':
          out += inClass ? digit : `[${digit}]`;
          break;
        case 'w':
          out += inClass ? word : `[${word}]`;
          break;
        case 's':
          out += inClass ? space : `[${space}]`;
          break;
        case 'D':
        case 'W':
        case 'S':
          if (inClass) throw new PatternError(`\\${e} inside a character class is not supported`, true);
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
          if (inClass) {
            out += e === 'b' ? '\\x08' : 'B';
            break;
          }
          if (!ascii) throw new PatternError(`\\${e} (Unicode word boundary) is not supported`, true);
          out += `\\${e}`;
          break;
        case 'a':
          out += '\\x07';
          break;
        case 'n':
        case 't':
        case 'r':
        case 'f':
        case 'v':
          out += `\\${e}`;
          break;
        case 'x': {
          const hex = cps.slice(i + 1, i + 3).join('');
          if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new PatternError('bad \\x escape', false);
          out += `\\x${hex}`;
          i += 2;
          break;
        }
        case 'u':
        case 'U': {
          const n = e === 'u' ? 4 : 8;
          const hex = cps.slice(i + 1, i + 1 + n).join('');
          if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw new PatternError(`bad \\${e} escape`, false);
          out += `\\u{${parseInt(hex, 16).toString(16)}}`;
          i += n;
          break;
        }
        default:
          if (/[1-9]/.test(e)) {
            if (inClass) throw new PatternError('octal escapes are not supported', true);
            out += `\\${e}`;
          } else if (e === '0') {
            throw new PatternError('octal escapes are not supported', true);
          } else if (/[A-Za-z]/.test(e)) {
            // Python rejects unknown ASCII-letter escapes (re.error).
            throw new PatternError(`bad escape \\${e}`, false);
          } else {
            out += `\\u{${e.codePointAt(0)!.toString(16)}}`;
          }
      }
      continue;
    }
    if (inClass) {
      if (c === ']' && !(out.endsWith('[') || out.endsWith('[^'))) inClass = false;
      else if (c === '[') {
        out += '\\[';
        continue;
      }
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      if (cps[i + 1] === '^') {
        out += '^';
        i++;
      }
      // A ']' first in a Python class is a literal.
      if (cps[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && cps[i + 1] === '?') {
      const rest = cps.slice(i + 2, i + 4).join('');
      if (rest.startsWith('P<')) {
        out += '(?<';
        i += 3;
        continue;
      }
      if (rest.startsWith('P=')) {
        const close = closingParen(cps, i, 'unterminated name');
        out += `\\k<${cps.slice(i + 4, close).join('')}>`;
        i = close;
        continue;
      }
      if (rest.startsWith('#')) {
        i = closingParen(cps, i, 'unterminated comment');
        continue;
      }
      if (
        rest.startsWith(':') ||
        rest.startsWith('=') ||
        rest.startsWith('!') ||
        rest.startsWith('<=') ||
        rest.startsWith('<!')
      ) {
        out += '(?';
        i += 1;
        continue;
      }
      throw new PatternError('this group syntax is not supported', true);
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
    if ((c === '+' || c === '?' || c === '*' || c === '}') && cps[i + 1] === '+') {
      throw new PatternError('possessive quantifiers are not supported', true);
    }
    if (c === '{' && !/^\{\d*(,\d*)?\}/.test(cps.slice(i).join(''))) {
      // Python treats a brace that does not open a repetition as a literal.
      out += '\\{';
      continue;
    }
    if (c === '}') {
      // A closing brace reaching here closes a repetition only if one is open.
      const open = out.lastIndexOf('{');
      const escapedOpen = out.lastIndexOf('\\{');
      if (open === -1 || open === escapedOpen + 1 || out.lastIndexOf('}') > open) {
        out += '\\}';
        continue;
      }
    }
    out += c;
  }
  if (inClass) throw new PatternError('unterminated character class', false);
  try {
    // fullmatch: from index 0 to the end. The start was a lookbehind,
    // (?<![\s\S]), which V8 (Node 20) finds true between the two halves of a
    // surrogate pair: .test() then matched '\d*' from the middle of '0412😀'.
    // Without the m flag `^` holds only at index 0 and `$` only at the end.
    return new RegExp(`^(?:${out})$`, flags);
  } catch {
    throw new PatternError('pattern cannot be compiled', false);
  }
}
