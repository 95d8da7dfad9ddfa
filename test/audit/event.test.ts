import { describe, expect, it } from 'vitest';
import { canonicalEvent, eventLeafHash, leafHash } from '../../audit/index.js';
import { isPavilionError } from '../../common/errors.js';

function error(fn: () => unknown): { code: string; message: string } | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!isPavilionError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}

describe('event canonicalisation (RFC 8785)', () => {
  it('RFC 8785 §3.2.4 example: key order, number and string serialisation', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as object;
    expect(canonicalEvent(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units and is independent of insertion order', () => {
    expect(canonicalEvent({ b: 1, a: 2, A: 3, é: 4, '\u{1F600}': 5, '\uFB33': 6 })).toBe(
      '{"A":3,"a":2,"b":1,"\u00e9":4,"\u{1F600}":5,"\uFB33":6}',
    );
    // U+FB33 sorts after U+1F600 because 0xFB33 > 0xD83D (its high surrogate), not by code point.
    expect(canonicalEvent({ x: { z: 1, y: [3, { b: 1, a: 0 }] } })).toBe(
      canonicalEvent({ x: { y: [3, { a: 0, b: 1 }], z: 1 } }),
    );
  });

  it('leaf hash is the RFC 9162 leaf hash of the UTF-8 canonical bytes', () => {
    const text = canonicalEvent({ type: 'x', name: 'é' });
    expect(Buffer.from(eventLeafHash(text)).toString('hex')).toBe(
      Buffer.from(leafHash(Buffer.from(text, 'utf8'))).toString('hex'),
    );
  });

  it('error messages point at the field but never carry values or data-like keys', () => {
    const e1 = error(() => canonicalEvent({ person: { dob: new Date('1990-01-01') } }))!;
    expect(e1.code).toBe('EVENT_INVALID');
    expect(e1.message).toContain('event.person.dob');
    expect(e1.message).not.toContain('1990');
    const e2 = error(() => canonicalEvent({ contacts: { 'jane.doe@example.com': undefined, ok: 1 } }))!;
    expect(e2.code).toBe('EVENT_INVALID');
    expect(e2.message).not.toContain('jane');
    const e3 = error(() => canonicalEvent({ list: [1, 2, Number.NaN] }))!;
    expect(e3.message).toContain('event.list[2]');
  });

  it('rejects deep nesting and oversize events', () => {
    let deep: object = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(error(() => canonicalEvent(deep))!.code).toBe('EVENT_INVALID');
    expect(error(() => canonicalEvent({ big: 'x'.repeat(64 * 1024) }))!.code).toBe('EVENT_INVALID');
    // The largest a tlog-tiles entry bundle can carry (uint16 length) is accepted, one byte more is not.
    const fits = { big: 'x'.repeat(0xffff - '{"big":""}'.length) };
    expect(Buffer.byteLength(canonicalEvent(fits))).toBe(0xffff);
    expect(error(() => canonicalEvent({ big: `${fits.big}x` }))!.code).toBe('EVENT_INVALID');
    expect(canonicalEvent({ ok: 'x'.repeat(60 * 1024) }).length).toBeGreaterThan(60 * 1024);
    // Sparse arrays and accessors are not plain data.
    // eslint-disable-next-line no-sparse-arrays
    expect(error(() => canonicalEvent({ a: [1, undefined, 3] }))!.code).toBe('EVENT_INVALID');
    expect(error(() => canonicalEvent(Object.defineProperty({}, 'g', { get: () => 1, enumerable: true })))!.code).toBe(
      'EVENT_INVALID',
    );
    expect(canonicalEvent(Object.assign(Object.create(null) as object, { a: 1 }))).toBe('{"a":1}');
  });
});
