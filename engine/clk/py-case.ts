/**
 * Python's `(?i)` for str patterns, as CPython 3.11's re compiles it
 * (Lib/re/_compiler.py `_compile` and `_optimize_charset`, Modules/_sre/sre_lib.h):
 * a character ch matches a literal c when lower(ch) is lower(c) or one of
 * re._casefix's extra cases of it; a character set is tested with lower(ch),
 * its members lowered (and their extra cases added); a set range reaching past
 * U+FFFF also takes ch when upper(lower(ch)) is in the range. lower and upper
 * are the simple mappings _sre uses (py-case-table.ts, generated from CPython),
 * not JavaScript's case folding, which differs: İ (U+0130) lowers to i in
 * Python but folds only to itself in JS; ı (U+0131) matches i through the
 * extra cases, which JS lacks. With `(?a)` only A-Z lower (and no extra cases).
 *
 * pattern.ts turns each literal and set into the explicit set of characters
 * Python takes, so the JavaScript regex runs without its `i` flag.
 */
import { EXTRA_CASES, LOWER, UPPER } from './py-case-table.js';

/** Sorted, disjoint, non-adjacent inclusive code point ranges. */
export type CpRanges = Array<[number, number]>;

export interface CaseFold {
  lower(cp: number): number;
  /** Characters other than cp whose lower case is cp. */
  lowersTo(cp: number): readonly number[];
  /** re._casefix's other lower-case characters of the same upper case. */
  extra(cp: number): readonly number[];
  /** The characters that are not their own lower case, as ranges. */
  readonly changed: CpRanges;
}

function decodeRuns(text: string): Map<number, number> {
  const map = new Map<number, number>();
  for (const line of text.trim().split('\n')) {
    const [start, count, stride, delta] = line.split(' ');
    const s = parseInt(start!, 16);
    for (let k = 0; k < Number(count); k++) map.set(s + k * Number(stride), s + k * Number(stride) + Number(delta));
  }
  return map;
}

function toRanges(cps: Iterable<number>): CpRanges {
  const sorted = [...new Set(cps)].sort((a, b) => a - b);
  const out: CpRanges = [];
  for (const cp of sorted) {
    const last = out[out.length - 1];
    if (last && cp === last[1] + 1) last[1] = cp;
    else out.push([cp, cp]);
  }
  return out;
}

function inRanges(ranges: CpRanges, cp: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Union of range lists (each sorted or not). */
export function unionRanges(...lists: CpRanges[]): CpRanges {
  const all = lists.flat().sort((x, y) => x[0] - y[0]);
  const out: CpRanges = [];
  for (const [a, b] of all) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** a minus b. */
function subtractRanges(a: CpRanges, b: CpRanges): CpRanges {
  const out: CpRanges = [];
  let j = 0;
  for (const [lo0, hi] of a) {
    let lo = lo0;
    while (j < b.length && b[j]![1] < lo) j++;
    let k = j;
    while (k < b.length && b[k]![0] <= hi && lo <= hi) {
      const [blo, bhi] = b[k]!;
      if (blo > lo) out.push([lo, blo - 1]);
      lo = bhi + 1;
      k++;
    }
    if (lo <= hi) out.push([lo, hi]);
  }
  return out;
}

function makeFold(lowerMap: Map<number, number>, extra: Map<number, number[]>): CaseFold {
  const preimage = new Map<number, number[]>();
  for (const [cp, lo] of lowerMap) {
    const list = preimage.get(lo);
    if (list) list.push(cp);
    else preimage.set(lo, [cp]);
  }
  return {
    lower: (cp) => lowerMap.get(cp) ?? cp,
    lowersTo: (cp) => preimage.get(cp) ?? [],
    extra: (cp) => extra.get(cp) ?? [],
    changed: toRanges(lowerMap.keys()),
  };
}

const UNICODE_EXTRA = new Map<number, number[]>();
for (const line of EXTRA_CASES.trim().split('\n')) {
  const [key, ...others] = line.split(' ').map((h) => parseInt(h, 16));
  UNICODE_EXTRA.set(key!, others);
}
const EXTRA_KEYS = [...UNICODE_EXTRA.keys()];

const ASCII_LOWER = new Map<number, number>();
for (let cp = 0x41; cp <= 0x5a; cp++) ASCII_LOWER.set(cp, cp + 32);

export const UNICODE_FOLD = makeFold(decodeRuns(LOWER), UNICODE_EXTRA);
export const ASCII_FOLD = makeFold(ASCII_LOWER, new Map());

const UPPER_MAP = decodeRuns(UPPER);
/** _sre's sre_upper_unicode (used under `(?a)` too, for set ranges past U+FFFF). */
const pyUpper = (cp: number): number => UPPER_MAP.get(cp) ?? cp;
/** The characters whose upper case differs from themselves. */
const UPPER_CHANGED: readonly number[] = [...UPPER_MAP.keys()];

/**
 * The characters Python's `(?i)` takes for one literal, or for a character set
 * with these literal members and ranges (its \d, \w, \s categories aside: they
 * answer alike for a character and its lower case, which the table's generator
 * checks). `literals` and `ranges` are as written; a non-BMP upper-case literal
 * must have been refused before (see pattern.ts). Follows _optimize_charset: a
 * BMP member adds its lower case and that one's extra cases; a non-BMP literal
 * adds itself; a range reaching past U+FFFF adds the characters whose upper
 * case lies in it. ch is then taken when lower(ch) was added.
 */
export function foldedMembers(fold: CaseFold, literals: readonly number[], ranges: CpRanges): CpRanges {
  if (literals.length === 1 && ranges.length === 0) {
    // One literal (_compile's LITERAL branch; the same answer as below, sooner).
    const lo = fold.lower(literals[0]!);
    return toRanges([lo, ...fold.extra(lo)].flatMap((cp) => [cp, ...fold.lowersTo(cp)]));
  }
  const members = unionRanges(
    literals.map((cp): [number, number] => [cp, cp]),
    ranges,
  );
  const bmp = subtractRanges(members, [[0x10000, 0x10ffff]]);
  const wide = ranges.filter(([, hi]) => hi > 0xffff);
  const added: number[] = [];
  // Lower case of each changed BMP member (the unchanged ones are their own).
  for (const [a, b] of subtractRanges(fold.changed, [[0x10000, 0x10ffff]])) {
    for (let cp = a; cp <= b; cp++) if (inRanges(bmp, cp)) added.push(fold.lower(cp));
  }
  const loweredBmp = unionRanges(bmp, toRanges(added));
  for (const cp of EXTRA_KEYS) if (inRanges(loweredBmp, cp)) added.push(...fold.extra(cp));
  if (wide.length > 0) {
    for (const cp of UPPER_CHANGED) {
      const up = pyUpper(cp);
      if (wide.some(([lo, hi]) => up >= lo && up <= hi)) added.push(cp);
    }
  }
  // What lower(ch) is tested against, kept to characters that are their own lower case.
  const targets = subtractRanges(unionRanges(members, toRanges(added)), fold.changed);
  const changedIn: number[] = [];
  for (const [a, b] of fold.changed) {
    for (let cp = a; cp <= b; cp++) if (inRanges(targets, fold.lower(cp))) changedIn.push(cp);
  }
  return unionRanges(targets, toRanges(changedIn));
}
