/**
 * Multi-party greedy solution of candidate pairs, as anonlink's
 * `greedy_solve` defines it (anonlink 0.15, `probabilistic_greedy_solve` with
 * merge_threshold 1 and deduplicated false): pairs are visited best first
 * (anonlink's candidate order); each record belongs to at most one group; two
 * groups merge when every pair of records across them has been seen as a
 * candidate, which, visiting best first, means every such pair scores at
 * least the current pair. A record meeting a group of two or more on one
 * candidate only starts a group of its own, remembered as one link toward that
 * group, so it can join once its links cover the group.
 *
 * The result is a set of groups (an entity across parties); anonlink returns
 * them in hash-map order, so both sides are compared as sets
 * (`canonicalGroups`).
 */
import { PavilionError } from '../../common/errors.js';
import { CandidatePairs, type PartyPair } from '../linkage/candidate-pairs.js';

/** A record of a party: [party, record index]. */
export type PartyRecord = [party: number, record: number];

/**
 * Where each record's group is: a typed array over global record ids when the
 * party sizes are known (6M records: 24 MB), a Map keyed by party and record otherwise.
 */
interface RecordIndex {
  key(party: number, record: number): number;
  get(key: number): number;
  set(key: number, group: number): void;
  record(key: number): PartyRecord;
}

function recordIndex(partySizes: readonly number[] | undefined): RecordIndex {
  if (partySizes) {
    const offsets = [0];
    for (const n of partySizes) offsets.push(offsets.at(-1)! + n);
    const groups = new Int32Array(offsets.at(-1)!).fill(-1);
    return {
      key: (party, record) => offsets[party]! + record,
      get: (k) => groups[k]!,
      set: (k, g) => {
        groups[k] = g;
      },
      record: (k) => {
        let p = 0;
        while (offsets[p + 1]! <= k) p++;
        return [p, k - offsets[p]!];
      },
    };
  }
  const groups = new Map<number, number>();
  // party and record packed into one number (records < 2^32, parties < 2^8)
  return {
    key: (party, record) => party * 0x100000000 + record,
    get: (k) => groups.get(k) ?? -1,
    set: (k, g) => {
      groups.set(k, g);
    },
    record: (k) => [Math.floor(k / 0x100000000), k % 0x100000000],
  };
}

/**
 * Groups from candidate pairs in anonlink's order (best first); see the
 * module comment. `partySizes` (records per party) lets the solver index
 * records in a typed array instead of a Map.
 */
export function multipartyGreedySolve(
  candidates: CandidatePairs | readonly PartyPair[],
  partySizes?: readonly number[],
): PartyRecord[][] {
  const pairs = candidates instanceof CandidatePairs ? candidates : CandidatePairs.from(candidates);
  const index = recordIndex(partySizes);
  const members: (number[] | undefined)[] = [];
  // Candidate pairs seen between two groups not (yet) merged: counts in one flat Map keyed by the pair of group
  // ids, and each group's neighbours in a list. Nested Maps cost ~200 bytes a group; millions of records that
  // meet a group once (6 × 1M) made them the largest thing in memory.
  const counts = new Map<number, number>();
  const neighbours = new Map<number, number[]>();
  const pairKey = (a: number, b: number): number => (a < b ? a * 2 ** 26 + b : b * 2 ** 26 + a);
  const linkCount = (a: number, b: number): number => counts.get(pairKey(a, b)) ?? 0;
  const addLinks = (a: number, b: number, n: number): void => {
    const k = pairKey(a, b);
    const before = counts.get(k);
    counts.set(k, (before ?? 0) + n);
    if (before === undefined) {
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const list = neighbours.get(x);
        if (list) list.push(y);
        else neighbours.set(x, [y]);
      }
    }
  };
  const newGroup = (...keys: number[]): number => {
    const g = members.length;
    if (g >= 2 ** 26) throw new PavilionError('LINK_RESULT_TOO_LARGE', 'more than 2^26 groups to solve');
    members.push(keys);
    for (const k of keys) index.set(k, g);
    return g;
  };
  for (let i = 0; i < pairs.length; i++) {
    const k0 = index.key(pairs.partyA[i]!, pairs.recordA[i]!);
    const k1 = index.key(pairs.partyB[i]!, pairs.recordB[i]!);
    if (k0 === k1) continue;
    let g0 = index.get(k0);
    let g1 = index.get(k1);
    if (g0 >= 0 && g1 >= 0) {
      if (g0 === g1) continue;
      const overlap = linkCount(g0, g1) + 1;
      if (overlap >= members[g0]!.length * members[g1]!.length) {
        if (members[g0]!.length < members[g1]!.length) [g0, g1] = [g1, g0];
        // g1 joins g0: its records, and its links to third groups
        for (const m of members[g1]!) {
          members[g0]!.push(m);
          index.set(m, g0);
        }
        members[g1] = undefined;
        counts.delete(pairKey(g0, g1));
        for (const other of neighbours.get(g1) ?? []) {
          if (other === g0) continue;
          const k = pairKey(g1, other);
          const count = counts.get(k);
          if (count === undefined) continue; // a neighbour already merged elsewhere
          counts.delete(k);
          addLinks(g0, other, count);
        }
        neighbours.delete(g1);
      } else {
        addLinks(g0, g1, 1);
      }
    } else if (g0 >= 0 || g1 >= 0) {
      // one record is grouped: the other joins a group of one, or starts its own linked to the group
      const g = g0 >= 0 ? g0 : g1;
      const loose = g0 >= 0 ? k1 : k0;
      if (members[g]!.length === 1) {
        members[g]!.push(loose);
        index.set(loose, g);
      } else addLinks(newGroup(loose), g, 1);
    } else {
      newGroup(k0, k1);
    }
  }
  const out: PartyRecord[][] = [];
  for (const m of members) if (m && m.length > 1) out.push(m.map((k) => index.record(k)));
  return canonicalGroups(out);
}

/** Groups with members sorted by (party, record), and groups sorted by their first member. */
export function canonicalGroups(groups: readonly (readonly PartyRecord[])[]): PartyRecord[][] {
  const byRecord = (a: PartyRecord, b: PartyRecord): number => a[0] - b[0] || a[1] - b[1];
  return groups.map((g) => [...g].sort(byRecord)).sort((a, b) => byRecord(a[0]!, b[0]!));
}
