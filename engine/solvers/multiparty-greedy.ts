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
import type { PartyPair } from '../linkage/link-parties.js';

/** A record of a party: [party, record index]. */
export type PartyRecord = [party: number, record: number];

interface Group {
  members: number[];
  /** Candidate pairs seen between this group and others (by group), not yet merged. */
  links: Map<Group, number>;
}

/** party and record packed into one number (records < 2^32, parties < 2^16 keep it below 2^53). */
const key = (party: number, record: number): number => party * 0x100000000 + record;
const unkey = (k: number): PartyRecord => [Math.floor(k / 0x100000000), k % 0x100000000];

/** Groups from candidate pairs in anonlink's order (best first); see the module comment. */
export function multipartyGreedySolve(pairs: readonly PartyPair[]): PartyRecord[][] {
  const groupOf = new Map<number, Group>();
  const link = (a: Group, b: Group, n: number): number => {
    const v = (a.links.get(b) ?? 0) + n;
    a.links.set(b, v);
    b.links.set(a, v);
    return v;
  };
  for (const p of pairs) {
    const k0 = key(p.partyA, p.recordA);
    const k1 = key(p.partyB, p.recordB);
    if (k0 === k1) continue;
    let g0 = groupOf.get(k0);
    let g1 = groupOf.get(k1);
    if (g0 && g1) {
      if (g0 === g1) continue;
      const overlap = (g0.links.get(g1) ?? 0) + 1;
      if (overlap >= g0.members.length * g1.members.length) {
        if (g0.members.length < g1.members.length) [g0, g1] = [g1, g0];
        // g1 joins g0: its records, and its links to third groups
        for (const m of g1.members) {
          g0.members.push(m);
          groupOf.set(m, g0);
        }
        g0.links.delete(g1);
        for (const [other, count] of g1.links) {
          if (other === g0) continue;
          other.links.delete(g1);
          link(g0, other, count);
        }
      } else {
        link(g0, g1, 1);
      }
      continue;
    }
    if (!g0 && g1) {
      g0 = g1;
      g1 = undefined;
      const t = k0;
      // the grouped record is k1: the loose one joins or starts a group
      groupOf.set(t, g0.members.length === 1 ? addTo(g0, t) : single(t, g0, link));
      continue;
    }
    if (g0 && !g1) {
      groupOf.set(k1, g0.members.length === 1 ? addTo(g0, k1) : single(k1, g0, link));
      continue;
    }
    const g: Group = { members: [k0, k1], links: new Map() };
    groupOf.set(k0, g);
    groupOf.set(k1, g);
  }
  const seen = new Set<Group>();
  const out: PartyRecord[][] = [];
  for (const g of groupOf.values()) {
    if (seen.has(g) || g.members.length < 2) continue;
    seen.add(g);
    out.push(g.members.map(unkey));
  }
  return canonicalGroups(out);
}

function addTo(g: Group, k: number): Group {
  g.members.push(k);
  return g;
}

function single(k: number, toward: Group, link: (a: Group, b: Group, n: number) => number): Group {
  const g: Group = { members: [k], links: new Map() };
  link(g, toward, 1);
  return g;
}

/** Groups with members sorted by (party, record), and groups sorted by their first member. */
export function canonicalGroups(groups: readonly (readonly PartyRecord[])[]): PartyRecord[][] {
  const byRecord = (a: PartyRecord, b: PartyRecord): number => a[0] - b[0] || a[1] - b[1];
  return groups.map((g) => [...g].sort(byRecord)).sort((a, b) => byRecord(a[0]!, b[0]!));
}
