/**
 * The `pavilion` CLI end to end, as a user runs it (a child process), against
 * known answers made by clkhash 0.18.3 and anonlink 0.15.3
 * (test/fixtures/cli/generate.py).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { pavilion } from './pavilion.js';

/**
 * What encode prints on stderr when it succeeds: the fingerprint of test/fixtures/cli/secret.txt
 * (Python's hashlib agrees).
 */
const SECRET_NOTE = 'linkage secret fingerprint 80fb634467a7743b\n';

const fixture = (name: string) => fromRoot('test', 'fixtures', 'cli', name);
const tmp = mkdtempSync(join(tmpdir(), 'pavilion-cli-'));
const schema = fromRoot('demo', 'schema.json');
/** `pavilion encode` with the demo schema and the fixtures' secret, then `args`. */
const encodeWith = (...args: string[]) =>
  pavilion(['encode', '--schema', schema, '--secret-file', fixture('secret.txt'), ...args]);

const expectedA = (JSON.parse(readFileSync(fixture('clks-a.json'), 'utf8')) as { clks: string[] }).clks;
const expectedB = (JSON.parse(readFileSync(fixture('clks-b.json'), 'utf8')) as { clks: string[] }).clks;

describe('pavilion encode', () => {
  it('writes one clkhash-identical CLK per row, in input order', async () => {
    const out = join(tmp, 'a.txt');
    const r = await encodeWith('--in', fixture('people-a.csv'), '--out', out);
    expect(r.stderr).toBe(SECRET_NOTE);
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8').trimEnd().split('\n')).toEqual(expectedA);
  });

  it('gives clkhash JSON with --format json, reading stdin', async () => {
    const r = await pavilion(
      ['encode', '--schema', schema, '--secret-file', fixture('secret.txt'), '--format', 'json'],
      { input: readFileSync(fixture('people-b.csv'), 'utf8') },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ clks: expectedB });
  });

  it('keeps order across many pieces and workers', async () => {
    // 30,000 rows ≈ 1.2 MB ≈ 5 pieces of 256 KiB on 2 workers: later pieces must not overtake earlier ones.
    const rows = readFileSync(fixture('people-a.csv'), 'utf8').trimEnd().split('\n');
    const body = rows.slice(1);
    const big = `${[rows[0], ...Array.from({ length: 30_000 }, (_, i) => body[i % body.length])].join('\n')}\n`;
    const input = join(tmp, 'big.csv');
    writeFileSync(input, big);
    const r = await encodeWith('--in', input, '--threads', '2');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(30_000);
    lines.forEach((clk, i) => {
      expect(clk).toBe(expectedA[i % expectedA.length]);
    });
  });

  it('refuses a row with the wrong column count, naming the line', async () => {
    const input = join(tmp, 'short.csv');
    writeFileSync(input, 'rec_id,given_name,surname,dob,postcode\nr1,ann,lee,1980-01-02,1234\nr2,bob,lee\n');
    const r = await pavilion(['encode', '--schema', schema, '--secret-file', fixture('secret.txt'), '--in', input]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pavilion: RECORD_FIELD_COUNT: line 3/);
  });

  it('refuses an invalid value without printing it, naming its CSV line', async () => {
    const input = join(tmp, 'bad-date.csv');
    // The bad row sits in the last of about 4 pieces, on line 30,003: a quoted field with a
    // line break (line 3-4) must be counted by whichever worker reads that piece.
    const good = Array.from({ length: 30_000 }, (_, i) => `r${i},ann,lee,1980-01-02,1234`);
    good[1] = 'r1,"ann\nmarie",lee,1980-01-02,1234';
    writeFileSync(
      input,
      `${['rec_id,given_name,surname,dob,postcode', ...good, 'r30000,ann,lee,31/12/1980,1234'].join('\n')}\n`,
    );
    for (const threads of ['1', '2']) {
      const r = await encodeWith('--in', input, '--threads', threads);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("pavilion: RECORD_INVALID: line 30003: feature 'dob': does not match format %Y-%m-%d\n");
    }
  });

  it('a missing input, malformed CSV or unwritable output is a coded error, not a crash', async () => {
    const args = ['encode', '--schema', schema, '--secret-file', fixture('secret.txt')];
    const missing = await pavilion([...args, '--in', join(tmp, 'no-such.csv')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pavilion: FILE_NOT_FOUND: /);

    const quoted = join(tmp, 'open-quote.csv');
    writeFileSync(quoted, 'rec_id,given_name,surname,dob,postcode\n"r1,ann,lee,1980-01-02,1234\n');
    const csv = await pavilion([...args, '--in', quoted]);
    expect(csv.code).toBe(1);
    expect(csv.stderr).toBe('pavilion: CSV_INVALID: line 2: a quoted field is not closed\n');
    expect(csv.stderr).not.toContain('1980-01-02');

    const unwritable = await pavilion([
      ...args,
      '--in',
      fixture('people-a.csv'),
      '--out',
      join(tmp, 'no-such-dir', 'out.txt'),
    ]);
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toMatch(/^pavilion: OUTPUT_UNWRITABLE: /);
  });

  it('refuses an empty secret and never prints a secret', async () => {
    const empty = join(tmp, 'empty-secret');
    writeFileSync(empty, '\n');
    const r1 = await pavilion(['encode', '--schema', schema, '--secret-file', empty, '--in', fixture('people-a.csv')]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/SECRET_EMPTY/);

    const badSchema = join(tmp, 'schema.json');
    writeFileSync(badSchema, JSON.stringify({ version: 3, clkConfig: { l: 1000 }, features: [] }));
    const r2 = await pavilion([
      'encode',
      '--schema',
      badSchema,
      '--secret-file',
      fixture('secret.txt'),
      '--in',
      fixture('people-a.csv'),
    ]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/SCHEMA_(INVALID|UNSUPPORTED)/);
    expect(r2.stderr + r1.stderr).not.toContain('pavilion-cli-test-secret');
  });
});

describe('pavilion link', () => {
  const a = join(tmp, 'link-a.txt');
  const b = join(tmp, 'link-b.txt');
  writeFileSync(a, `${expectedA.join('\n')}\n`);
  writeFileSync(b, `${expectedB.join('\n')}\n`);

  it("prints exactly anonlink's candidate pairs, in anonlink's order", async () => {
    const r = await pavilion(['link', '--dataset', a, '--queries', b, '--threshold', '0.8']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(fixture('links.csv'), 'utf8'));
  });

  it('keeps the best k per query with --top-k', async () => {
    const r = await pavilion(['link', '--dataset', a, '--queries', b, '--threshold', '0.8', '--top-k', '1']);
    expect(r.code).toBe(0);
    const all = readFileSync(fixture('links.csv'), 'utf8')
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    const best = new Map<string, string[]>();
    for (const p of all) if (!best.has(p[0]!)) best.set(p[0]!, p); // anonlink order: best first per query
    const got = r.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(got.length).toBe(best.size);
    for (const p of got) expect(best.get(p[0]!)).toEqual(p);
  });

  it('reads the clkhash JSON of encode --format json as it reads one CLK per line', async () => {
    const json = join(tmp, 'link-b.json');
    const encoded = await encodeWith('--in', fixture('people-b.csv'), '--format', 'json', '--out', json);
    expect(encoded.code, encoded.stderr).toBe(0);
    const r = await pavilion(['link', '--dataset', a, '--queries', json, '--threshold', '0.8']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(readFileSync(fixture('links.csv'), 'utf8'));
    // clkhash's own JSON (another layout) too.
    const clkhash = await pavilion(['link', '--dataset', fixture('clks-a.json'), '--queries', b, '--threshold', '0.8']);
    expect(clkhash.stdout).toBe(readFileSync(fixture('links.csv'), 'utf8'));

    // Other JSON (publish --out's JSONL, a bad CLK in the list) is refused, naming both forms it reads.
    const jsonl = join(tmp, 'upload.jsonl');
    writeFileSync(jsonl, `${[0, 1].map((i) => JSON.stringify({ ref: `r${i}`, clk: expectedB[i] })).join('\n')}\n`);
    const other = await pavilion(['link', '--dataset', a, '--queries', jsonl, '--threshold', '0.8']);
    expect(other.code).toBe(1);
    expect(other.stderr).toBe(
      `pavilion: CLK_BASE64_INVALID: ${jsonl}: not valid JSON; neither one standard-base64 CLK per line nor ` +
        'clkhash JSON {"clks": ["<base64>", …]}, the two forms pavilion encode writes\n',
    );
    const badClk = join(tmp, 'bad-clk.json');
    writeFileSync(badClk, JSON.stringify({ clks: [expectedB[0], 'not base64!'] }));
    const bad = await pavilion(['link', '--dataset', a, '--queries', badClk, '--threshold', '0.8']);
    expect(bad.stderr).toBe(`pavilion: CLK_BASE64_INVALID: ${badClk}:clks[1]: not canonical standard base64\n`);
    // A padding bit set: the same bytes as the canonical text, refused as the broker refuses it.
    const last = expectedB[0]!.replace(/=+$/, '').slice(-1);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const padded = expectedB[0]!.replace(/.(=+)$/, `${alphabet[alphabet.indexOf(last) + 1]}$1`);
    expect(Buffer.from(padded, 'base64')).toEqual(Buffer.from(expectedB[0]!, 'base64'));
    const loose = join(tmp, 'loose.txt');
    writeFileSync(loose, `${padded}\n`);
    const refused = await pavilion(['link', '--dataset', a, '--queries', loose, '--threshold', '0.8']);
    expect(refused.stderr).toBe(`pavilion: CLK_BASE64_INVALID: ${loose}:1: not canonical standard base64\n`);
  });

  it('refuses bad input with a code', async () => {
    const bad = join(tmp, 'bad.txt');
    writeFileSync(bad, `${expectedA[0]}\nnot base64!\n`);
    const r1 = await pavilion(['link', '--dataset', bad, '--queries', b, '--threshold', '0.8']);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/CLK_BASE64_INVALID: .*:2:/);

    const short = join(tmp, 'short.txt');
    writeFileSync(short, `${Buffer.alloc(64).toString('base64')}\n`);
    const r2 = await pavilion(['link', '--dataset', a, '--queries', short, '--threshold', '0.8']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/CLK_LENGTH_MISMATCH/);

    const r4 = await pavilion(['link', '--dataset', tmp, '--queries', b, '--threshold', '0.8']);
    expect(r4.code).toBe(1);
    expect(r4.stderr).toMatch(/^pavilion: FILE_NOT_FOUND: .*EISDIR/);

    const r3 = await pavilion(['link', '--dataset', a, '--queries', b, '--threshold', '1.5']);
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toMatch(/threshold/);
  });
});
