/**
 * `pavilion encode` and the shape of its input: header columns matched to the
 * schema by name, files without a header, other delimiters, quotes as Python
 * reads them, and inputs that are not CSV at all. Known answers are clkhash's
 * (test/fixtures/cli/generate.py, generate_quotes.py); no error may print a
 * record value.
 */
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { CsvRecords } from '../../engine/clk/csv.js';
import { pavilion, spawnPavilion } from './pavilion.js';

/**
 * What encode prints on stderr when it succeeds: the fingerprint of test/fixtures/cli/secret.txt
 * (Python's hashlib agrees).
 */
const SECRET_NOTE = 'linkage secret fingerprint 80fb634467a7743b\n';

const fixture = (name: string) => fromRoot('test', 'fixtures', 'cli', name);
const tmp = mkdtempSync(join(tmpdir(), 'pavilion-encode-csv-'));
const schema = fromRoot('demo', 'schema.json');
const clks = (name: string) => (JSON.parse(readFileSync(fixture(name), 'utf8')) as { clks: string[] }).clks;
const expectedA = clks('clks-a.json');

/** people-a.csv as rows, header first (its reading is checked against Python in test/engine/clk/csv.test.ts). */
const peopleA: string[][] = (() => {
  const reader = new CsvRecords(readFileSync(fixture('people-a.csv'), 'utf8'), 0x2c);
  const rows: string[][] = [];
  while (reader.next()) rows.push([...reader.fields]);
  return rows;
})();
const [header, ...records] = peopleA as [string[], ...string[][]];

function csv(rows: readonly string[][], delimiter = ','): string {
  const quote = (f: string) =>
    f.includes(delimiter) || f.includes('"') || f.includes('\n') ? `"${f.replaceAll('"', '""')}"` : f;
  return `${rows.map((r) => r.map(quote).join(delimiter)).join('\n')}\n`;
}

let files = 0;
function file(content: string | Uint8Array): string {
  const path = join(tmp, `in-${files++}.csv`);
  writeFileSync(path, content);
  return path;
}

const encode = (input: string, ...extra: string[]) =>
  pavilion(['encode', '--schema', schema, '--secret-file', fixture('secret.txt'), '--in', input, ...extra]);

/** Every record value of people-a (3 characters or more) is absent from the command's output. */
function expectNoRecordValues(r: { stdout: string; stderr: string }): void {
  const printed = r.stdout + r.stderr;
  for (const value of new Set(records.flat())) {
    if (value.length >= 3) expect(printed, 'a record value was printed').not.toContain(value);
  }
}

const columnsOf = (rows: readonly string[][], order: readonly number[]) => rows.map((r) => order.map((i) => r[i]!));

describe('pavilion encode: the header row', () => {
  it('matches columns by name: another order gives the same (clkhash) CLKs', async () => {
    // given_name and surname swapped would encode silently wrong if columns were taken by position.
    const r = await encode(file(csv(columnsOf(peopleA, [2, 0, 4, 1, 3]))));
    expect(r.stderr).toBe(SECRET_NOTE);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expectedA);
  });

  it('lets ignored features be left out', async () => {
    const r = await encode(file(csv(columnsOf(peopleA, [1, 2, 3, 4]))));
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(expectedA);
  });

  it('refuses a missing column, naming it', async () => {
    const r = await encode(file(csv(columnsOf(peopleA, [0, 1, 3, 4]))));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('pavilion: CSV_HEADER_MISMATCH: the header does not match the schema: missing surname\n');
  });

  it('refuses unknown and repeated columns, naming them', async () => {
    const renamed = [
      ['rec_id', 'given_name', 'last_name', 'dob', 'postcode', 'notes'],
      ...records.map((r) => [...r, '']),
    ];
    const r1 = await encode(file(csv(renamed)));
    expect(r1.code).toBe(1);
    expect(r1.stderr).toBe(
      'pavilion: CSV_HEADER_MISMATCH: the header does not match the schema: missing surname; ' +
        'not in the schema: "last_name", "notes"\n',
    );
    const twice = [[...header, 'given_name'], ...records.map((r) => [...r, r[1]!])];
    const r2 = await encode(file(csv(twice)));
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe(
      'pavilion: CSV_HEADER_MISMATCH: the header does not match the schema: named twice: "given_name"\n',
    );
  });

  it('refuses a file without a header row without printing its first record; --no-header reads it', async () => {
    const headless = file(csv(records));
    const r = await encode(headless);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'pavilion: CSV_HEADER_MISMATCH: line 1 is not a header row: none of its 5 columns is named after a feature ' +
        'of the schema (expected rec_id, given_name, surname, dob, postcode); a file without a header row needs ' +
        '--no-header\n',
    );
    expectNoRecordValues(r);

    const ok = await encode(headless, '--no-header');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trimEnd().split('\n')).toEqual(expectedA);

    // One person and no header: before, the person was taken for the header and nothing came out.
    const one = await encode(file(csv(records.slice(0, 1))), '--no-header');
    expect(one.stdout).toBe(`${expectedA[0]}\n`);
    expect((await encode(file(csv(records.slice(0, 1))))).code).toBe(1);
  });

  it('--no-header counts columns against the schema, listing its features', async () => {
    const r = await encode(file(csv(columnsOf(records, [0, 1, 2, 3]))), '--no-header');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'pavilion: RECORD_FIELD_COUNT: line 1: 4 columns, the schema has 5 features (rec_id, given_name, surname, ' +
        'dob, postcode)\n',
    );
    expectNoRecordValues(r);
  });

  it('refuses an empty input; a header alone gives no CLKs', async () => {
    const empty = await encode(file(''));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('pavilion: CSV_INVALID: the input is empty: no header row\n');
    const only = await encode(file(csv([header])));
    expect(only.code).toBe(0);
    expect(only.stdout).toBe('');
    const json = await encode(file(csv([header])), '--format', 'json');
    expect(JSON.parse(json.stdout)).toEqual({ clks: [] });
  });
});

describe('pavilion encode: what the CSV holds', () => {
  it('reads quotes as clkhash\'s CSV path does (Dwayne "The Rock", doubled quotes, CRLF, line breaks)', async () => {
    const expected = clks('quotes-clks.json');
    for (const threads of [[], ['--threads', '2']]) {
      const r = await encode(fixture('quotes.csv'), ...threads);
      expect(r.stderr).toBe(SECRET_NOTE);
      expect(r.code).toBe(0);
      expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
    }
  });

  it('refuses a JSON lines file, with or without --no-header, printing no value', async () => {
    const jsonl = file(
      `${records.map((r) => JSON.stringify(Object.fromEntries(header.map((h, i) => [h, r[i]])))).join('\n')}\n`,
    );
    const r1 = await encode(jsonl);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(
      new RegExp(
        '^pavilion: CSV_HEADER_MISMATCH: line 1 is not a header row: .*' +
          '\\(the input looks like JSON; pavilion encode reads CSV\\)\\n$',
      ),
    );
    expectNoRecordValues(r1);
    const r2 = await encode(jsonl, '--no-header');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe('pavilion: CSV_INVALID: line 1: the input looks like JSON; pavilion encode reads CSV\n');
    expect(r2.stdout).toBe('');
    expectNoRecordValues(r2);
  });

  it('gives a hint for ;- and tab-separated files, and reads them with --delimiter', async () => {
    for (const [delimiter, option, shown] of [
      [';', ';', "';'"],
      ['\t', 'tab', 'tab'],
    ] as const) {
      const input = file(csv(peopleA, delimiter));
      const r = await encode(input);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `(the first line is one column but contains ${delimiter === ';' ? "';'" : 'tabs'}: use --delimiter ${shown})`,
      );
      expectNoRecordValues(r);
      const ok = await encode(input, '--delimiter', option);
      expect(ok.stderr).toBe(SECRET_NOTE);
      expect(ok.stdout.trimEnd().split('\n')).toEqual(expectedA);
    }
    const bad = await encode(file(csv(peopleA)), '--delimiter', '"');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^pavilion: DELIMITER_INVALID: /);
  });

  it('refuses bytes that are not UTF-8, naming the line', async () => {
    const text = Buffer.from(csv(peopleA.slice(0, 4)));
    const bad = Buffer.concat([
      text,
      Buffer.from('r9,ann,'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(',1980-01-02,1234\n'),
    ]);
    for (const threads of ['1', '2']) {
      const r = await encode(file(bad), '--threads', threads);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('pavilion: CSV_INVALID: line 5: not valid UTF-8\n');
    }
    const badHeader = await encode(file(Buffer.concat([Buffer.from([0xc3]), text])));
    expect(badHeader.stderr).toBe('pavilion: CSV_INVALID: line 1: not valid UTF-8\n');
  });

  it('counts a short record against the header, naming the line only', async () => {
    const rows = [...peopleA.slice(0, 3), records[3]!.slice(0, 3), ...records.slice(4)];
    const r = await encode(file(csv(rows)));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('pavilion: RECORD_FIELD_COUNT: line 4: 3 columns, the header has 5\n');
  });

  it('stops at the first bad record in file order: a bad value before a short record, and the reverse', async () => {
    // Records are encoded feature by feature within a piece: a bad dob must still win over a later bad postcode.
    const badPostcode = [...records[4]!];
    badPostcode[4] = '12a4';
    const badDob = [...records[5]!];
    badDob[3] = '1950-13-01';
    const short = records[6]!.slice(0, 3);
    const valueFirst = await encode(file(csv([header, ...records.slice(0, 2), badDob, short, badPostcode])));
    expect(valueFirst.code).toBe(1);
    expect(valueFirst.stderr).toBe("pavilion: RECORD_INVALID: line 4: feature 'dob': does not match format %Y-%m-%d\n");
    expect(valueFirst.stdout.trimEnd().split('\n')).toEqual(expectedA.slice(0, 2));
    const shortFirst = await encode(file(csv([header, ...records.slice(0, 3), short, badDob])));
    expect(shortFirst.stderr).toBe('pavilion: RECORD_FIELD_COUNT: line 5: 3 columns, the header has 5\n');
    expect(shortFirst.stdout.trimEnd().split('\n')).toEqual(expectedA.slice(0, 3));
    const laterFeatureFirst = await encode(file(csv([header, records[0]!, badPostcode, badDob])));
    expect(laterFeatureFirst.stderr).toBe(
      "pavilion: RECORD_INVALID: line 3: feature 'postcode': does not match pattern [0-9]{4}\n",
    );
    expectNoRecordValues(laterFeatureFirst);
  });
});

describe('pavilion encode: where the output goes', () => {
  it('a reader that goes away (| head) is a coded error, not a stack trace', async () => {
    const big = file(csv([header, ...Array.from({ length: 30_000 }, (_, i) => records[i % records.length]!)]));
    const child = spawnPavilion(['encode', '--schema', schema, '--secret-file', fixture('secret.txt'), '--in', big]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.once('data', () => child.stdout.destroy());
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toBe('pavilion: OUTPUT_UNWRITABLE: stdout: cannot write (EPIPE)\n');
  });
});

describe('pavilion encode --out: written whole or not at all', () => {
  /** people-a repeated: more than one 256 KiB piece, so CLKs are written before the last record is read. */
  const many = [header, ...Array.from({ length: 30_000 }, (_, i) => records[i % records.length]!)];
  const badDob = [...records[0]!];
  badDob[3] = '1950-13-01';
  const PREVIOUS = 'keepme\n';
  /** A folder of its own, holding an earlier output, so a temporary file left behind shows. */
  function previousOutput(): { folder: string; out: string } {
    const folder = mkdtempSync(join(tmp, 'out-'));
    const out = join(folder, 'clks.txt');
    writeFileSync(out, PREVIOUS);
    return { folder, out };
  }

  it('a failing run leaves an earlier --out file as it was and no temporary file', async () => {
    const { folder, out } = previousOutput();
    const missing = join(tmp, 'no-such-input.csv');
    const r = await encode(missing, '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`pavilion: FILE_NOT_FOUND: ${missing}: cannot read (ENOENT)\n`);
    expect(readFileSync(out, 'utf8')).toBe(PREVIOUS);
    expect(readdirSync(folder)).toEqual(['clks.txt']);

    // A bad value at the last record, after 30,000 CLKs were encoded (and, before, written to --out).
    const late = file(csv([...many, badDob]));
    for (const extra of [[], ['--format', 'json'], ['--threads', '2']]) {
      const bad = await encode(late, '--out', out, ...extra);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toBe(
        `pavilion: RECORD_INVALID: line ${many.length + 1}: feature 'dob': does not match format %Y-%m-%d\n`,
      );
      expect(readFileSync(out, 'utf8')).toBe(PREVIOUS);
      expect(readdirSync(folder)).toEqual(['clks.txt']);
    }
  });

  it('refuses an --out that is the input (also through a link), before reading or writing anything', async () => {
    const text = csv(peopleA);
    const input = file(text);
    const secret = readFileSync(fixture('secret.txt'), 'utf8');
    const link = join(tmp, `link-${files}.csv`);
    symlinkSync(input, link);
    for (const [out, option, named] of [
      [input, '--in', input],
      [link, '--in', input],
      [fixture('secret.txt'), '--secret-file', fixture('secret.txt')],
    ] as const) {
      const r = await encode(input, '--out', out);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `pavilion: OUTPUT_UNWRITABLE: ${out}: cannot write (the same file as ${option} ${named})\n`,
      );
    }
    expect(readFileSync(input, 'utf8')).toBe(text);
    expect(readFileSync(fixture('secret.txt'), 'utf8')).toBe(secret);
    // Through the link the other way round: the input named by a link, the output by its target.
    const back = await encode(link, '--out', input);
    expect(back.stderr).toBe(`pavilion: OUTPUT_UNWRITABLE: ${input}: cannot write (the same file as --in ${link})\n`);
    expect(readFileSync(input, 'utf8')).toBe(text);
  });

  it('refuses a folder or a missing folder at once, in one line, leaving nothing', async () => {
    const folder = mkdtempSync(join(tmp, 'out-folder-'));
    const missing = join(tmp, 'no-such-folder', 'clks.txt');
    for (const [out, reason] of [
      [folder, 'EISDIR'],
      [missing, 'ENOENT'],
    ] as const) {
      const r = await encode(fixture('people-a.csv'), '--out', out);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`pavilion: OUTPUT_UNWRITABLE: ${out}: cannot write (${reason})\n`);
    }
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a successful run writes what stdout gets, replacing an earlier file and keeping its mode', async () => {
    const input = file(csv(many));
    for (const format of ['lines', 'json']) {
      const printed = await encode(input, '--format', format);
      expect(printed.code).toBe(0);
      const { folder, out } = previousOutput();
      chmodSync(out, 0o640);
      const written = await encode(input, '--format', format, '--out', out);
      expect(written.code, written.stderr).toBe(0);
      expect(written.stdout).toBe('');
      expect(written.stderr).toBe(SECRET_NOTE);
      expect(readFileSync(out, 'utf8')).toBe(printed.stdout);
      expect(statSync(out).mode & 0o777).toBe(0o640);
      expect(readdirSync(folder)).toEqual(['clks.txt']);
      // A new file gets the mode any new file gets (0o666 less the umask), as before.
      const fresh = join(folder, 'new.txt');
      expect((await encode(input, '--format', format, '--out', fresh)).code).toBe(0);
      expect(readFileSync(fresh, 'utf8')).toBe(printed.stdout);
      writeFileSync(join(folder, 'plain'), '');
      expect(statSync(fresh).mode).toBe(statSync(join(folder, 'plain')).mode);
      expect(readdirSync(folder).sort()).toEqual(['clks.txt', 'new.txt', 'plain']);
    }
  });
});
