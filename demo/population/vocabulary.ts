/**
 * Value lists for the synthetic population (demo/population/generator.ts).
 * Everything here is made up or common knowledge (English nicknames, street
 * types, Australian state codes), so no data set's licence applies; names
 * beyond the short real lists are built from syllables, which gives tens of
 * thousands of distinct plausible values with a long-tailed frequency, as real
 * name lists have.
 */

/** Common given names with the nicknames people actually write for them. */
export const NICKNAMES: Readonly<Record<string, readonly string[]>> = {
  william: ['bill', 'will', 'billy', 'liam'],
  robert: ['bob', 'rob', 'bobby', 'robbie'],
  richard: ['rick', 'dick', 'rich'],
  james: ['jim', 'jimmy', 'jamie'],
  john: ['jack', 'johnny'],
  michael: ['mike', 'mick', 'mikey'],
  thomas: ['tom', 'tommy'],
  christopher: ['chris', 'kit'],
  matthew: ['matt'],
  daniel: ['dan', 'danny'],
  anthony: ['tony'],
  joseph: ['joe', 'joey'],
  benjamin: ['ben', 'benny'],
  samuel: ['sam', 'sammy'],
  alexander: ['alex', 'sandy', 'xander'],
  nicholas: ['nick', 'nicky'],
  edward: ['ed', 'ted', 'eddie', 'ned'],
  charles: ['charlie', 'chuck', 'chas'],
  henry: ['harry', 'hank'],
  andrew: ['andy', 'drew'],
  jonathan: ['jon', 'jonny'],
  timothy: ['tim', 'timmy'],
  stephen: ['steve', 'stevie'],
  peter: ['pete'],
  david: ['dave', 'davey'],
  patrick: ['pat', 'paddy'],
  lawrence: ['larry', 'laurie'],
  gregory: ['greg'],
  zachary: ['zach', 'zac'],
  nathaniel: ['nate', 'nat'],
  elizabeth: ['liz', 'beth', 'lizzie', 'betty', 'eliza'],
  margaret: ['maggie', 'meg', 'peggy', 'marge'],
  katherine: ['kate', 'kath', 'kathy', 'katie', 'kit'],
  catherine: ['cathy', 'cate', 'cat'],
  jennifer: ['jen', 'jenny'],
  rebecca: ['becky', 'bec'],
  jessica: ['jess', 'jessie'],
  victoria: ['vicky', 'tori'],
  alexandra: ['alex', 'lexie', 'sandra'],
  samantha: ['sam', 'sammy'],
  abigail: ['abby', 'gail'],
  susan: ['sue', 'susie'],
  patricia: ['pat', 'patty', 'trish'],
  deborah: ['deb', 'debbie'],
  christine: ['chris', 'chrissy', 'tina'],
  jacqueline: ['jackie', 'jacqui'],
  kimberley: ['kim'],
  natalie: ['nat'],
  stephanie: ['steph'],
  madeleine: ['maddie', 'maddy'],
  charlotte: ['charlie', 'lottie'],
  isabella: ['bella', 'izzy'],
  josephine: ['jo', 'josie'],
  dorothy: ['dot', 'dottie'],
  frances: ['fran', 'frankie'],
  gabrielle: ['gabby', 'elle'],
  theodore: ['theo', 'ted'],
  frederick: ['fred', 'freddie'],
  francis: ['frank', 'frankie'],
  kenneth: ['ken', 'kenny'],
};

/** Syllables names are built from: onset + nucleus (+ coda), two or three of them. */
const ONSETS = [
  'b',
  'br',
  'c',
  'ch',
  'd',
  'dr',
  'f',
  'g',
  'gr',
  'h',
  'j',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  'sh',
  'st',
  't',
  'th',
  'tr',
  'v',
  'w',
  'z',
  '',
];
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ie', 'ou', 'y'];
const CODAS = ['', '', '', 'n', 'r', 'l', 's', 'th', 'm', 'ck', 'nd', 'rt', 'st', 'x'];
const GIVEN_ENDINGS = ['', 'a', 'ie', 'o', 'ah', 'el', 'ine', 'y', 'en', 'on'];
const SURNAME_ENDINGS = [
  '',
  'son',
  'ton',
  'ley',
  'er',
  'man',
  'well',
  'field',
  'ford',
  'wood',
  'berg',
  'ski',
  'ez',
  'ini',
];
const STREET_ENDINGS = ['', 'wood', 'view', 'dale', 'hill', 'field', 'ridge', 'vale'];

export const STREET_TYPES = [
  'street',
  'road',
  'avenue',
  'crescent',
  'place',
  'circuit',
  'close',
  'drive',
  'court',
  'parade',
];
export const ADDRESS_2_WORDS = [
  'unit',
  'flat',
  'villa',
  'apartment',
  'cottage',
  'farm',
  'house',
  'lodge',
  'park',
  'gardens',
];

/** State code, population share, and its postcode range (Australian-style, as FEBRL's data is). */
export const STATES: readonly { code: string; weight: number; postcodes: [number, number] }[] = [
  { code: 'nsw', weight: 0.32, postcodes: [2000, 2999] },
  { code: 'vic', weight: 0.26, postcodes: [3000, 3999] },
  { code: 'qld', weight: 0.2, postcodes: [4000, 4999] },
  { code: 'wa', weight: 0.1, postcodes: [6000, 6797] },
  { code: 'sa', weight: 0.07, postcodes: [5000, 5799] },
  { code: 'tas', weight: 0.02, postcodes: [7000, 7799] },
  { code: 'act', weight: 0.02, postcodes: [2600, 2618] },
  { code: 'nt', weight: 0.01, postcodes: [1000, 1999] },
];

/** Keyboard neighbours (QWERTY) for substitution typos. */
export const KEY_NEIGHBOURS: Readonly<Record<string, string>> = {
  q: 'wa',
  w: 'qes',
  e: 'wrd',
  r: 'etf',
  t: 'ryg',
  y: 'tuh',
  u: 'yij',
  i: 'uok',
  o: 'ipl',
  p: 'ol',
  a: 'qsz',
  s: 'adwx',
  d: 'sfec',
  f: 'dgrv',
  g: 'fhtb',
  h: 'gjyn',
  j: 'hkum',
  k: 'jli',
  l: 'kop',
  z: 'asx',
  x: 'zsdc',
  c: 'xdfv',
  v: 'cfgb',
  b: 'vghn',
  n: 'bhjm',
  m: 'njk',
  '0': '9',
  '1': '2',
  '2': '13',
  '3': '24',
  '4': '35',
  '5': '46',
  '6': '57',
  '7': '68',
  '8': '79',
  '9': '80',
};

/** Distinct values built from syllables with `rnd`, in the order they were made (rank 0 is the most common). */
function buildNames(
  rnd: () => number,
  count: number,
  syllables: [number, number],
  endings: readonly string[],
): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const seen = new Set<string>();
  const out: string[] = [];
  while (out.length < count) {
    const n = syllables[0] + Math.floor(rnd() * (syllables[1] - syllables[0] + 1));
    let s = '';
    for (let i = 0; i < n; i++) s += pick(ONSETS) + pick(NUCLEI) + (i === n - 1 ? pick(CODAS) : '');
    // a shared ending on a third of the names: endings are common in real names, but too many make strangers alike
    if (rnd() < 0.35) s += pick(endings);
    if (s.length < 3 || s.length > 14 || seen.has(s)) continue;
    seen.add(s);
    out.push(s);
  }
  return out;
}

/** A list of values with Zipf-like frequencies (weight 1/(rank + offset)^exponent), sampled by binary search. */
export class WeightedList {
  private readonly cumulative: Float64Array;

  constructor(
    readonly values: readonly string[],
    exponent = 1,
    offset = 5,
  ) {
    this.cumulative = new Float64Array(values.length);
    let sum = 0;
    for (let i = 0; i < values.length; i++) {
      sum += 1 / (i + offset) ** exponent;
      this.cumulative[i] = sum;
    }
    for (let i = 0; i < values.length; i++) this.cumulative[i]! /= sum;
  }

  sample(u: number): string {
    let lo = 0;
    let hi = this.values.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return this.values[lo]!;
  }
}

export interface Vocabulary {
  given: WeightedList;
  surname: WeightedList;
  street: WeightedList;
  suburb: WeightedList;
  address2: WeightedList;
}

/**
 * The vocabulary is fixed by its own seed, independent of the population seed,
 * so two populations share name frequencies as two real registers do.
 */
export function buildVocabulary(rnd: () => number): Vocabulary {
  const realGiven = Object.keys(NICKNAMES);
  // Real names with nicknames are interleaved among the most common ranks, so nicknames matter.
  const madeGiven = buildNames(rnd, 6000, [1, 2], GIVEN_ENDINGS).filter((n) => !(n in NICKNAMES));
  const given: string[] = [];
  for (let i = 0, r = 0; i < madeGiven.length; i++) {
    if (i % 3 === 0 && r < realGiven.length) given.push(realGiven[r++]!);
    given.push(madeGiven[i]!);
  }
  const surname = buildNames(rnd, 60000, [1, 3], SURNAME_ENDINGS);
  const street = buildNames(rnd, 8000, [1, 2], STREET_ENDINGS);
  const suburb = buildNames(
    rnd,
    3000,
    [2, 3],
    ['', 'ville', ' hills', ' park', ' heights', ' bay', ' north', ' creek'],
  );
  const address2 = buildNames(rnd, 2000, [2, 2], ['', ' flats', ' park', ' estate']);
  return {
    given: new WeightedList(given, 0.9, 8),
    surname: new WeightedList(surname, 0.8, 10),
    street: new WeightedList(street, 0.8, 20),
    suburb: new WeightedList(suburb, 0.9, 10),
    address2: new WeightedList(address2, 0.8, 10),
  };
}
