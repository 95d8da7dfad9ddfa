/**
 * Text an upload carries must be text: a ref, claim name or claim value holding a lone surrogate (JSON
 * `\udc00`), or a PVDS ref that is not UTF-8, is refused naming the line or record and the field, never
 * the value. Postgres would refuse such a claim in jsonb (a 500 whose error quotes the claims around it)
 * and would store such refs as U+FFFD (two distinct refs become one). And when a database error does
 * reach the 500 path, its log line carries no record value.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { BINARY_FORMAT_VERSION, BINARY_MAGIC, encodeBinaryDataset } from '../../../server/datasets/upload.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker, until } from '../helpers.js';

let t: TestBroker;
const SENTINEL = 'SENTINEL-Jane-Doe-DOB-1970-01-01';
const clk = (i: number) => randomClk(1024, 700_000 + i);

beforeAll(async () => {
  t = await startTestBroker();
  for (const id of ['text-jsonl', 'text-pvds', 'text-db']) {
    const res = await api(t.url, 'PUT', `/v1/datasets/${id}`, {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: { license_class: 'string' } },
    });
    expect(res.status, res.text).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

/** Lines written by hand: JSON.stringify would escape a lone surrogate the same way, but this is the trial's body. */
const line = (ref: string, i: number, claims?: string) =>
  `{"ref":"${ref}","clk":"${b64(clk(i))}"${claims ? `,"claims":${claims}` : ''}}\n`;

function upload(id: string, body: string | Uint8Array, contentType: string) {
  return api(t.url, 'POST', `/v1/datasets/${id}/versions?activate=false`, {
    token: t.tokens.dp,
    raw: body,
    contentType,
  });
}
const jsonl = (id: string, body: string | Uint8Array) => upload(id, body, 'application/x-ndjson');
const pvds = (id: string, body: Uint8Array) => upload(id, body, 'application/vnd.pavilion.dataset');

/** The broker's log so far, as one string, for sentinel scans. */
const logText = () => t.logs.join('\n');

describe('JSONL: strings that are not well-formed UTF-16', () => {
  it('a lone surrogate in a claim value is 422 naming line and claim; nothing of the upload is logged', async () => {
    const body = line('p1', 1, `{"license_class":"${SENTINEL}"}`) + line('p2', 2, '{"license_class":"x\\udc00"}');
    const res = await jsonl('text-jsonl', body);
    expectProblem(res, 422, 'UPLOAD_ROW_INVALID');
    expect(res.json.detail).toMatch(/^line 2: claim "license_class" /);
    expect(res.json.detail).not.toMatch(/udc00|\uDC00|\uFFFD/);
    expect(logText()).not.toContain(SENTINEL);
    expect(logText()).not.toContain('INTERNAL');
    const versions = await api(t.url, 'GET', '/v1/datasets/text-jsonl/versions', { token: t.tokens.dp });
    expect(versions.json.versions[0]).toMatchObject({ status: 'failed', error_code: 'UPLOAD_ROW_INVALID' });
  });

  it('lone surrogates in refs are refused, not stored as two equal U+FFFD refs', async () => {
    const res = await jsonl('text-jsonl', line('\\udcff', 1) + line('\\udcfe', 2));
    expectProblem(res, 422, 'UPLOAD_ROW_INVALID');
    expect(res.json.detail).toMatch(/^line 1: ref /);
    // One such ref alone is refused too (it would be stored altered).
    const one = await jsonl('text-jsonl', line('a\\ud800b', 1));
    expectProblem(one, 422, 'UPLOAD_ROW_INVALID');
    expect(one.json.detail).toMatch(/^line 1: ref /);
  });

  it('a lone surrogate in a claim name is refused without quoting it', async () => {
    const res = await jsonl('text-jsonl', line('p1', 1, '{"lic\\ud800":"B"}'));
    expectProblem(res, 422, 'UPLOAD_ROW_INVALID');
    expect(res.json.detail).toMatch(/^line 1: a claim name /);
    expect(res.json.detail).not.toContain('lic');
  });

  it('a NUL in a ref or a claim value is refused, by a dry run too (Postgres cannot store it)', async () => {
    for (const body of [line('p\\u0000', 1), line('p1', 1, '{"license_class":"A\\u0000B"}')]) {
      for (const query of ['?dry_run=true', '']) {
        const res = await api(t.url, 'POST', `/v1/datasets/text-jsonl/versions${query}`, {
          token: t.tokens.dp,
          raw: body,
          contentType: 'application/x-ndjson',
        });
        expectProblem(res, 422, 'UPLOAD_ROW_INVALID');
        expect(res.json.detail).toMatch(/NUL character/);
      }
    }
    expect(logText()).not.toContain('INTERNAL');
  });

  it('a paired surrogate (an astral character) is text and is kept', async () => {
    const res = await jsonl('text-jsonl', line('p-\\ud83d\\ude00', 1, '{"license_class":"\\ud83d\\ude00"}'));
    expect(res.status, res.text).toBe(201);
    const rows = await t.broker.datasetStore.readVersion('text-jsonl', res.json.version, 1024);
    expect(rows.refs).toEqual(['p-\u{1F600}']);
    expect(rows.claims).toEqual([{ license_class: '\u{1F600}' }]);
  });

  it('a line that is not UTF-8 is refused, not read with U+FFFD in place of its bytes', async () => {
    const body = Buffer.concat([
      Buffer.from(`{"ref":"p`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(line('', 1).slice(8)),
    ]);
    const res = await jsonl('text-jsonl', body);
    expectProblem(res, 400, 'UPLOAD_LINE_INVALID');
    expect(res.json.detail).toMatch(/^line 1: /);
  });
});

/** A PVDS body with raw ref bytes (encodeBinaryDataset only writes UTF-8 it encoded itself). */
function pvdsWithRefs(refs: Buffer[]): Buffer {
  const head = Buffer.alloc(16);
  head.write(BINARY_MAGIC, 0, 'latin1');
  head.writeUInt32LE(BINARY_FORMAT_VERSION, 4);
  head.writeUInt32LE(1024, 8);
  head.writeUInt32LE(refs.length, 12);
  const parts: Buffer[] = [head];
  refs.forEach((ref, i) => {
    const len = Buffer.alloc(2);
    len.writeUInt16LE(ref.length, 0);
    parts.push(len, ref, Buffer.from(clk(i)));
  });
  return Buffer.concat(parts);
}

describe('PVDS: refs that are not UTF-8', () => {
  it('two refs of invalid UTF-8 are UPLOAD_BINARY_INVALID naming the first record and its offset', async () => {
    const res = await pvds('text-pvds', pvdsWithRefs([Buffer.from([0xff, 0xfe]), Buffer.from([0xfe, 0xfd])]));
    expectProblem(res, 400, 'UPLOAD_BINARY_INVALID');
    expect(res.json.detail).toBe('record 0 at byte 16: ref is not UTF-8');
  });

  it('one such ref is refused, not stored altered', async () => {
    const res = await pvds('text-pvds', pvdsWithRefs([Buffer.from('ok'), Buffer.from([0x61, 0xc3])]));
    expectProblem(res, 400, 'UPLOAD_BINARY_INVALID');
    expect(res.json.detail).toBe(`record 1 at byte ${16 + 2 + 2 + 128}: ref is not UTF-8`);
  });

  it('a lone surrogate in the claims section is 422 naming the record and claim', async () => {
    const body = encodeBinaryDataset(
      1024,
      [
        { ref: 'p1', clk: clk(1) },
        { ref: 'p2', clk: clk(2) },
      ],
      [{ license_class: SENTINEL }, { license_class: 'x\udc00' }],
    );
    // JSON.stringify writes the lone surrogate as the escape \udc00, as a hand-written file would.
    expect(body.toString('latin1')).toContain('\\udc00');
    const res = await pvds('text-pvds', body);
    expectProblem(res, 422, 'UPLOAD_ROW_INVALID');
    expect(res.json.detail).toMatch(/^record 1: claim "license_class" /);
    expect(logText()).not.toContain(SENTINEL);
  });

  it('claims that are not UTF-8 are UPLOAD_BINARY_INVALID naming the offset of the section', async () => {
    const rows = pvdsWithRefs([Buffer.from('p1')]);
    const json = Buffer.concat([Buffer.from('[{"license_class":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length, 0);
    const res = await pvds('text-pvds', Buffer.concat([rows, len, json]));
    expectProblem(res, 400, 'UPLOAD_BINARY_INVALID');
    expect(res.json.detail).toBe(`claims section at byte ${rows.length + 4} is not UTF-8`);
  });
});

describe('PVDS: format errors name their byte offset', () => {
  const good = encodeBinaryDataset(1024, [{ ref: 'p1', clk: clk(1) }]); // 16 + 2 + 2 + 128 bytes
  const withClaims = (json: string) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(Buffer.byteLength(json), 0);
    return Buffer.concat([good, len, Buffer.from(json)]);
  };
  const version2 = Buffer.from(good);
  version2.writeUInt32LE(2, 4);
  const cases: [string, Buffer, string][] = [
    ['magic', Buffer.concat([Buffer.from('NOPE'), good.subarray(4)]), 'missing PVDS magic at byte 0'],
    ['version', version2, 'format version 2 at byte 4 is not supported'],
    ['claims not JSON', withClaims('[nul'), 'claims section at byte 152 is not JSON'],
    ['claims count', withClaims('[null,null]'), 'claims section at byte 152 must be an array of 1 entries'],
    [
      'trailing bytes',
      Buffer.concat([withClaims('[null]'), Buffer.from('x')]),
      'unexpected bytes at byte 158, after the end of the dataset',
    ],
  ];
  it.each(cases)('%s', async (_, body, detail) => {
    const res = await pvds('text-pvds', body);
    expectProblem(res, 400, 'UPLOAD_BINARY_INVALID');
    expect(res.json.detail).toBe(detail);
  });
});

describe('a database error on the 500 path', () => {
  // A check every chunk of a sentinel breaks: Postgres answers 23514, `detail: Failing row contains (…claims…)`.
  beforeAll(async () => {
    await t.broker.db.sql.unsafe(
      "alter table dataset_chunks add constraint test_no_sentinel check (claims::text not like '%SENTINEL%')",
    );
  });
  afterAll(async () => {
    await t.broker.db.sql.unsafe('alter table dataset_chunks drop constraint if exists test_no_sentinel');
  });

  /** The error logged with `msg` since log line `from`. */
  function loggedError(from: number, msg: string): Record<string, unknown> {
    const lines = t.logs.slice(from).filter((l) => JSON.parse(l).msg === msg);
    expect(lines).toHaveLength(1);
    return JSON.parse(lines[0]!).err;
  }
  const QUOTING = ['detail', 'where', 'query', 'parameters', 'args', 'hint', 'internal_query', 'position'];

  it('an upload is logged with its SQLSTATE and routine, never the row it quotes', async () => {
    const from = t.logs.length;
    const res = await jsonl('text-db', line('p1', 1, `{"license_class":"${SENTINEL}"}`));
    expectProblem(res, 500, 'INTERNAL');
    const err = loggedError(from, 'request failed unexpectedly');
    expect(err).toMatchObject({ code: '23514', routine: expect.any(String), constraint_name: 'test_no_sentinel' });
    for (const field of QUOTING) expect(err).not.toHaveProperty(field);
    expect(logText()).not.toContain(SENTINEL);
    expect(logText()).not.toContain('Failing row');
  });

  it('so is a pull (logged by the pull, not by a request)', async () => {
    const dir = join(t.stateDir, 'objects', 'datasets', 'text-db', 'drop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'people.ndjson'), line('p1', 1, `{"license_class":"${SENTINEL}"}`));
    const from = t.logs.length;
    const started = await api(t.url, 'POST', '/v1/datasets/text-db/pulls', {
      token: t.tokens.dp,
      body: { object: 'drop/people.ndjson' },
    });
    expect(started.status, started.text).toBe(202);
    const done = await until('the pull ends', async () => {
      const r = await api(t.url, 'GET', started.headers.get('location')!, { token: t.tokens.dp });
      return r.json.status === 'running' ? undefined : r;
    });
    expect(done.json).toMatchObject({ status: 'failed', error: { code: 'PULL_FAILED' } });
    expect(done.text).not.toContain(SENTINEL);
    const err = loggedError(from, 'dataset pull failed unexpectedly');
    expect(err).toMatchObject({ code: '23514', routine: expect.any(String) });
    for (const field of QUOTING) expect(err).not.toHaveProperty(field);
    expect(logText()).not.toContain(SENTINEL);
  });
});
