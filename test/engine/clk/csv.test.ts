// The CSV reader against Python's csv module (test/fixtures/csv/python-csv-cases.json,
// made by generate_python_csv.py): every text must give the records Python gives, except
// the one documented refusal (a quoted field left open at the end). lastRecordEnd must cut
// any prefix of a text only where a record ends, so pieces parsed apart give the same records.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CsvRecords,
  csvPieces,
  delimiterCode,
  FIELD_SIZE_LIMIT,
  lastRecordEnd,
  RecordCuts,
  readCsvFile,
  scansUnquoted,
  scanUnquoted,
} from '../../../engine/clk/csv.js';

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

describe('scanUnquoted reads a piece without quotes as CsvRecords does', () => {
  it('gives the fixture cases without quotes field for field, up to a record of another width', () => {
    let compared = 0;
    for (const c of cases) {
      const bytes = Buffer.from(c.text);
      if (!scansUnquoted(bytes) || c.rows.length === 0) continue;
      const width = c.rows[0]!.length;
      const scan = scanUnquoted(bytes, delimiterCode(c.delimiter), width);
      const same = c.rows.findIndex((row) => row.length !== width);
      const expected = same === -1 ? c.rows : c.rows.slice(0, same);
      const rows = Array.from({ length: scan.records }, (_, r) =>
        Array.from({ length: width }, (_, f) =>
          bytes.toString('utf8', scan.bounds[r * (width + 1) + f], scan.bounds[r * (width + 1) + f + 1]! - 1),
        ),
      );
      expect(rows, c.name).toEqual(expected);
      expect(scan.fieldCount?.fields, c.name).toBe(same === -1 ? undefined : c.rows[same]!.length);
      expect(Array.from(scan.lines.subarray(0, scan.records)), c.name).toEqual(
        readAll(c.text, c.delimiter).lines.slice(0, scan.records),
      );
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(5);
  });

  it("counts a field's characters as Python does, an emoji as one, in both readers", () => {
    // 65,537 emoji are 131,074 UTF-16 units and 262,148 bytes, but 65,537 characters: within the limit.
    for (const [field, refused] of [
      ['😀'.repeat(65_537), false],
      ['😀'.repeat(FIELD_SIZE_LIMIT), false],
      ['😀'.repeat(FIELD_SIZE_LIMIT + 1), true],
      [`${'é'.repeat(FIELD_SIZE_LIMIT - 1)}😀`, false],
      ['李'.repeat(FIELD_SIZE_LIMIT + 1), true],
    ] as const) {
      const text = `a,b\nc,${field}\n`;
      const scan = scanUnquoted(Buffer.from(text), 0x2c, 2);
      if (refused) {
        expect(() => readAll(text, ',')).toThrow(/^line 2: field 2 is longer than 131072 characters$/);
        expect(scan.error?.message).toBe('line 2: field 2 is longer than 131072 characters');
        expect(scan.records).toBe(1);
      } else {
        expect(readAll(text, ',').rows[1]![1]).toBe(field);
        expect(scan.error).toBeUndefined();
        expect(scan.records).toBe(2);
      }
    }
  });

  it('sizes its bounds by the records a piece can hold: a wide piece does not start with megabytes', () => {
    const width = 5000;
    const row = Array.from({ length: width }, (_, i) => i % 10).join(',');
    const scan = scanUnquoted(Buffer.from(`${row}\n`.repeat(10)), 0x2c, width);
    expect(scan.records).toBe(10);
    expect(scan.bounds.length).toBeLessThanOrEqual(4 * 10 * (width + 1));
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

describe('csvPieces', () => {
  /** The bytes fed in chunks of `chunk`, cut into pieces of about `size`. */
  async function cut(bytes: Uint8Array, delimiter: number, size: number, chunk: number): Promise<Uint8Array[]> {
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
    }
    const pieces: Uint8Array[] = [];
    for await (const piece of csvPieces(chunks(), delimiter, size, () => new Error('too long'))) pieces.push(piece);
    return pieces;
  }

  for (const c of cases.filter((x) => !REFUSED.has(x.name))) {
    it(`"${c.name}": pieces of whole records that read as the whole text does`, async () => {
      const bytes = new TextEncoder().encode(c.text);
      for (const [size, chunk] of [
        [1, 1],
        [3, 2],
        [8, 5],
        [64, 64],
      ] as const) {
        const pieces = await cut(bytes, delimiterCode(c.delimiter), size, chunk);
        expect(Buffer.concat(pieces)).toEqual(Buffer.from(bytes));
        const rows = pieces.flatMap((p) => readAll(new TextDecoder().decode(p), c.delimiter).rows);
        expect(rows, `pieces of ${size}, chunks of ${chunk}`).toEqual(c.rows);
      }
    });
  }

  it('cuts after a record longer than many pieces, whose quoted field holds line breaks', async () => {
    const long = `"${'ab\ncd,'.repeat(2000)}"`;
    const text = `x,${long}\ny,z\n${'w,v\n'.repeat(50)}`;
    const bytes = new TextEncoder().encode(text);
    const pieces = await cut(bytes, 0x2c, 16, 7);
    expect(Buffer.concat(pieces).toString('utf8')).toBe(text);
    // Every piece ends where a record ends, the long one included.
    expect(pieces.map((p) => lastRecordEnd(p, p.length, 0x2c))).toEqual(pieces.map((p) => p.length));
    expect(pieces.flatMap((p) => readAll(new TextDecoder().decode(p), ',').rows)).toEqual(readAll(text, ',').rows);
  });

  it('RecordCuts looks again at the end of the input, whatever it looked at before', () => {
    const bytes = new TextEncoder().encode(`"${'a'.repeat(1000)}"\nb\n`);
    const cuts = new RecordCuts(0x2c);
    expect(cuts.lastEnd(bytes, 600, 16)).toBe(-1); // the quote is still open at 600 bytes
    // 1,005 bytes hold the record's end, but the buffer has not doubled since the last look: wait.
    expect(cuts.lastEnd(bytes, bytes.length, 16)).toBe(-1);
    expect(cuts.lastEnd(bytes, bytes.length, 16, true)).toBe(bytes.length);
  });

  it('drops a UTF-8 byte-order mark at the start only', async () => {
    const text = new TextEncoder().encode('\uFEFFa,b\n\uFEFFc,d\n');
    const pieces = await cut(text, 0x2c, 4, 1);
    // Buffer keeps a BOM (TextDecoder would drop it): the one inside stays, the one at the start is gone.
    expect(Buffer.concat(pieces).toString('utf8')).toBe('a,b\n\uFEFFc,d\n');
  });
});

describe('readCsvFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pavilion-csv-'));
  const file = (bytes: Uint8Array) => {
    const path = join(dir, `f${Math.random().toString(36).slice(2)}.csv`);
    writeFileSync(path, bytes);
    return path;
  };

  it('reads UTF-8 and drops a byte-order mark', () => {
    expect(readCsvFile(file(Buffer.from('\uFEFFa,é\n')))).toBe('a,é\n');
  });

  it('refuses bytes that are not UTF-8, naming their line, and a file it cannot read', () => {
    const latin1 = Buffer.concat([Buffer.from('a,b\r\nc,d\ne,'), Buffer.from([0xe9]), Buffer.from('\n')]);
    expect(() => readCsvFile(file(latin1))).toThrow(
      expect.objectContaining({ code: 'CSV_INVALID', message: 'line 3: not valid UTF-8' }),
    );
    expect(() => readCsvFile(join(dir, 'missing.csv'))).toThrow(expect.objectContaining({ code: 'FILE_NOT_FOUND' }));
  });
});
