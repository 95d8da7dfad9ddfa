/**
 * PVDS (server/datasets/upload.ts): what follows the records the header
 * declares is a claims section (u32 length, JSON array) or nothing. More
 * records than the header's count were read as a claims length and reported
 * as UPLOAD_TRUNCATED "ends early (2 of 2 records)"; they are
 * UPLOAD_BINARY_INVALID at the byte offset where they begin, at any chunking.
 * A claims section cut short is still UPLOAD_TRUNCATED, saying so.
 */
import { describe, expect, it } from 'vitest';
import type { PavilionError } from '../../../common/errors.js';
import { seededRandom } from '../../../demo/people.js';
import { BinaryParser, encodeBinaryDataset, RowCollector } from '../../../server/datasets/upload.js';
import { randomClk } from '../helpers.js';

const rows = Array.from({ length: 3 }, (_, i) => ({ ref: `p${i}`, clk: randomClk(256, 500 + i) }));
/** Bytes of one record: u16 ref length, ref ("pN"), 32-byte CLK. */
const RECORD = 2 + 2 + 32;

/** The error parsing `body` in chunks of random sizes (`seed`), or in one piece (seed 0). */
function parse(body: Buffer, seed = 0): { code: string; message: string } | undefined {
  const parser = new BinaryParser(new RowCollector(256, new Set(), 100));
  const rnd = seed === 0 ? () => 1 : seededRandom(seed);
  try {
    for (let at = 0; at < body.length; ) {
      const n = seed === 0 ? body.length : 1 + Math.floor(rnd() * 40);
      parser.push(body.subarray(at, at + n));
      at += n;
    }
    parser.end();
  } catch (err) {
    const e = err as PavilionError;
    return { code: e.code, message: e.message };
  }
  return undefined;
}

/** A PVDS body whose header declares `count` records, whatever follows. */
function declaring(count: number, body: Buffer): Buffer {
  const out = Buffer.from(body);
  out.writeUInt32LE(count, 12);
  return out;
}

const afterRecords = (at: number, count: number) =>
  `unexpected bytes at byte ${at}, after the ${count} record(s) the header declares: not a claims section ` +
  '(a u32 length, then a JSON array)';

describe('PVDS: bytes after the declared records', () => {
  it.each([0, 1, 2, 3, 4, 5])(
    'more records than the header counts: UPLOAD_BINARY_INVALID at their offset (chunking %i)',
    (seed) => {
      const three = encodeBinaryDataset(256, rows);
      expect(parse(declaring(2, three), seed)).toEqual({
        code: 'UPLOAD_BINARY_INVALID',
        message: afterRecords(16 + 2 * RECORD, 2),
      });
      expect(parse(declaring(1, three), seed)).toEqual({
        code: 'UPLOAD_BINARY_INVALID',
        message: afterRecords(16 + RECORD, 1),
      });
      // With a claims section too: still the record after the declared ones that is named.
      const withClaims = encodeBinaryDataset(256, rows, [null, null, null]);
      expect(parse(declaring(2, withClaims), seed)).toEqual({
        code: 'UPLOAD_BINARY_INVALID',
        message: afterRecords(16 + 2 * RECORD, 2),
      });
      // A header that declares none.
      expect(parse(declaring(0, three), seed)).toEqual({ code: 'UPLOAD_BINARY_INVALID', message: afterRecords(16, 0) });
    },
  );

  it('1 to 3 stray bytes after the records: UPLOAD_BINARY_INVALID at their offset, too few for a claims length', () => {
    const good = encodeBinaryDataset(256, rows.slice(0, 2));
    for (let n = 1; n <= 3; n++) {
      expect(parse(Buffer.concat([good, Buffer.alloc(n, 0x5b)]))).toEqual({
        code: 'UPLOAD_BINARY_INVALID',
        message: afterRecords(good.length, 2),
      });
    }
  });

  it('what was right stays so: truncations are UPLOAD_TRUNCATED, a claims section may open with whitespace', () => {
    const good = encodeBinaryDataset(256, rows);
    expect(parse(good)).toBeUndefined();
    expect(parse(declaring(4, good))).toEqual({
      code: 'UPLOAD_TRUNCATED',
      message: 'binary dataset ends early (3 of 4 records)',
    });
    expect(parse(good.subarray(0, 10))).toEqual({
      code: 'UPLOAD_TRUNCATED',
      message: 'binary dataset ends inside its 16-byte header (after 10 bytes)',
    });
    const claims = encodeBinaryDataset(256, rows, [null, null, null]);
    for (let seed = 0; seed <= 3; seed++) {
      expect(parse(claims.subarray(0, claims.length - 3), seed)).toEqual({
        code: 'UPLOAD_TRUNCATED',
        message: `binary dataset ends inside the claims section at byte ${good.length + 4} (13 of 16 bytes)`,
      });
    }
    const spaced = Buffer.from(' \n\t[null,null,null]');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(spaced.length, 0);
    for (let seed = 0; seed <= 3; seed++) expect(parse(Buffer.concat([good, length, spaced]), seed)).toBeUndefined();
  });
});
