/**
 * p-sig blocking against blocklib 0.1.11 on made-up records
 * (test/fixtures/linkage/generate.py): the same candidate blocks for each
 * party, the blocks both parties share are the blocks blocklib's
 * generate_blocks keeps, and the shared blocks link through the engine.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../../common/paths.js';
import { parseRecordBlocks } from '../../../engine/blocking/blocks.js';
import { parsePSig } from '../../../engine/blocking/config.js';
import { bloomPositions, metaphone, psigCandidateBlocks, recordsToBlocks } from '../../../engine/blocking/psig.js';

interface Fixture {
  metaphone: Record<string, string>;
  header: string[];
  parties: string[][][];
  config: unknown;
  candidateBlocks: string[][][];
  finalBlocks: string[][][];
}

const fixture = JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'linkage', 'psig.json'), 'utf8')) as Fixture;
const config = parsePSig(fixture.config);
const partition = (blocks: Map<string, string[]>) =>
  [...blocks.values()].map((ids) => [...ids].sort()).sort((a, b) => (a.join() < b.join() ? -1 : 1));
const sorted = (lists: string[][]) => [...lists].sort((a, b) => (a.join() < b.join() ? -1 : 1));

describe('p-sig (blocklib)', () => {
  it("makes blocklib's candidate blocks, given blocklib's phonetic codes", () => {
    const phonetic = (v: string) => fixture.metaphone[v]!;
    fixture.parties.forEach((rows, p) => {
      const blocks = psigCandidateBlocks(rows, config, { header: fixture.header, phonetic });
      expect(partition(blocks)).toEqual(sorted(fixture.candidateBlocks[p]!));
    });
  });

  it('keeps, as blocks both parties hold, exactly the blocks generate_blocks keeps', () => {
    const phonetic = (v: string) => fixture.metaphone[v]!;
    const [a, b] = fixture.parties.map((rows) =>
      psigCandidateBlocks(rows, config, { header: fixture.header, phonetic }),
    );
    const shared = (x: Map<string, string[]>, y: Map<string, string[]>) =>
      new Map([...x].filter(([key]) => y.has(key)));
    expect(partition(shared(a!, b!))).toEqual(sorted(fixture.finalBlocks[0]!));
    expect(partition(shared(b!, a!))).toEqual(sorted(fixture.finalBlocks[1]!));
  });

  it("npm double-metaphone agrees with Python's metaphone on the fixture names but for known cases", () => {
    const differ = Object.entries(fixture.metaphone).filter(([name, code]) => metaphone(name) !== code);
    // -ier endings and "hughes" are coded differently (docs/linkage.md); everything else agrees
    expect(differ.map(([name]) => name).sort()).toEqual(['hughes']);
    expect(Object.keys(fixture.metaphone).length).toBeGreaterThan(50);
  });

  it("writes anonlink-client's block form, which the broker reads back", () => {
    const blocks = psigCandidateBlocks(fixture.parties[0]!, config, { header: fixture.header });
    const json = JSON.parse(JSON.stringify(recordsToBlocks(blocks)));
    const perRecord = parseRecordBlocks(json, fixture.parties[0]!.length);
    let memberships = 0;
    for (const ids of blocks.values()) memberships += ids.length;
    expect(perRecord.reduce((s, keys) => s + keys.length, 0)).toBe(memberships);
  });

  it("hashes signatures into the Bloom filter positions blocklib's flip_bloom_filter gives", () => {
    // python3 -c "from blocklib.encoding import flip_bloom_filter as f; print(sorted(f('0_jo_sm', 2048, 4)))"
    expect(bloomPositions('0_jo_sm', 2048, 4)).toEqual(BLOOM_0_JO_SM);
  });

  it('refuses configs blocklib refuses, and features that are not columns', () => {
    expect(() => parsePSig({ type: 'p-sig', version: 1, config: { 'blocking-features': [1] } })).toThrow(
      expect.objectContaining({ code: 'BLOCKING_CONFIG_INVALID' }),
    );
    expect(() => psigCandidateBlocks([['a']], config, { header: ['x'] })).toThrow(
      expect.objectContaining({ code: 'BLOCKING_CONFIG_INVALID' }),
    );
  });
});
const BLOOM_0_JO_SM = [425, 507, 589, 671];
