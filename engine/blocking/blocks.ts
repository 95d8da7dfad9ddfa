/**
 * Blocks computed outside the broker: by data providers and relying parties
 * with blocklib / anonlink-client (p-sig on their records, or any blocklib
 * method), or by engine/blocking/psig.ts. Accepted in anonlink-client's two
 * forms for one party:
 *
 * - `anonlink block` output: `{"blocks": {"<record index>": ["<block key>", …]}, "meta": {…}}`
 * - the entity service's upload form: `{"clknblocks": [["<clk base64>", "<block key>", …], …]}`
 *
 * Records of different parties are compared when they share a block key, as
 * anonlink-client's `solve` does. Keys are opaque strings; only equality matters.
 */
import { PavilionError } from '../../common/errors.js';

/** Block keys of each record of one party (empty: the record is in no block). */
export type RecordBlocks = readonly (readonly string[])[];

/** Most block keys per record: more is not blocking any more, and bounds the work an upload can ask for. */
export const MAX_KEYS_PER_RECORD = 256;

const blocksError = (message: string): PavilionError => new PavilionError('BLOCKS_INVALID', message);

function checkKeys(keys: unknown, where: string): string[] {
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k.length === 0 || k.length > 1024)) {
    throw blocksError(`${where}: block keys must be non-empty strings up to 1,024 characters`);
  }
  if (keys.length > MAX_KEYS_PER_RECORD) throw blocksError(`${where}: more than ${MAX_KEYS_PER_RECORD} block keys`);
  return keys as string[];
}

/** One party's blocks, either anonlink-client form, for a party of `recordCount` records. */
export function parseRecordBlocks(json: unknown, recordCount: number, what = 'blocks'): RecordBlocks {
  const out: string[][] = Array.from({ length: recordCount }, () => []);
  if (typeof json !== 'object' || json === null) throw blocksError(`${what}: expected a JSON object`);
  const { blocks, clknblocks } = json as { blocks?: unknown; clknblocks?: unknown };
  if (blocks !== undefined) {
    if (typeof blocks !== 'object' || blocks === null || Array.isArray(blocks)) {
      throw blocksError(`${what}: "blocks" must map record indices to lists of block keys`);
    }
    for (const [rec, keys] of Object.entries(blocks)) {
      if (!/^(0|[1-9][0-9]*)$/.test(rec) || Number(rec) >= recordCount) {
        throw blocksError(
          `${what}: record index ${JSON.stringify(rec.slice(0, 20))} is not one of the ${recordCount} records`,
        );
      }
      out[Number(rec)] = checkKeys(keys, `${what}: record ${rec}`);
    }
    return out;
  }
  if (clknblocks !== undefined) {
    if (!Array.isArray(clknblocks) || clknblocks.length !== recordCount) {
      throw blocksError(`${what}: "clknblocks" must have one entry per record (${recordCount})`);
    }
    clknblocks.forEach((entry, i) => {
      if (!Array.isArray(entry) || entry.length < 1)
        throw blocksError(`${what}: clknblocks[${i}] must be [clk, keys…]`);
      out[i] = checkKeys(entry.slice(1), `${what}: clknblocks[${i}]`);
    });
    return out;
  }
  throw blocksError(`${what}: expected "blocks" (anonlink block output) or "clknblocks"`);
}

/** Blocks laid out for the comparison kernel: global record ids grouped by block, and (start, end) runs into them. */
export interface BlockRuns {
  /** Global record ids (party offset + index), block after block; parties ascend within a block. */
  order: Uint32Array;
  /** (start, end) pairs into `order`, one per block spanning two or more parties, blocks in key order. */
  runs: Uint32Array;
  /** Cross-party pairs of each run. */
  comparisons: Float64Array;
}

/**
 * Groups every party's records by block key. `offsets[p]` is party p's first
 * global record id. Blocks are ordered by key (code units), so every broker
 * lays out the same runs from the same input.
 */
export function blockRuns(parties: readonly RecordBlocks[], offsets: readonly number[]): BlockRuns {
  const members = new Map<string, number[]>();
  parties.forEach((records, p) => {
    records.forEach((keys, i) => {
      // a record listing one key twice is still compared once within that block
      for (const key of new Set(keys)) {
        const list = members.get(key);
        if (list) list.push(offsets[p]! + i);
        else members.set(key, [offsets[p]! + i]);
      }
    });
  });
  const keys = [...members.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const partyOf = (g: number): number => {
    let p = 0;
    while (p + 1 < offsets.length && offsets[p + 1]! <= g) p++;
    return p;
  };
  let total = 0;
  const kept: number[][] = [];
  const comparisons: number[] = [];
  for (const key of keys) {
    const list = members.get(key)!;
    if (list.length < 2 || partyOf(list[0]!) === partyOf(list[list.length - 1]!)) continue;
    const sizes = new Map<number, number>();
    for (const g of list) sizes.set(partyOf(g), (sizes.get(partyOf(g)) ?? 0) + 1);
    let same = 0;
    for (const s of sizes.values()) same += s * s;
    comparisons.push((list.length * list.length - same) / 2);
    kept.push(list);
    total += list.length;
  }
  const order = new Uint32Array(total);
  const runs = new Uint32Array(kept.length * 2);
  let at = 0;
  kept.forEach((list, r) => {
    runs[2 * r] = at;
    order.set(list, at);
    at += list.length;
    runs[2 * r + 1] = at;
  });
  return { order, runs, comparisons: Float64Array.from(comparisons) };
}
