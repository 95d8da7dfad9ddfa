/**
 * The pieces of the provider's upload path that need no broker: claim types and the CSV cells
 * `pavilion publish` parses as them, the duplicate-CLK count of a version's summary, and the secret
 * fingerprint, against answers computed independently (Python's hashlib.pbkdf2_hmac).
 */
import { describe, expect, it } from 'vitest';
import { SECRET_FINGERPRINT, secretFingerprint, secretFingerprintAsync } from '../../../common/secret-fingerprint.js';
import { createEngine } from '../../../engine/index.js';
import { ActiveDatasets } from '../../../server/datasets/active-datasets.js';
import { claimDefinition, claimTypeProblem, parseClaimCell } from '../../../server/datasets/claim-types.js';
import { countDuplicateClks, RowCollector } from '../../../server/datasets/upload.js';
import { randomClk } from '../helpers.js';

describe('secret fingerprints', () => {
  it("are Python's hashlib.pbkdf2_hmac('sha256', secret, b'pavilion linkage secret fingerprint v1', 100000, 8)", () => {
    // python3 -c "import hashlib; print(hashlib.pbkdf2_hmac('sha256', b'correct horse',
    //   b'pavilion linkage secret fingerprint v1', 100000, 8).hex())"
    expect(secretFingerprint('correct horse')).toBe('8db6619e82a51ed1');
    expect(secretFingerprint('correct horse ')).not.toBe('8db6619e82a51ed1');
    expect(secretFingerprint('é')).toMatch(SECRET_FINGERPRINT);
  });
  it('derived on the thread pool (pavilion encode) they are the same', async () => {
    expect(await secretFingerprintAsync('correct horse')).toBe('8db6619e82a51ed1');
    expect(await secretFingerprintAsync('é')).toBe(secretFingerprint('é'));
  });
});

describe('claim types', () => {
  it('a list of names is scalar; an object gives each claim its type', () => {
    expect(claimDefinition(['a', 'b', 'a'])).toEqual({ names: ['a', 'b'], types: { a: 'scalar', b: 'scalar' } });
    expect(claimDefinition({ a: 'boolean', b: 'date' })).toEqual({
      names: ['a', 'b'],
      types: { a: 'boolean', b: 'date' },
    });
  });

  it('name the expected and the received type, never the value', () => {
    expect(claimTypeProblem('boolean', 'True')).toBe('must be a boolean (true or false), not a string');
    expect(claimTypeProblem('boolean', null)).toBeNull();
    expect(claimTypeProblem('integer', 1.5)).toBe('must be an integer, not a number');
    expect(claimTypeProblem('integer', 2 ** 53)).toBe('is beyond ±2^53, where integers lose precision');
    expect(claimTypeProblem('date', '2024-02-29')).toBeNull();
    expect(claimTypeProblem('date', '2023-02-29')).toBe('must be a calendar date written YYYY-MM-DD');
    expect(claimTypeProblem('string', 'x'.repeat(1025))).toBe('is longer than 1024 characters');
    expect(claimTypeProblem('scalar', { a: 1 })).toBe(
      'must be a JSON scalar (boolean, number or string), not an object',
    );
  });

  it('CSV cells parse as their type: booleans in any case or 1/0, empty is null', () => {
    expect(parseClaimCell('boolean', 'True')).toEqual({ value: true });
    expect(parseClaimCell('boolean', ' FALSE ')).toEqual({ value: false });
    expect(parseClaimCell('boolean', '0')).toEqual({ value: false });
    expect(parseClaimCell('boolean', '')).toEqual({ value: null });
    expect(parseClaimCell('boolean', 'yes')).toEqual({ problem: 'is not a boolean (true, false, 1 or 0)' });
    expect(parseClaimCell('integer', '42')).toEqual({ value: 42 });
    expect(parseClaimCell('integer', '4.2')).toEqual({ problem: 'is not an integer' });
    expect(parseClaimCell('number', '4.2e1')).toEqual({ value: 42 });
    expect(parseClaimCell('number', '0x10')).toEqual({ problem: 'is not a decimal number' });
    expect(parseClaimCell('date', '2030-01-31')).toEqual({ value: '2030-01-31' });
    expect(parseClaimCell('date', '31/01/2030')).toEqual({ problem: 'is not a date written YYYY-MM-DD' });
    expect(parseClaimCell('string', ' as is ')).toEqual({ value: ' as is ' });
  });
});

describe('a version summary', () => {
  it('counts CLKs equal to an earlier one, whatever their order, and only those', () => {
    const distinct = Array.from({ length: 2_000 }, (_, i) => randomClk(256, 40_000 + i));
    expect(countDuplicateClks(distinct)).toBe(0);
    // Same 5-byte prefix, different bytes after it: not duplicates.
    const a = randomClk(256, 1);
    const b = Uint8Array.from(a);
    b[31]! ^= 1;
    expect(countDuplicateClks([a, b])).toBe(0);
    const withCopies = [
      ...distinct,
      Uint8Array.from(distinct[5]!),
      Uint8Array.from(distinct[5]!),
      Uint8Array.from(distinct[9]!),
    ];
    expect(countDuplicateClks(withCopies.reverse())).toBe(3);
  });

  it('stays exact when many CLKs share a prefix (sparse ones, empty ones)', () => {
    const sparse = Array.from({ length: 3_000 }, (_, i) => {
      const c = new Uint8Array(32);
      c[10 + (i % 20)] = 1 + (i % 250);
      c[31] = i >> 4;
      return c;
    });
    const distinctSparse = new Set(sparse.map((c) => Buffer.from(c).toString('hex'))).size;
    const empties = Array.from({ length: 500 }, () => new Uint8Array(32));
    expect(countDuplicateClks([...empties, ...sparse])).toBe(3_000 - distinctSparse + 499);
  });

  it('counts values and nulls per claim and empty CLKs', () => {
    const rows = new RowCollector(256, { over_18: 'boolean', license_class: 'string' }, 100);
    rows.add('line 1', 'a', randomClk(256, 1), { over_18: true });
    rows.add('line 2', 'b', new Uint8Array(32), { over_18: null, license_class: 'C' });
    rows.add('line 3', 'c', randomClk(256, 1), undefined);
    expect(rows.summary()).toEqual({
      rows: 3,
      claims: {
        over_18: { type: 'boolean', values: 1, nulls: 1 },
        license_class: { type: 'string', values: 1, nulls: 0 },
      },
      duplicate_clks: 1,
      empty_clks: 1,
    });
  });
});

describe('a version served again (rollback) while requests still hold the old load of it', () => {
  it('keeps serving when those requests end: each load has its own engine id', async () => {
    const engine = await createEngine({ threads: 1 });
    try {
      const active = new ActiveDatasets(engine);
      const rows = (seed: number) => {
        const clks = Array.from({ length: 4 }, (_, i) => randomClk(256, seed + i));
        return {
          refs: ['a', 'b', 'c', 'd'],
          clks: Buffer.concat(clks),
          claims: [null, null, null, null],
          first: clks[0]!,
        };
      };
      const v1 = rows(100);
      const v2 = rows(200);
      await active.activate('x', 1, 256, v1);
      const held = active.acquire('x'); // a request still running on version 1
      await active.activate('x', 2, 256, v2);
      await active.activate('x', 1, 256, v1); // the rollback loads version 1 again
      held.release(); // the old load of version 1 is dropped now: not the one serving
      await new Promise((r) => setTimeout(r, 20));
      const lease = active.acquire('x');
      try {
        expect(lease.version.version).toBe(1);
        const found = await engine.match(lease.version.engineId, v1.first, { threshold: 0.99, topK: 1 });
        expect(found.candidates).toEqual([{ index: 0, ref: 'a', score: 1 }]);
      } finally {
        lease.release();
      }
    } finally {
      await engine.close();
    }
  });
});
