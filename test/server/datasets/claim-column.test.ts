/**
 * Claims held as distinct values plus an index per record (server/datasets/claim-column.ts): every record
 * reads back the claims it was given, past 256 and 65,536 distinct values (the index widens), and the values
 * cannot be changed through one record for all the others.
 */
import { describe, expect, it } from 'vitest';
import { ClaimColumn, ClaimColumnBuilder } from '../../../server/datasets/claim-column.js';
import type { Claims } from '../../../server/datasets/store.js';

describe('ClaimColumn', () => {
  it('reads back each record’s claims and shares equal values', () => {
    const claims: (Claims | undefined)[] = [
      { over_18: true },
      null,
      { over_18: false, license_class: 'B' },
      { over_18: true },
      undefined,
      { over_18: false, license_class: 'B' },
    ];
    const column = ClaimColumn.from(claims);
    expect(column.length).toBe(6);
    expect(column.distinct).toBe(3);
    expect(Array.from({ length: 6 }, (_, i) => column.at(i))).toEqual(claims.map((c) => c ?? null));
    expect(column.at(0)).toBe(column.at(3));
    expect(column.at(6)).toBeUndefined();
    expect(column.at(-1)).toEqual({ over_18: false, license_class: 'B' });
  });

  it('widens its index past 256 and 65,536 distinct values without losing a record', () => {
    const b = new ClaimColumnBuilder(4);
    const n = 70_000;
    for (let i = 0; i < n; i++) b.push({ code: i % 66_000 });
    const column = b.finish();
    expect(column.distinct).toBe(66_000);
    for (const i of [0, 255, 256, 257, 65_535, 65_536, 65_999, 66_000, n - 1])
      expect(column.at(i)).toEqual({ code: i % 66_000 });
  });

  it('holds frozen copies: neither the uploader’s object nor an answer can change them', () => {
    const given = { over_18: true, nested: { a: 1 } };
    const column = ClaimColumn.from([given, { over_18: true, nested: { a: 1 } }]);
    given.nested.a = 2;
    expect(column.at(1)).toEqual({ over_18: true, nested: { a: 1 } });
    expect(() => {
      (column.at(0) as { nested: { a: number } }).nested.a = 3;
    }).toThrow(TypeError);
  });
});
