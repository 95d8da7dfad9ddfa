/**
 * An in-memory copy of the stored tree's hashes, so a proof at a size this
 * process knows to be committed needs no database round trip.
 *
 * Why: on the 2-core CI machine a bare `select 1` to a local Postgres has a
 * p99 of 0.57–0.89 ms by itself (.scratch measurement, 3 runs of 3,000), so a
 * proof that reads rows cannot hold a p99 under 1 ms at 1M leaves. From
 * memory a proof is about 40 look-ups and a few SHA-256 calls.
 *
 * Sound because stored hashes are immutable: a leaf hash, or the hash of a
 * perfect subtree, never changes once committed to an append-only log
 * (RFC 9162 §2.1.1 defines it from the leaves under it alone). Entries come
 * from this process's own commits (after the commit returned) and from rows
 * it read. The checks that exist to catch a rewritten database (the stored
 * edge before an append, the stored consistency proof before signing) read
 * the database, never this cache; a rewrite is also seen by every process
 * that reads the rows later (a restart, a replica), and by auditors then.
 *
 * Memory: hashes live in chunks of 256 consecutive nodes of one level (8 KiB,
 * the width of a C2SP tlog-tiles tile), for the levels from the top down to
 * the lowest one at which the whole tree still fits the byte budget. Upper
 * levels are what every proof shares; levels below the floor are read from
 * the database (one round trip for the few rows a proof needs there). All
 * levels of n leaves take about 64·n bytes: 1M leaves ≈ 61 MiB.
 */
import { HASH_SIZE } from './merkle/hash.js';

const CHUNK_NODES = 256;
const CHUNK_BYTES = CHUNK_NODES * HASH_SIZE;

interface Chunk {
  hashes: Uint8Array;
  /** present[i] = 1 once slot i holds a hash (a real SHA-256 is never known to be all zeros, but a flag is plainer). */
  present: Uint8Array;
}

/** Complete perfect subtrees at `level` in a tree of `size` leaves. */
function nodesAtLevel(size: number, level: number): number {
  return Math.floor(size / 2 ** level);
}

/** Bytes that all chunks of levels ≥ `floor` take for a tree of `size` leaves. */
function bytesFrom(size: number, floor: number): number {
  let bytes = 0;
  for (let level = floor; nodesAtLevel(size, level) > 0; level++)
    bytes += Math.ceil(nodesAtLevel(size, level) / CHUNK_NODES) * CHUNK_BYTES;
  return bytes;
}

export class NodeCache {
  /** levels[L][c] holds nodes [256c, 256c + 256) of level L. */
  private readonly levels: (Chunk | undefined)[][] = [];
  /** Lowest level kept; Infinity when not even the top level fits. */
  private floor = 0;
  private sizedFor = 0;
  private chunks = 0;

  /** `maxBytes` 0 disables the cache (every proof reads the database). */
  constructor(readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new RangeError('cache bytes must be a non-negative integer');
    if (maxBytes < CHUNK_BYTES) this.floor = Infinity;
  }

  /** The lowest level held for the current tree size (Infinity: nothing held). */
  get lowestLevel(): number {
    return this.floor;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.chunks * CHUNK_BYTES;
  }

  /**
   * Tells the cache the tree has `size` leaves: as the tree grows the floor
   * rises to keep the whole of every level held within the budget, and the
   * levels below it are dropped.
   */
  growTo(size: number): void {
    if (size <= this.sizedFor || this.floor === Infinity) return;
    this.sizedFor = size;
    let floor = this.floor;
    while (nodesAtLevel(size, floor) > 0 && bytesFrom(size, floor) > this.maxBytes) floor++;
    for (let level = this.floor; level < floor; level++) {
      for (const chunk of this.levels[level] ?? []) if (chunk) this.chunks--;
      this.levels[level] = [];
    }
    this.floor = floor;
  }

  /** Whether `level` is one the cache holds for the current size. */
  holds(level: number): boolean {
    return level >= this.floor;
  }

  /** The hash of node (level, index), as a view into the cache (do not modify), or undefined. */
  get(level: number, index: number): Uint8Array | undefined {
    if (level < this.floor) return undefined;
    const chunk = this.levels[level]?.[Math.floor(index / CHUNK_NODES)];
    const slot = index % CHUNK_NODES;
    if (chunk === undefined || chunk.present[slot] === 0) return undefined;
    return chunk.hashes.subarray(slot * HASH_SIZE, (slot + 1) * HASH_SIZE);
  }

  set(level: number, index: number, hash: Uint8Array): void {
    if (level < this.floor || hash.length !== HASH_SIZE) return;
    const chunk = this.chunkFor(level, Math.floor(index / CHUNK_NODES));
    const slot = index % CHUNK_NODES;
    chunk.hashes.set(hash, slot * HASH_SIZE);
    chunk.present[slot] = 1;
  }

  /** Consecutive nodes of one level, `hashes` their concatenation, starting at `first`. */
  setRun(level: number, first: number, hashes: Uint8Array): void {
    if (level < this.floor) return;
    const count = Math.floor(hashes.length / HASH_SIZE);
    for (let i = 0; i < count; ) {
      const index = first + i;
      const slot = index % CHUNK_NODES;
      const n = Math.min(CHUNK_NODES - slot, count - i);
      const chunk = this.chunkFor(level, Math.floor(index / CHUNK_NODES));
      chunk.hashes.set(hashes.subarray(i * HASH_SIZE, (i + n) * HASH_SIZE), slot * HASH_SIZE);
      chunk.present.fill(1, slot, slot + n);
      i += n;
    }
  }

  private chunkFor(level: number, chunkIndex: number): Chunk {
    while (this.levels.length <= level) this.levels.push([]);
    const chunks = this.levels[level]!;
    let chunk = chunks[chunkIndex];
    if (chunk === undefined) {
      chunk = { hashes: new Uint8Array(CHUNK_BYTES), present: new Uint8Array(CHUNK_NODES) };
      chunks[chunkIndex] = chunk;
      this.chunks++;
    }
    return chunk;
  }
}
