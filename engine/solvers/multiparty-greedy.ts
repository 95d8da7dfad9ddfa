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
 *
 * Memory: everything lives in typed arrays over global record ids (party-major) and group ids, and groups
 * merge by union-find instead of moving member lists. The first version kept a JS array per group and Maps of
 * links: on 6 × 200,000 records (1.28M candidate pairs) solving took 172 MiB of heap, about 135 bytes a
 * pair, which made the solver the peak of a 6 × 1M linkage (docs/linkage.md).
 */
import { PavilionError } from '../../common/errors.js';
import { CandidatePairs, type PartyPair } from '../linkage/candidate-pairs.js';

/** A record of a party: [party, record index]. */
export type PartyRecord = [party: number, record: number];

/** Group ids stay below 2^26 so that a pair of them is one exact number (a · 2^26 + b). */
const MAX_GROUPS = 2 ** 26;
const EMPTY = -1;
const DELETED = -2;

/**
 * Candidate pairs seen between two groups not (yet) merged: a count per pair of groups in an
 * open-addressing table, and each group's neighbours as a list of edges. A neighbour list may name groups
 * merged away since; their count is gone, which is how they are recognised.
 */
class GroupLinks {
  private keys = new Float64Array(1 << 16).fill(EMPTY);
  private counts = new Int32Array(1 << 16);
  /** Slots holding a key or a deletion mark. */
  private occupied = 0;
  private live = 0;
  private readonly firstEdge: Int32Array;
  private edgeTo = new Int32Array(1 << 16);
  private edgeNext = new Int32Array(1 << 16);
  private edges = 0;

  constructor(groupCapacity: number) {
    this.firstEdge = new Int32Array(groupCapacity).fill(-1);
  }

  /** Where (a, b), a < b, is, or the slot it would take. */
  private slot(a: number, b: number, keys = this.keys): number {
    const key = a * MAX_GROUPS + b;
    const mask = keys.length - 1;
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ 0x7f4a7c15, 0x85ebca77);
    h = (h ^ (h >>> 15)) & mask;
    let free = -1;
    for (;;) {
      const k = keys[h]!;
      if (k === key) return h;
      if (k === EMPTY) return free >= 0 ? free : h;
      if (k === DELETED && free < 0) free = h;
      h = (h + 1) & mask;
    }
  }

  count(a: number, b: number): number {
    if (a > b) [a, b] = [b, a];
    const s = this.slot(a, b);
    return this.keys[s] === a * MAX_GROUPS + b ? this.counts[s]! : 0;
  }

  /** Removes the links between a and b; their count, or 0 when there were none. */
  take(a: number, b: number): number {
    if (a > b) [a, b] = [b, a];
    const s = this.slot(a, b);
    if (this.keys[s] !== a * MAX_GROUPS + b) return 0;
    this.keys[s] = DELETED;
    this.live--;
    return this.counts[s]!;
  }

  add(a: number, b: number, n: number): void {
    if (a > b) [a, b] = [b, a];
    let s = this.slot(a, b);
    const key = a * MAX_GROUPS + b;
    if (this.keys[s] === key) {
      this.counts[s]! += n;
      return;
    }
    if (this.keys[s] === EMPTY) {
      if ((this.occupied + 1) * 2 > this.keys.length) {
        this.rehash();
        s = this.slot(a, b);
      }
      this.occupied++;
    }
    this.keys[s] = key;
    this.counts[s] = n;
    this.live++;
    this.addEdge(a, b);
    this.addEdge(b, a);
  }

  /** Calls fn with every group that has had links with g (some perhaps merged away since). */
  forEachNeighbour(g: number, fn: (other: number) => void): void {
    for (let e = this.firstEdge[g]!; e >= 0; e = this.edgeNext[e]!) fn(this.edgeTo[e]!);
  }

  private addEdge(from: number, to: number): void {
    if (this.edges === this.edgeTo.length) {
      const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.edgeTo = grow(this.edgeTo);
      this.edgeNext = grow(this.edgeNext);
    }
    const e = this.edges++;
    this.edgeTo[e] = to;
    this.edgeNext[e] = this.firstEdge[from]!;
    this.firstEdge[from] = e;
  }

  /** A table at most a quarter full of live keys, deletion marks dropped. */
  private rehash(): void {
    let size = 1 << 16;
    while (size < this.live * 4) size *= 2;
    const keys = new Float64Array(size).fill(EMPTY);
    const counts = new Int32Array(size);
    for (let s = 0; s < this.keys.length; s++) {
      const key = this.keys[s]!;
      if (key < 0) continue;
      const a = Math.floor(key / MAX_GROUPS);
      const t = this.slot(a, key - a * MAX_GROUPS, keys);
      keys[t] = key;
      counts[t] = this.counts[s]!;
    }
    this.keys = keys;
    this.counts = counts;
    this.occupied = this.live;
  }
}

/** Records per party from the pairs themselves: one past the largest record index each names. */
function partySizesOf(pairs: CandidatePairs): number[] {
  const sizes: number[] = [];
  for (let i = 0; i < pairs.length; i++) {
    const a = pairs.partyA[i]!;
    const b = pairs.partyB[i]!;
    sizes[a] = Math.max(sizes[a] ?? 0, pairs.recordA[i]! + 1);
    sizes[b] = Math.max(sizes[b] ?? 0, pairs.recordB[i]! + 1);
  }
  return Array.from(sizes, (n) => n ?? 0);
}

/**
 * Groups from candidate pairs in anonlink's order (best first); see the module comment. Each group's
 * members are sorted by (party, record) and the groups by their first member (`canonicalGroups`'s order).
 * `partySizes` (records per party) are taken from the pairs when not given.
 */
export function multipartyGreedySolve(
  candidates: CandidatePairs | readonly PartyPair[],
  partySizes?: readonly number[],
): PartyRecord[][] {
  const pairs = candidates instanceof CandidatePairs ? candidates : CandidatePairs.from(candidates);
  const sizes = partySizes ?? partySizesOf(pairs);
  const offsets = [0];
  for (const n of sizes) offsets.push(offsets.at(-1)! + n);
  const records = offsets.at(-1)!;
  const keyOf = (party: number, record: number): number => {
    if (party >= sizes.length || record >= sizes[party]!) {
      throw new PavilionError('PARTIES_INVALID', `a pair names record ${record} of party ${party}, beyond its size`);
    }
    return offsets[party]! + record;
  };

  // Each record's group (-1: none yet); groups form a union-find forest, `parent` pointing toward the group a
  // group merged into. A group is made with at least one record that had none, so there are at most `records`.
  const groupOf = new Int32Array(records).fill(-1);
  const parent = new Int32Array(records);
  const size = new Int32Array(records);
  const links = new GroupLinks(records);
  let groups = 0;
  const find = (g: number): number => {
    while (parent[g] !== g) {
      parent[g] = parent[parent[g]!]!; // path halving
      g = parent[g]!;
    }
    return g;
  };
  const newGroup = (k: number): number => {
    if (groups >= MAX_GROUPS) throw new PavilionError('LINK_RESULT_TOO_LARGE', 'more than 2^26 groups to solve');
    const g = groups++;
    parent[g] = g;
    size[g] = 1;
    groupOf[k] = g;
    return g;
  };

  for (let i = 0; i < pairs.length; i++) {
    const k0 = keyOf(pairs.partyA[i]!, pairs.recordA[i]!);
    const k1 = keyOf(pairs.partyB[i]!, pairs.recordB[i]!);
    if (k0 === k1) continue;
    let g0 = groupOf[k0]! >= 0 ? find(groupOf[k0]!) : -1;
    let g1 = groupOf[k1]! >= 0 ? find(groupOf[k1]!) : -1;
    if (g0 >= 0 && g1 >= 0) {
      if (g0 === g1) continue;
      const overlap = links.count(g0, g1) + 1;
      if (overlap >= size[g0]! * size[g1]!) {
        if (size[g0]! < size[g1]!) [g0, g1] = [g1, g0];
        // g1 joins g0: its records (through the forest), and its links to third groups
        parent[g1] = g0;
        size[g0]! += size[g1]!;
        links.take(g0, g1);
        const survivor = g0;
        const merged = g1;
        links.forEachNeighbour(merged, (other) => {
          if (other === survivor) return;
          const count = links.take(merged, other);
          if (count > 0) links.add(survivor, other, count); // 0: a neighbour already merged elsewhere
        });
      } else {
        links.add(g0, g1, 1);
      }
    } else if (g0 >= 0 || g1 >= 0) {
      // one record is grouped: the other joins a group of one, or starts its own linked to the group
      const g = g0 >= 0 ? g0 : g1;
      const loose = g0 >= 0 ? k1 : k0;
      if (size[g] === 1) {
        groupOf[loose] = g;
        size[g] = 2;
      } else links.add(newGroup(loose), g, 1);
    } else {
      const g = newGroup(k0);
      groupOf[k1] = g;
      size[g] = 2;
    }
  }

  // Records in ascending global id are in (party, record) order: scanning them once lists each group's
  // members sorted, and meets the groups in the order of their first member.
  // Arrays of their exact size: pushing into [] reserves room for 17, 18% more memory for the groups here.
  const slotOf = new Int32Array(groups).fill(-1);
  const filled = new Int32Array(groups);
  const out: PartyRecord[][] = [];
  let party = 0;
  for (let k = 0; k < records; k++) {
    while (k >= offsets[party + 1]!) party++;
    if (groupOf[k]! < 0) continue;
    const g = find(groupOf[k]!);
    if (size[g]! < 2) continue;
    if (slotOf[g]! < 0) {
      slotOf[g] = out.length;
      out.push(new Array<PartyRecord>(size[g]!));
    }
    out[slotOf[g]!]![filled[g]!++] = [party, k - offsets[party]!];
  }
  return out;
}

/** Groups with members sorted by (party, record), and groups sorted by their first member. */
export function canonicalGroups(groups: readonly (readonly PartyRecord[])[]): PartyRecord[][] {
  const byRecord = (a: PartyRecord, b: PartyRecord): number => a[0] - b[0] || a[1] - b[1];
  return groups.map((g) => [...g].sort(byRecord)).sort((a, b) => byRecord(a[0]!, b[0]!));
}
