/**
 * FEBRL-like synthetic records for `febrl_schema_v3_final.json` (the schema of
 * clkhash's own examples, test/fixtures/clkhash/): rec_id, given_name, surname,
 * street_number, address_1, address_2, suburb, postcode, state, date_of_birth,
 * soc_sec_id, with FEBRL's shapes (lower case, yyyymmdd integers, empty fields
 * where FEBRL leaves them empty). Seeded, so every run and machine encodes the
 * same records; the vocabularies grow with the row count roughly as real
 * registers do (a few thousand given names, tens of thousands of streets and
 * dates), so value caches do not make the benchmark trivially cheap.
 * No real personal data; nothing large is committed (the CSV is written to a
 * temporary file when a benchmark needs one).
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { seededRandom } from '../common/seeded-random.js';
import { FEBRL_COLUMNS } from '../demo/population/generator.js';

const SYLLABLES = (
  'an ar ba be bel bri ca cha co da de di el em en fa fe ga gi ha he ia in ja jo ka ke la le li lo ' +
  'ma me mi mo na ne ni no ol or pa pe ra re ri ro sa se si so ta te ti to va ve wa wi ya za'
).split(' ');
const SURNAME_PARTS = (
  'neu mann smi th ja cob son wil li ams brow ne tay lor mar tin nguy en ko val ski bri an ber ger ' +
  'ha mil ton ro ber ts cam pbell mc do nald fitz ge rald war ren ste wart'
).split(' ');
const STREET_TYPES = 'street road avenue place crescent circuit close drive lane parade terrace way court'.split(' ');
const ADDRESS_2 = ['', '', '', 'kmart', 'rosedale', 'villa', 'the grange', 'unit', 'flat', 'locn', 'rsd'];
const STATES = ['nsw', 'vic', 'qld', 'wa', 'sa', 'tas', 'act', 'nt'];

/** `min`..`max` parts, common parts more often (squared uniform), as names are Zipf-like. */
function word(r: () => number, parts: readonly string[], min: number, max: number): string {
  const n = min + Math.floor(r() * (max - min + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += parts[Math.floor(r() ** 2 * parts.length)]!;
  return s;
}

/** `count` rows in FEBRL_COLUMNS order. */
export function febrlRecords(count: number, seed = 1, firstIndex = 0): string[][] {
  const r = seededRandom(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const rows: string[][] = [];
  for (let i = 0; i < count; i++) {
    const y = 1910 + Math.floor(r() * 95);
    const m = 1 + Math.floor(r() * 12);
    const d = 1 + Math.floor(r() * 28);
    const dob = r() < 0.03 ? '' : `${y}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`;
    const addr2 = pick(ADDRESS_2);
    rows.push([
      `rec-${firstIndex + i}-org`,
      r() < 0.02 ? '' : word(r, SYLLABLES, 2, 2),
      word(r, SURNAME_PARTS, 2, 3),
      r() < 0.05 ? '' : String(1 + Math.floor(r() ** 2 * 400)),
      `${word(r, SYLLABLES, 2, 3)} ${pick(STREET_TYPES)}`,
      addr2 === '' ? '' : `${addr2} ${word(r, SYLLABLES, 1, 2)}`,
      word(r, SYLLABLES, 2, 3),
      String(200 + Math.floor(r() * 9000)),
      r() < 0.02 ? '' : pick(STATES),
      dob,
      String(1_000_000 + Math.floor(r() * 9_000_000)),
    ]);
  }
  return rows;
}

/** Writes a header row and `count` records as CSV (no field needs quoting). */
export async function writeFebrlCsv(path: string, count: number, seed = 1): Promise<void> {
  const out = createWriteStream(path);
  out.write(`${FEBRL_COLUMNS.join(',')}\n`);
  const chunk = 10_000;
  for (let i = 0; i < count; i += chunk) {
    const rows = febrlRecords(Math.min(chunk, count - i), seed + i, i);
    if (!out.write(`${rows.map((row) => row.join(',')).join('\n')}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
