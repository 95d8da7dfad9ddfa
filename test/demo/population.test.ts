/**
 * The seeded FEBRL-like generator (demo/population): reproducible from its
 * seed, truth consistent with the parties' membership, each corruption kind
 * doing what demo/population/README.md says, and records the FEBRL schema
 * encodes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { seededRandom } from '../../common/seeded-random.js';
import { cleanPerson, corrupt, FEBRL_COLUMNS, Population } from '../../demo/population/generator.js';
import { NICKNAMES } from '../../demo/population/vocabulary.js';
import { ClkEncoder } from '../../engine/clk/encoder.js';

describe('population generator', () => {
  it('is reproducible from its seed, and another seed gives other people', () => {
    const a = new Population({ seed: 7, parties: 3, size: 200, overlap: 0.4 });
    const b = new Population({ seed: 7, parties: 3, size: 200, overlap: 0.4 });
    const c = new Population({ seed: 8, parties: 3, size: 200, overlap: 0.4 });
    expect(a.records(2)).toEqual(b.records(2));
    expect(Array.from(a.entities(1))).toEqual(Array.from(b.entities(1)));
    expect(a.records(0).map((r) => r[1])).not.toEqual(c.records(0).map((r) => r[1]));
    // any record can be made alone, in any order
    expect(a.record(1, 150)).toEqual(a.records(1, 150, 151)[0]);
    expect(a.records(0)[0]!.length).toBe(FEBRL_COLUMNS.length);
  });

  it('the truth: shared people are in every party at the overlap, own people in one', () => {
    const pop = new Population({ seed: 1, parties: 3, size: 1000, overlap: 0.3 });
    for (const [x, y] of [
      [0, 1],
      [1, 2],
      [0, 2],
    ] as const) {
      const pairs = pop.truePairs(x, y);
      expect(pairs.length).toBe(300);
      for (const [i, j] of pairs) expect(pop.entities(x)[i]).toBe(pop.entities(y)[j]);
    }
    const partial = new Population({ seed: 1, parties: 4, size: 1000, overlap: 0.3, presence: 0.5 });
    const shared = partial.truePairs(1, 2).length;
    expect(shared).toBeGreaterThan(50);
    expect(shared).toBeLessThan(300);
  });

  it('party 0 holds the people as first recorded; other parties re-type them', () => {
    const pop = new Population({ seed: 3, parties: 2, size: 500, overlap: 1 });
    let changed = 0;
    for (const [i, j] of pop.truePairs(0, 1)) {
      const clean = cleanPerson(3, pop.entities(0)[i]!);
      expect(pop.record(0, i).slice(1)).toEqual(clean.slice(1));
      if (pop.record(1, j).slice(1).join('|') !== clean.slice(1).join('|')) changed++;
    }
    // P(no modification) is 0.2 in the default model
    expect(changed / 500).toBeGreaterThan(0.7);
    expect(changed / 500).toBeLessThan(0.9);
  });

  it('each corruption kind changes what the model says it changes', () => {
    const base = cleanPerson(11, 5);
    base[1] = 'william';
    const fresh = () => [...base];
    const rnd = seededRandom(2);
    const nick = fresh();
    corrupt(nick, 'nickname', rnd);
    expect(NICKNAMES.william).toContain(nick[1]);
    const swapped = fresh();
    corrupt(swapped, 'swappedNames', rnd);
    expect([swapped[1], swapped[2]]).toEqual([base[2], base[1]]);
    const moved = fresh();
    corrupt(moved, 'movedAddress', seededRandom(5));
    expect(moved.slice(3, 9)).not.toEqual(base.slice(3, 9));
    expect(moved.slice(0, 3)).toEqual(base.slice(0, 3));
    for (let s = 0; s < 50; s++) {
      const r = fresh();
      corrupt(r, 'missing', seededRandom(s));
      expect(r.filter((v, i) => v !== base[i]).every((v) => v === '')).toBe(true);
      const t = fresh();
      corrupt(t, 'transposition', seededRandom(s));
      const diff = t.findIndex((v, i) => v !== base[i]);
      if (diff >= 0) expect([...t[diff]!].sort()).toEqual([...base[diff]!].sort());
      const d = fresh();
      corrupt(d, 'dateError', seededRandom(s));
      expect(d[9]).toMatch(/^[0-9]{8}$/);
      expect(d.filter((v, i) => v !== base[i]).length).toBeLessThanOrEqual(1);
    }
  });

  it("every record encodes under clkhash's FEBRL schema (integers stay integers)", () => {
    const schema = JSON.parse(
      readFileSync(fromRoot('test', 'fixtures', 'clkhash', 'febrl_schema_v3_final.json'), 'utf8'),
    );
    const encoder = ClkEncoder.create(schema, 'population-test');
    const pop = new Population({ seed: 5, parties: 2, size: 3000, overlap: 0.5 });
    try {
      expect(encoder.encodeMany(pop.records(1), 0).length).toBe(3000 * 128);
    } finally {
      encoder.dispose();
    }
  });

  it('refuses sizes it cannot make', () => {
    expect(() => new Population({ seed: 1, parties: 0, size: 10 })).toThrow(
      expect.objectContaining({ code: 'POPULATION_INVALID' }),
    );
    expect(() => new Population({ seed: 1, parties: 2, size: 10, overlap: 2 })).toThrow(
      expect.objectContaining({ code: 'POPULATION_INVALID' }),
    );
  });
});
