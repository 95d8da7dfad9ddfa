/**
 * The upload parsers (server/datasets/upload.ts): incremental parsing equals whole-body parsing at any
 * chunk boundary, for JSONL and the binary format, and their errors carry stable codes.
 */
import { describe, expect, it } from 'vitest';
import type { PavilionError } from '../../../common/errors.js';
import { seededRandom } from '../../../demo/people.js';
import { BinaryParser, encodeBinaryDataset, JsonlParser, RowCollector } from '../../../server/datasets/upload.js';
import { b64, randomClk } from '../helpers.js';

function feed(parser: JsonlParser | BinaryParser, body: Buffer, rnd: () => number): void {
  for (let at = 0; at < body.length; ) {
    const n = 1 + Math.floor(rnd() * 300);
    parser.push(body.subarray(at, at + n));
    at += n;
  }
  parser.end();
}

const CLAIMS = new Set(['a', 'b']);
const rows = Array.from({ length: 257 }, (_, i) => ({
  ref: `r-${i}-é`,
  clk: randomClk(256, i + 1),
  claims: i % 3 ? { a: i % 2 === 0, b: i } : null,
}));

describe('upload parsers', () => {
  it('JSONL: any chunking gives the same rows as the whole body', () => {
    const body = Buffer.from(
      `${rows
        .map((r) => JSON.stringify({ ref: r.ref, clk: b64(r.clk), ...(r.claims ? { claims: r.claims } : {}) }))
        .join('\r\n')}\n\n`,
    );
    for (let seed = 1; seed <= 5; seed++) {
      const c = new RowCollector(256, CLAIMS, 100);
      feed(new JsonlParser(c), body, seededRandom(seed));
      expect(c.refs).toEqual(rows.map((r) => r.ref));
      expect(c.claims).toEqual(rows.map((r) => r.claims));
      expect(Buffer.from(c.allClksConcatenated())).toEqual(Buffer.concat(rows.map((r) => r.clk)));
    }
  });

  it('binary: any chunking gives the same rows, claims included', () => {
    const body = encodeBinaryDataset(
      256,
      rows,
      rows.map((r) => r.claims),
    );
    for (let seed = 1; seed <= 5; seed++) {
      const c = new RowCollector(256, CLAIMS, 100);
      feed(new BinaryParser(c), body, seededRandom(seed));
      expect(c.refs).toEqual(rows.map((r) => r.ref));
      expect(c.claims).toEqual(rows.map((r) => r.claims));
      expect(Buffer.from(c.allClksConcatenated())).toEqual(Buffer.concat(rows.map((r) => r.clk)));
    }
  });

  it('chunks for the database cover every row exactly once, in order', () => {
    const c = new RowCollector(256, CLAIMS, 100);
    const p = new JsonlParser(c);
    const refs: string[] = [];
    for (const r of rows) {
      p.push(Buffer.from(`${JSON.stringify({ ref: r.ref, clk: b64(r.clk) })}\n`));
      for (let ch = c.takeChunk(); ch; ch = c.takeChunk()) {
        expect(ch.refs.length).toBe(100);
        refs.push(...ch.refs);
      }
    }
    p.end();
    const last = c.takeChunk(true)!;
    expect(last.clks.length).toBe(last.refs.length * 32);
    refs.push(...last.refs);
    expect(refs).toEqual(rows.map((r) => r.ref));
  });

  const code = (fn: () => void): string => {
    try {
      fn();
    } catch (err) {
      return (err as PavilionError).code;
    }
    return 'none';
  };
  const jsonl = (text: string) => () => {
    const p = new JsonlParser(new RowCollector(256, CLAIMS, 100));
    p.push(Buffer.from(text));
    p.end();
  };
  const clk = b64(randomClk(256, 1));

  it('JSONL errors carry stable codes', () => {
    expect(code(jsonl(`{"ref":"a","clk":"${clk}"}\n{"ref":"a","clk":"${clk}"}`))).toBe('UPLOAD_DUPLICATE_REF');
    expect(code(jsonl(`{"ref":"a","clk":"${clk}","claims":{"zzz":1}}`))).toBe('UPLOAD_CLAIM_UNKNOWN');
    expect(code(jsonl(`{"ref":"a","clk":"${clk}","claims":{"a":[1]}}`))).toBe('UPLOAD_ROW_INVALID');
    expect(code(jsonl(`{"ref":"","clk":"${clk}"}`))).toBe('UPLOAD_ROW_INVALID');
    expect(code(jsonl(`{"ref":"a","clk":"***"}`))).toBe('CLK_BASE64_INVALID');
    // A 256-bit CLK ends in one `=`: the character before it has 2 unused bits, which must be zero.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const padBit = `${clk.slice(0, -2)}${alphabet[alphabet.indexOf(clk.at(-2)!) | 1]}=`;
    expect(Buffer.from(padBit, 'base64')).toEqual(Buffer.from(clk, 'base64'));
    expect(code(jsonl(`{"ref":"a","clk":"${padBit}"}`))).toBe('CLK_BASE64_INVALID');
    expect(code(jsonl(`{"ref":"a","clk":"${b64(randomClk(128, 1))}"}`))).toBe('CLK_LENGTH_MISMATCH');
    expect(code(jsonl(`[1,2]`))).toBe('UPLOAD_LINE_INVALID');
    expect(code(jsonl('x'.repeat(70_000)))).toBe('UPLOAD_LINE_TOO_LONG');
  });

  it('binary errors carry stable codes', () => {
    const bin = (body: Buffer) => () => {
      const p = new BinaryParser(new RowCollector(256, CLAIMS, 100));
      p.push(body);
      p.end();
    };
    const good = encodeBinaryDataset(256, rows.slice(0, 3));
    expect(code(bin(Buffer.from(`NOPE${good.subarray(4).toString('latin1')}`, 'latin1')))).toBe(
      'UPLOAD_BINARY_INVALID',
    );
    expect(code(bin(encodeBinaryDataset(512, [{ ref: 'a', clk: randomClk(512, 1) }])))).toBe('CLK_LENGTH_MISMATCH');
    expect(code(bin(good.subarray(0, good.length - 1)))).toBe('UPLOAD_TRUNCATED');
    expect(code(bin(Buffer.concat([good, Buffer.from([5, 0, 0, 0, 0x5b])])))).toBe('UPLOAD_TRUNCATED');
    expect(
      code(bin(Buffer.concat([encodeBinaryDataset(256, rows.slice(0, 3), [null, null, null]), Buffer.from('x')]))),
    ).toBe('UPLOAD_BINARY_INVALID');
    expect(code(bin(encodeBinaryDataset(256, rows.slice(0, 3), [null, null] as never)))).toBe('UPLOAD_BINARY_INVALID');
  });

  it('binary: the byte offset in a message does not depend on the chunking', () => {
    const good = encodeBinaryDataset(256, rows.slice(0, 3));
    // Record 2's ref (`r-2-é`, 6 bytes) with its é cut to a lone lead byte.
    const record2 = 16 + 2 * (2 + 6 + 32);
    const body = Buffer.from(good);
    body[record2 + 2 + 5] = 0xc3;
    body[record2 + 2 + 4] = 0xc3;
    for (let seed = 1; seed <= 5; seed++) {
      let message = '';
      try {
        feed(new BinaryParser(new RowCollector(256, CLAIMS, 100)), body, seededRandom(seed));
      } catch (err) {
        message = (err as PavilionError).message;
      }
      expect(message).toBe(`record 2 at byte ${record2}: ref is not UTF-8`);
    }
  });
});
