/**
 * Batched CLK encoding in the engine's workers (engine/clk's ClkEncoder),
 * checked against the clkhash compatibility vectors in test/fixtures/clkhash.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { febrlRecords } from '../../bench/febrl-records.js';
import { fromRoot } from '../../common/paths.js';
import { seededRandom } from '../../common/seeded-random.js';
import { ClkEncoder } from '../../engine/clk/index.js';
import { type CsvChunkResult, type CsvChunkSpec, encodeCsvChunk } from '../../engine/csv-encode.js';
import { createEngine, type Engine } from '../../engine/index.js';

interface Vector {
  id: string;
  secret: string;
  schema: unknown;
  cases: { record: string[]; expected_clk_b64: string }[];
}
const vectors = (
  JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'clkhash', 'clkhash-vectors.json'), 'utf8')) as {
    vectors: Vector[];
  }
).vectors;

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ threads: 2 });
});
afterAll(async () => {
  await engine?.close();
});

it.each(vectors.map((v) => [v.id, v] as const))('encodes %s bit-identically to clkhash', async (_id, v) => {
  const out = await engine.encode(
    v.schema,
    v.secret,
    v.cases.map((c) => c.record),
  );
  const bytes = out.length / v.cases.length;
  v.cases.forEach((c, i) => {
    expect(Buffer.from(out.subarray(i * bytes, (i + 1) * bytes)).toString('base64'), `case ${i}`).toBe(
      c.expected_clk_b64,
    );
  });
});

it('keeps input order across many batched tasks on both workers', async () => {
  const v = vectors[0]!;
  const rows = Array.from({ length: 2500 }, (_, i) => v.cases[i % v.cases.length]!.record);
  const out = await engine.encode(v.schema, v.secret, rows);
  const bytes = out.length / rows.length;
  expect(bytes * rows.length).toBe(out.length);
  for (let i = 0; i < rows.length; i++) {
    expect(Buffer.from(out.subarray(i * bytes, (i + 1) * bytes)).toString('base64')).toBe(
      v.cases[i % v.cases.length]!.expected_clk_b64,
    );
  }
  // a secret given as bytes gives the same CLKs
  const again = await engine.encode(v.schema, new TextEncoder().encode(v.secret), rows.slice(0, 2));
  expect(again).toEqual(out.subarray(0, 2 * bytes));
});

it('a bad schema is a typed error that does not reveal the secret, and the pool survives', async () => {
  const secret = 'do-not-leak-this-secret';
  const err = await engine.encode({ version: 3, nonsense: true }, secret, [['a']]).catch((e: unknown) => e);
  expect(err).toMatchObject({ name: 'PavilionError' });
  expect(String((err as Error).message)).not.toContain(secret);
  expect(JSON.stringify(err)).not.toContain(secret);
  const v = vectors[0]!;
  expect((await engine.encode(v.schema, v.secret, [v.cases[0]!.record])).length).toBeGreaterThan(0);
  expect(await engine.encode(v.schema, v.secret, [])).toEqual(new Uint8Array(0));
});

it('more projects than a worker caches encoders for: evicted encoders are rebuilt, CLKs unchanged', async () => {
  const v = vectors[0]!;
  const rows = v.cases.map((c) => c.record);
  const first = await engine.encode(v.schema, v.secret, rows);
  // 12 other secrets push the first project's encoder out of each worker's cache of 8
  for (let i = 0; i < 12; i++) await engine.encode(v.schema, `${v.secret}-${i}`, rows);
  expect(await engine.encode(v.schema, v.secret, rows)).toEqual(first);
});

it("a bad value past the first task names its row in the caller's list, not within its task", async () => {
  const v = vectors[0]!;
  const rows = Array.from({ length: 1500 }, (_, i) => v.cases[i % v.cases.length]!.record);
  const bad = [...rows[1200]!];
  bad.pop(); // one field short
  rows[1200] = bad;
  await expect(engine.encode(v.schema, v.secret, rows)).rejects.toMatchObject({
    code: 'RECORD_FIELD_COUNT',
    message: expect.stringMatching(/^row 1200: /),
  });
});

describe('encodeCsv: a piece of a CSV file in a worker', () => {
  const v = vectors[2]!; // the febrl schema: 11 columns, rec_id and soc_sec_id ignored
  const febrl = (v.schema as { features: { identifier: string }[] }).features;
  const spec = (format: 'lines' | 'json' = 'lines'): CsvChunkSpec => ({
    columns: febrl.map((_, i) => i),
    width: febrl.length,
    header: false,
    delimiter: 0x2c,
    format,
  });
  const quote = (f: string) => (/[",\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f);
  const text = `${v.cases.map((c) => c.record.map(quote).join(',')).join('\r\n')}\r\n`;

  it('gives base64 lines identical to clkhash, and to the same piece encoded in process', async () => {
    const bytes = new TextEncoder().encode(text);
    const inProcess = encodeCsvChunk(ClkEncoder.create(v.schema, v.secret), bytes, spec());
    const result = await engine.encodeCsv(v.schema, v.secret, bytes, spec());
    expect(bytes.byteLength).toBe(0); // transferred to the worker, not copied
    expect(result.failure).toBeUndefined();
    expect(result.records).toBe(v.cases.length);
    expect(result.lines).toBe(v.cases.length);
    expect(Buffer.from(result.output).toString()).toBe(v.cases.map((c) => `${c.expected_clk_b64}\n`).join(''));
    expect(Buffer.from(result.output).equals(Buffer.from(inProcess.output))).toBe(true);
    // A view into a larger buffer is copied: the rest of that buffer stays usable.
    const larger = Buffer.from(`header\n${text}`);
    const view = larger.subarray(7);
    const json = await engine.encodeCsv(v.schema, v.secret, view, spec('json'));
    expect(larger.byteLength).toBeGreaterThan(0);
    expect(larger.subarray(0, 6).toString()).toBe('header');
    expect(Buffer.from(json.output).toString()).toBe(v.cases.map((c) => `,\n"${c.expected_clk_b64}"`).join(''));
  });

  it('maps columns: a feature read from another column, an absent ignored one', async () => {
    // Columns reversed and soc_sec_id (the last feature, ignored) left out.
    const order = febrl
      .map((_, i) => i)
      .reverse()
      .slice(1);
    const reversed = v.cases.map((c) => order.map((i) => quote(c.record[i]!)).join(',')).join('\n');
    const columns = febrl.map((_, i) => (i === febrl.length - 1 ? -1 : order.indexOf(i)));
    const result = await engine.encodeCsv(v.schema, v.secret, new TextEncoder().encode(reversed), {
      ...spec(),
      columns,
      width: order.length,
    });
    expect(Buffer.from(result.output).toString()).toBe(v.cases.map((c) => `${c.expected_clk_b64}\n`).join(''));
  });

  it('reads a piece without quotes from its bytes exactly as the string reader reads it', () => {
    // A piece without a quote is encoded from its bytes (csv.ts scanUnquoted); the same piece with one field
    // written quoted (the same value) takes the string reader. Line breaks of every kind, blank lines,
    // non-ASCII values, values the schema refuses, a wrong width, fields over Python's limit (in characters,
    // not bytes) must all come out the same: output, records, failure and lines.
    const r = seededRandom(14);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    // FEBRL-like records (bench/febrl-records.ts, the benchmark's): no quotes, commas or line breaks in them.
    const plain = febrlRecords(200, 14);
    const oddities: ((rec: string[]) => string[])[] = [
      (rec) => rec.map((f, i) => (i === 1 ? `${f}é李😀` : f)),
      (rec) => rec.map((f, i) => (i === 7 ? 'x7' : f)), // postcode: not an integer
      (rec) => rec.map((f, i) => (i === 2 ? '' : f)),
      (rec) => rec.slice(1), // a column short
      (rec) => [...rec, ''], // a column over
      (rec) => rec.map((f, i) => (i === 4 ? 'a'.repeat(131_073) : f)), // over the limit
      (rec) => rec.map((f, i) => (i === 4 ? '李'.repeat(50_000) : f)), // 150,000 bytes, 50,000 characters: within
    ];
    const encoder = ClkEncoder.create(v.schema, v.secret);
    const outcome = (res: CsvChunkResult) => ({
      output: Buffer.from(res.output).toString(),
      records: res.records,
      failure: res.failure,
      lines: res.failure ? undefined : res.lines,
    });
    let failures = 0;
    for (let trial = 0; trial < 150; trial++) {
      const records: string[][] = [];
      for (let i = 0, n = 1 + Math.floor(r() * 12); i < n; i++) {
        const rec = [...pick(plain)];
        records.push(r() < 0.08 ? pick(oddities)(rec) : rec);
      }
      const breaks = ['\n', '\r\n', '\r'];
      const lines = records.map((rec) => rec.join(',') + pick(breaks) + (r() < 0.1 ? pick(breaks) : ''));
      if (r() < 0.3) lines[lines.length - 1] = lines.at(-1)!.replace(/[\r\n]+$/, '');
      const unquoted = lines.join('');
      const quoted = `"${unquoted.slice(0, unquoted.indexOf(','))}"${unquoted.slice(unquoted.indexOf(','))}`;
      const fast = encodeCsvChunk(encoder, Buffer.from(unquoted), spec());
      const strings = encodeCsvChunk(encoder, Buffer.from(quoted), spec());
      expect(outcome(fast), `trial ${trial}`).toEqual(outcome(strings));
      if (fast.failure) failures++;
    }
    // The trials did reach the failures, not only the happy path.
    expect(failures).toBeGreaterThan(10);
  });

  it('reports the first bad record by its line in the piece, with the output before it', async () => {
    const bad = `${text}\n"open quote,x\n`;
    const result = await engine.encodeCsv(v.schema, v.secret, new TextEncoder().encode(bad), spec());
    expect(result.records).toBe(v.cases.length);
    expect(result.failure).toEqual({
      code: 'CSV_INVALID',
      message: 'a quoted field is not closed',
      line: v.cases.length + 2,
    });
    const short = await engine.encodeCsv(v.schema, v.secret, new TextEncoder().encode('a,b\n'), spec());
    expect(short.failure).toMatchObject({
      code: 'RECORD_FIELD_COUNT',
      line: 1,
      message: '2 columns, the schema has 11 features',
    });
  });
});
