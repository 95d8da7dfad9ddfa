/**
 * Seeded FEBRL-like populations for linkage tests and benchmarks: several
 * parties (data providers) each hold records of people, some of whom are in
 * other parties too, re-typed with the corruption model described in
 * demo/population/README.md. The truth (which records are the same person) is
 * kept beside the records, so recall, precision and threshold estimates can be
 * checked.
 *
 * Records are made on demand from (seed, party, entity), never held all at
 * once: 6 parties × 1M records would not fit in memory as strings, and any
 * record can be re-made alone (the benchmark encodes them in batches).
 */

import { PavilionError } from '../../common/errors.js';
import { seededRandom } from '../../common/seeded-random.js';
import {
  ADDRESS_2_WORDS,
  buildVocabulary,
  KEY_NEIGHBOURS,
  NICKNAMES,
  STATES,
  STREET_TYPES,
  type Vocabulary,
} from './vocabulary.js';

/**
 * Columns in the order of FEBRL's data and clkhash's FEBRL schema
 * (test/fixtures/clkhash/febrl_schema_v3_final.json).
 */
export const FEBRL_COLUMNS = [
  'rec_id',
  'given_name',
  'surname',
  'street_number',
  'address_1',
  'address_2',
  'suburb',
  'postcode',
  'state',
  'date_of_birth',
  'soc_sec_id',
] as const;

export type PersonRecord = string[];

const GIVEN = 1;
const SURNAME = 2;
const STREET_NUMBER = 3;
const ADDRESS_1 = 4;
const ADDRESS_2 = 5;
const SUBURB = 6;
const POSTCODE = 7;
const STATE = 8;
const DOB = 9;

export type CorruptionKind =
  | 'typo'
  | 'transposition'
  | 'missing'
  | 'nickname'
  | 'movedAddress'
  | 'swappedNames'
  | 'dateError';

export interface CorruptionModel {
  /** P(k modifications) for k = 0, 1, 2, …: how damaged a re-typed record is. */
  modifications: readonly number[];
  /** Relative weight of each kind of modification. */
  kinds: Readonly<Record<CorruptionKind, number>>;
}

/**
 * The default model: most re-typed records carry one or two changes, a few up to five (FEBRL's
 * duplicates carry up to 4–5).
 */
export const DEFAULT_CORRUPTION: CorruptionModel = {
  modifications: [0.2, 0.4, 0.25, 0.1, 0.04, 0.01],
  kinds: {
    typo: 0.38,
    transposition: 0.12,
    missing: 0.16,
    nickname: 0.1,
    movedAddress: 0.05,
    swappedNames: 0.02,
    dateError: 0.17,
  },
};

export interface PopulationOptions {
  seed: number;
  /** Number of parties (datasets), at least 1. */
  parties: number;
  /** Records in each party. */
  size: number;
  /** Share of each party's records that are people shared with other parties (the rest are its own). */
  overlap?: number;
  /** Probability that a shared person appears in a given party (1: in every party). */
  presence?: number;
  /** Party 0 holds people as first recorded, uncorrupted (FEBRL4's "org" file); default true. */
  cleanFirstParty?: boolean;
  corruption?: CorruptionModel;
}

/** Mixes a seed with up to three integers into a 32-bit seed (murmur3's finaliser on a running hash). */
function mix(a: number, b: number, c = 0, d = 0): number {
  let h = a >>> 0;
  for (const v of [b, c, d]) {
    h = Math.imul(h ^ (v >>> 0), 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const VOCABULARY_SEED = 20261201;
let vocabulary: Vocabulary | undefined;
const vocab = (): Vocabulary => {
  vocabulary ??= buildVocabulary(seededRandom(VOCABULARY_SEED));
  return vocabulary;
};

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function pickState(u: number): (typeof STATES)[number] {
  let acc = 0;
  for (const s of STATES) {
    acc += s.weight;
    if (u < acc) return s;
  }
  return STATES[STATES.length - 1]!;
}

/** A fresh address from `rnd`: street number, street, second line, suburb, postcode, state. */
function address(rnd: () => number): [string, string, string, string, string, string] {
  const v = vocab();
  const state = pickState(rnd());
  const [lo, hi] = state.postcodes;
  const number = 1 + Math.floor(rnd() ** 2 * 300);
  const street = `${v.street.sample(rnd())} ${STREET_TYPES[Math.floor(rnd() * STREET_TYPES.length)]!}`;
  const second =
    rnd() < 0.45
      ? ''
      : rnd() < 0.5
        ? v.address2.sample(rnd())
        : `${ADDRESS_2_WORDS[Math.floor(rnd() * 10)]!} ${1 + Math.floor(rnd() * 40)}`;
  return [
    String(number),
    street,
    second,
    v.suburb.sample(rnd()),
    String(lo + Math.floor(rnd() * (hi - lo + 1))),
    state.code,
  ];
}

/** The person as first recorded: FEBRL_COLUMNS order, rec_id left empty. */
export function cleanPerson(seed: number, entity: number): PersonRecord {
  const rnd = seededRandom(mix(seed, entity, 0x5eed));
  const v = vocab();
  const year = 1920 + Math.floor(rnd() * 90);
  const month = 1 + Math.floor(rnd() * 12);
  const day = 1 + Math.floor(rnd() * 28);
  const [num, street, second, suburb, postcode, state] = address(rnd);
  return [
    '',
    v.given.sample(rnd()),
    v.surname.sample(rnd()),
    num,
    street,
    second,
    suburb,
    postcode,
    state,
    `${year}${pad(month, 2)}${pad(day, 2)}`,
    pad(Math.floor(rnd() * 1e7), 7),
  ];
}

function typo(s: string, rnd: () => number): string {
  if (s.length === 0) return s;
  const at = Math.floor(rnd() * s.length);
  const op = rnd();
  if (op < 0.5 || s.length < 3) {
    const near = KEY_NEIGHBOURS[s[at]!] ?? 'e';
    return s.slice(0, at) + near[Math.floor(rnd() * near.length)]! + s.slice(at + 1);
  }
  if (op < 0.7) return s.slice(0, at) + s[at]! + s.slice(at); // doubled key
  return s.slice(0, at) + s.slice(at + 1); // dropped key
}

function transpose(s: string, rnd: () => number): string {
  if (s.length < 2) return s;
  const at = Math.floor(rnd() * (s.length - 1));
  return s.slice(0, at) + s[at + 1]! + s[at]! + s.slice(at + 2);
}

/** Fields a typo or a transposition may hit, with weights: names are typed most, dates and numbers too. */
const TYPO_FIELDS = [
  GIVEN,
  GIVEN,
  SURNAME,
  SURNAME,
  SURNAME,
  ADDRESS_1,
  ADDRESS_1,
  SUBURB,
  ADDRESS_2,
  STREET_NUMBER,
  POSTCODE,
  DOB,
];
/** Fields that may be left blank (the FEBRL schema gives postcode no missing-value sentinel, so it is always there). */
const MISSING_FIELDS = [GIVEN, SURNAME, SURNAME, STREET_NUMBER, ADDRESS_1, ADDRESS_2, ADDRESS_2, SUBURB, STATE, DOB];

function dateError(dob: string, rnd: () => number): string {
  if (dob.length !== 8) return dob;
  const y = dob.slice(0, 4);
  const m = dob.slice(4, 6);
  const d = dob.slice(6, 8);
  const r = rnd();
  if (r < 0.4 && Number(d) <= 12) return `${y}${d}${m}`; // day and month swapped
  if (r < 0.7) return `${y}${m}${pad(Math.max(1, Math.min(28, Number(d) + (rnd() < 0.5 ? -1 : 1))), 2)}`;
  return `${Number(y) + (rnd() < 0.5 ? -1 : 1)}${m}${d}`;
}

function drawCount(probs: readonly number[], u: number): number {
  let acc = 0;
  for (let k = 0; k < probs.length; k++) {
    acc += probs[k]!;
    if (u < acc) return k;
  }
  return probs.length - 1;
}

/** Applies one modification of `kind` in place. Exported for the corruption-model tests. */
export function corrupt(rec: PersonRecord, kind: CorruptionKind, rnd: () => number): void {
  switch (kind) {
    case 'typo': {
      const f = TYPO_FIELDS[Math.floor(rnd() * TYPO_FIELDS.length)]!;
      const next = typo(rec[f]!, rnd);
      // integer fields stay integers (the schema parses them): a typo never empties one or adds a letter
      if (f === STREET_NUMBER || f === POSTCODE || f === DOB) {
        if (/^[1-9][0-9]*$/.test(next) && (f !== POSTCODE || (Number(next) >= 50 && Number(next) <= 9999)))
          rec[f] = next;
      } else rec[f] = next;
      return;
    }
    case 'transposition': {
      const f = TYPO_FIELDS[Math.floor(rnd() * TYPO_FIELDS.length)]!;
      const next = transpose(rec[f]!, rnd);
      if (!/^0/.test(next) || !(f === STREET_NUMBER || f === POSTCODE || f === DOB)) rec[f] = next;
      return;
    }
    case 'missing':
      rec[MISSING_FIELDS[Math.floor(rnd() * MISSING_FIELDS.length)]!] = '';
      return;
    case 'nickname': {
      const nicks = NICKNAMES[rec[GIVEN]!];
      if (nicks) rec[GIVEN] = nicks[Math.floor(rnd() * nicks.length)]!;
      else rec[GIVEN] = typo(rec[GIVEN]!, rnd);
      return;
    }
    case 'movedAddress': {
      const a = address(rnd);
      rec[STREET_NUMBER] = a[0];
      rec[ADDRESS_1] = a[1];
      rec[ADDRESS_2] = a[2];
      rec[SUBURB] = a[3];
      rec[POSTCODE] = a[4];
      rec[STATE] = a[5];
      return;
    }
    case 'swappedNames': {
      const g = rec[GIVEN]!;
      rec[GIVEN] = rec[SURNAME]!;
      rec[SURNAME] = g;
      return;
    }
    case 'dateError':
      if (rec[DOB]) rec[DOB] = dateError(rec[DOB], rnd);
      return;
  }
}

const KINDS: readonly CorruptionKind[] = [
  'typo',
  'transposition',
  'missing',
  'nickname',
  'movedAddress',
  'swappedNames',
  'dateError',
];

/**
 * A population: which person each party's record is (its truth), and the
 * records themselves, made on demand.
 */
export class Population {
  readonly seed: number;
  readonly parties: number;
  readonly size: number;
  readonly corruption: CorruptionModel;
  private readonly cleanFirst: boolean;
  private readonly members: Int32Array[];
  private readonly kindCumulative: Float64Array;

  constructor(opts: PopulationOptions) {
    const overlap = opts.overlap ?? 0.5;
    const presence = opts.presence ?? 1;
    if (!Number.isInteger(opts.parties) || opts.parties < 1 || !Number.isInteger(opts.size) || opts.size < 1)
      throw new PavilionError('POPULATION_INVALID', 'parties and size must be positive integers');
    if (!(overlap >= 0 && overlap <= 1) || !(presence > 0 && presence <= 1))
      throw new PavilionError('POPULATION_INVALID', 'overlap must be in [0, 1] and presence in (0, 1]');
    this.seed = opts.seed >>> 0;
    this.parties = opts.parties;
    this.size = opts.size;
    this.cleanFirst = opts.cleanFirstParty ?? true;
    this.corruption = opts.corruption ?? DEFAULT_CORRUPTION;
    const total = KINDS.reduce((s, k) => s + (this.corruption.kinds[k] ?? 0), 0);
    if (!(total > 0)) throw new PavilionError('POPULATION_INVALID', 'corruption kinds need a positive weight');
    this.kindCumulative = new Float64Array(KINDS.length);
    let acc = 0;
    KINDS.forEach((k, i) => {
      acc += (this.corruption.kinds[k] ?? 0) / total;
      this.kindCumulative[i] = acc;
    });

    // Shared people 0..core-1; party p's own people follow at core + p·size.
    const core = Math.round((overlap * this.size) / presence);
    this.members = [];
    for (let p = 0; p < this.parties; p++) {
      const ids = new Int32Array(this.size);
      let n = 0;
      for (let e = 0; e < core && n < this.size; e++) {
        if (presence === 1 || mix(this.seed, p, e, 0x9e5) / 2 ** 32 < presence) ids[n++] = e;
      }
      for (let k = 0; n < this.size; k++) ids[n++] = core + p * this.size + k;
      const rnd = seededRandom(mix(this.seed, p, 0x51f7));
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        const t = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = t;
      }
      this.members.push(ids);
    }
  }

  /** entity[i] = the person record i of `party` is (the truth). */
  entities(party: number): Int32Array {
    return this.members[party]!;
  }

  /** Record `index` of `party`, FEBRL_COLUMNS order; rec_id is `p<party>-<index>` (nothing about the person). */
  record(party: number, index: number): PersonRecord {
    const entity = this.members[party]![index]!;
    const rec = cleanPerson(this.seed, entity);
    rec[0] = `p${party}-${index}`;
    if (party === 0 && this.cleanFirst) return rec;
    const rnd = seededRandom(mix(this.seed, entity, party + 1, 0xc0ffee));
    const count = drawCount(this.corruption.modifications, rnd());
    for (let m = 0; m < count; m++) {
      const u = rnd();
      let k = 0;
      while (k < KINDS.length - 1 && u >= this.kindCumulative[k]!) k++;
      corrupt(rec, KINDS[k]!, rnd);
    }
    return rec;
  }

  /** Records [start, end) of a party. */
  records(party: number, start = 0, end = this.size): PersonRecord[] {
    const out: PersonRecord[] = [];
    for (let i = start; i < end; i++) out.push(this.record(party, i));
    return out;
  }

  /** True matches between two parties as [index in a, index in b], ordered by index in a. */
  truePairs(a: number, b: number): [number, number][] {
    // entity ids are below core + parties × size, so a typed array indexes them (a Map of 1M entries is slow)
    const ids = this.members[b]!;
    let max = 0;
    for (const e of ids) max = Math.max(max, e);
    for (const e of this.members[a]!) max = Math.max(max, e);
    const where = new Int32Array(max + 1).fill(-1);
    ids.forEach((e, i) => {
      where[e] = i;
    });
    const out: [number, number][] = [];
    this.members[a]!.forEach((e, i) => {
      const j = where[e]!;
      if (j >= 0) out.push([i, j]);
    });
    return out;
  }
}
