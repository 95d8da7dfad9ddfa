/**
 * Synthetic people for the demo dataset and the benchmarks: seeded, so every
 * run (and every machine) sees the same records. No real personal data.
 */
import { readFileSync } from 'node:fs';
import { fromRoot } from '../common/paths.js';
import { seededRandom } from '../common/seeded-random.js';

export { seededRandom };

const GIVEN = [
  'olivia',
  'liam',
  'amelia',
  'noah',
  'isla',
  'jack',
  'mia',
  'oliver',
  'ava',
  'william',
  'grace',
  'james',
  'chloe',
  'lucas',
  'zoe',
  'henry',
  'ella',
  'leo',
  'ruby',
  'thomas',
  'sofia',
  'kévin',
  'matilda',
  'harrison',
  'evie',
  'samuel',
  'harper',
  'charlie',
  'willow',
  'max',
  'aisha',
  'mohammed',
  'mei',
  'hiroshi',
  'priya',
  'arjun',
  'fatima',
  'omar',
  'ingrid',
  'björn',
];
const SURNAME = [
  'smith',
  'jones',
  'williams',
  'brown',
  'wilson',
  'taylor',
  'johnson',
  'white',
  'martin',
  'anderson',
  'thompson',
  'nguyen',
  'thomas',
  'walker',
  'harris',
  'lee',
  'ryan',
  'robinson',
  'kelly',
  'king',
  'davis',
  'wright',
  'evans',
  'roberts',
  'green',
  'hall',
  'wood',
  'jackson',
  'clarke',
  'patel',
  'khan',
  'chen',
  'wang',
  'singh',
  "o'brien",
  'müller',
  'garcía',
  'nakamura',
  'kowalski',
  'dubois',
];

export function loadDemoSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(fromRoot('demo', 'schema.json'), 'utf8'));
}

/** One row in demo/schema.json's column order. */
export type PersonRow = [recId: string, givenName: string, surname: string, dob: string, postcode: string];

export function syntheticPeople(count: number, seed = 1): PersonRow[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const rows: PersonRow[] = [];
  for (let i = 0; i < count; i++) {
    const year = 1940 + Math.floor(rnd() * 65);
    const month = 1 + Math.floor(rnd() * 12);
    const day = 1 + Math.floor(rnd() * 28);
    const dob = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
    const postcode = String(1000 + Math.floor(rnd() * 9000));
    rows.push([`p${i}`, pick(GIVEN), pick(SURNAME), dob, postcode]);
  }
  return rows;
}

/** The same person as typed by someone else: one character of the surname changed. */
export function withTypo(row: PersonRow, seed = 7): PersonRow {
  const rnd = seededRandom(seed);
  const s = [...row[2]];
  const at = Math.floor(rnd() * s.length);
  s[at] = s[at] === 'e' ? 'a' : 'e';
  return [row[0], row[1], s.join(''), row[3], row[4]];
}
