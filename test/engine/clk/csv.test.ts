// The CSV reader against Python's csv module (test/fixtures/csv/python-csv-cases.json,
// made by generate_python_csv.py): every text must give the records Python gives, except
// the one documented refusal (a quoted field left open at the end). lastRecordEnd must cut
// any prefix of a text only where a record ends, so pieces parsed apart give the same records.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CsvRecords, delimiterCode, FIELD_SIZE_LIMIT, lastRecordEnd } from '../../../engine/clk/csv.js';

interface Case {
  name: string;
  delimiter: string;
  text: string;
  rows: string[][];
}
const { cases } = JSON.parse(
  readFileSync(new URL('../../fixtures/csv/python-csv-cases.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

function readAll(text: string, delimiter: string): { rows: string[][]; lines: number[] } {
  const reader = new CsvRecords(text, delimiterCode(delimiter));
  const rows: string[][] = [];
  const lines: number[] = [];
  while (reader.next()) {
    rows.push([...reader.fields]);
    lines.push(reader.line);
  }
  return { rows, lines };
}

const REFUSED = new Set(['unclosed quote at the end']);

describe('CsvRecords reads as Python csv.reader does', () => {
  it('has the fixture cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });
  for (const c of cases) {
    it(c.name, () => {
      if (REFUSED.has(c.name)) {
        expect(() => readAll(c.text, c.delimiter)).toThrow(expect.objectContaining({ code: 'CSV_INVALID' }));
      } else {
        expect(readAll(c.text, c.delimiter).rows).toEqual(c.rows);
      }
    });
  }

  it('numbers each record by the line it starts on', () => {
    expect(readAll('a\n\n"b\nc",d\r\ne\rf', ',').lines).toEqual([1, 3, 5, 6]);
  });

  it("refuses a field longer than Python's field_size_limit, naming line and field only", () => {
    const long = 'x'.repeat(FIELD_SIZE_LIMIT + 1);
    expect(readAll(`a,${'x'.repeat(FIELD_SIZE_LIMIT)}\n`, ',').rows[0]![1]).toHaveLength(FIELD_SIZE_LIMIT);
    expect(() => readAll(`a,b\nc,${long}\n`, ',')).toThrow(/^line 2: field 2 is longer than 131072 characters$/);
  });

  it('accepts one ASCII delimiter or a tab, nothing else', () => {
    for (const d of [',', ';', '\t', '|', ':']) expect(delimiterCode(d)).toBe(d.charCodeAt(0));
    for (const d of ['', ',,', '"', '\n', '\r', 'é', '\x01']) {
      expect(() => delimiterCode(d)).toThrow(expect.objectContaining({ code: 'DELIMITER_INVALID' }));
    }
  });
});

describe('lastRecordEnd', () => {
  for (const c of cases.filter((x) => !REFUSED.has(x.name))) {
    it(`cuts "${c.name}" only between records, at every prefix`, () => {
      const bytes = new TextEncoder().encode(c.text);
      const d = delimiterCode(c.delimiter);
      for (let length = 0; length <= bytes.length; length++) {
        const end = lastRecordEnd(bytes, length, d);
        expect(end).toBeLessThanOrEqual(length);
        if (end === -1) continue;
        const decode = (b: Uint8Array) => new TextDecoder().decode(b);
        const pieces = [
          ...readAll(decode(bytes.subarray(0, end)), c.delimiter).rows,
          ...readAll(decode(bytes.subarray(end)), c.delimiter).rows,
        ];
        expect(pieces, `cut at ${end} of ${length}`).toEqual(c.rows);
      }
    });
  }

  it('finds no end inside a quoted field, and waits for the \\n after a final \\r', () => {
    const bytes = new TextEncoder().encode('a,"b\nc\n');
    expect(lastRecordEnd(bytes, bytes.length, 0x2c)).toBe(-1);
    const cr = new TextEncoder().encode('a\rb\r');
    expect(lastRecordEnd(cr, cr.length, 0x2c)).toBe(2);
  });
});
