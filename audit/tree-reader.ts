/**
 * The read side of the audit log: roots, proofs, entries and C2SP tlog-tiles
 * from the stored tree, through an in-memory copy of its hashes.
 *
 * Every stored hash is immutable once committed, so this process keeps a copy
 * (node-cache.ts): what its own batches wrote (after the commit returned),
 * what reads fetched, and at start the whole committed tree (warmCache). A
 * proof at a size this process has seen committed, whose nodes are all held,
 * costs no database round trip; otherwise one statement reads the head and
 * the missing nodes together. `fromStore` reads bypass the copy: the checks
 * that exist to catch a rewritten database must see the rows.
 */
import { PavilionError } from '../common/errors.js';
import { GenerationalCache } from '../common/generational-cache.js';
import type { Sql } from '../storage/postgres.js';
import { hashBytes, type Queryable, storageError, toBuffer } from './db.js';
import {
  nodesForRoot,
  rangeHash,
  rootFromSource,
  type SubtreeHashSource,
  sourceFromFetched,
} from './merkle/assemble.js';
import type { FrontierAppend, TreeNode } from './merkle/frontier.js';
import { concatHashes, HASH_SIZE, parentHashes } from './merkle/hash.js';
import {
  assertTreeSize,
  consistencyProofRanges,
  inclusionProofRanges,
  isPowerOfTwo,
  type LeafRange,
  type NodeId,
  nodeKey,
  nodesForRanges,
} from './merkle/ranges.js';
import { hashesAtTileLevel, TILE_HEIGHT, TILE_WIDTH } from './merkle/tiles.js';
import { NodeCache } from './node-cache.js';
import { type NodeStep, storedLevelUnder } from './schema.js';

/** Nodes per warm-up query: 1 MiB of hashes in one bytea; 2M hashes (61 slabs) load in 0.8–1.0 s on the CI machine. */
const WARM_SLAB = 32_768;

export interface AuditEntry {
  index: number;
  leafHash: Uint8Array;
  /** The RFC 8785 canonical JSON exactly as hashed into the leaf. */
  event: string;
}

/** A range that is exactly one stored perfect subtree: its hash is one row, nothing to memoize. */
function isPerfectRange(r: LeafRange): boolean {
  const width = r.end - r.start;
  return isPowerOfTwo(width) && r.start % width === 0;
}

const rangeKey = (r: LeafRange): string => `${r.start}:${r.end}`;

export class TreeReader {
  /** MTH of multi-node leaf ranges (immutable in an append-only log); see proof(). */
  private readonly rangeMemo = new GenerationalCache<Uint8Array>(4096);
  private readonly nodeCache: NodeCache;
  private committedSize = 0;

  /** `isClosed`: the log was closed (warm-up stops between two reads); `nodeStep`: which levels have rows. */
  constructor(
    private readonly sql: Sql,
    cacheBytes: number,
    private readonly isClosed: () => boolean,
    private readonly nodeStep: NodeStep,
  ) {
    this.nodeCache = new NodeCache(cacheBytes);
  }

  /** Bytes of tree hashes held in memory. */
  get cachedBytes(): number {
    return this.nodeCache.bytes;
  }

  /** What a batch of this process committed: immutable now, so proofs read it from memory. */
  committed(start: number, leafHashes: readonly Uint8Array[], grown: FrontierAppend): void {
    this.sawCommitted(grown.size);
    leafHashes.forEach((hash, i) => {
      this.nodeCache.set(0, start + i, hash);
    });
    for (const node of grown.newNodes) this.nodeCache.set(node.level, node.index, node.hash);
  }

  /** One round trip for any set of perfect subtrees (fetchNodesAndSize). */
  async fetchNodes(q: Queryable, ids: readonly NodeId[]): Promise<TreeNode[]> {
    return (await this.fetchNodesAndSize(q, ids)).nodes;
  }

  /**
   * Subtree hashes plus the committed size, in one statement, so a proof costs one round trip: the size
   * check and the node reads see one snapshot. A node of a level without rows (schema.ts isStoredLevel) is
   * hashed up from the 2, 4 or 8 stored ones under it; a node whose rows are missing is left out, for the
   * caller to report.
   */
  private async fetchNodesAndSize(
    q: Queryable,
    ids: readonly NodeId[],
  ): Promise<{ nodes: TreeNode[]; headSize: number }> {
    // Each node's stored rows are one run of consecutive indices, read as one index range scan per node: a
    // lateral subquery behind `offset 0`, which the planner cannot flatten into a join (it hash-joined the
    // ranges against a scan of all of audit_nodes, 2 ms at 131k leaves).
    const leafRuns: [string[], string[]] = [[], []];
    const nodeRuns: [number[], string[], string[]] = [[], [], []];
    const plans = ids.map((id) => {
      const base = storedLevelUnder(id.level, this.nodeStep);
      return { base, span: 2 ** (id.level - base) };
    });
    for (const [i, id] of ids.entries()) {
      const { base, span } = plans[i]!;
      const [first, end] = [String(id.index * span), String((id.index + 1) * span)];
      if (base === 0) {
        leafRuns[0].push(first);
        leafRuns[1].push(end);
      } else {
        nodeRuns[0].push(base);
        nodeRuns[1].push(first);
        nodeRuns[2].push(end);
      }
    }
    const rows = await q`
      select -1 as level, size::text as idx, null::bytea as hash from audit_head where id
      union all
      select 0, l.idx::text, l.leaf_hash
      from unnest(${leafRuns[0]}::int8[], ${leafRuns[1]}::int8[]) as r(first, stop)
      cross join lateral (select idx, leaf_hash from audit_leaves where idx >= r.first and idx < r.stop offset 0) l
      union all
      select n.level::int, n.idx::text, n.hash
      from unnest(${nodeRuns[0]}::int2[], ${nodeRuns[1]}::int8[], ${nodeRuns[2]}::int8[]) as r(lvl, first, stop)
      cross join lateral (
        select level, idx, hash from audit_nodes where level = r.lvl and idx >= r.first and idx < r.stop offset 0
      ) n`;
    let headSize = -1;
    const stored = new Map<string, Uint8Array>();
    for (const r of rows) {
      const level = Number(r.level);
      if (level < 0) headSize = Number(r.idx);
      else stored.set(nodeKey(level, Number(r.idx)), hashBytes(r.hash));
    }
    if (headSize < 0) throw new PavilionError('LOG_CORRUPT', 'audit head row is missing');
    const nodes: TreeNode[] = [];
    for (const [i, id] of ids.entries()) {
      const { base, span } = plans[i]!;
      const hashes: Uint8Array[] = [];
      for (let k = 0; k < span; k++) {
        const hash = stored.get(nodeKey(base, id.index * span + k));
        if (hash === undefined) break;
        hashes.push(hash);
      }
      if (hashes.length < span) continue;
      let run: Uint8Array = concatHashes(hashes);
      for (let level = base; level < id.level; level++) run = parentHashes(run);
      nodes.push({ level: id.level, index: id.index, hash: run });
    }
    return { nodes, headSize };
  }

  /** Reads what `ids` need and checks `size` against the committed size in the same statement. */
  private async readForSize(size: number, what: string, ids: readonly NodeId[]): Promise<TreeNode[]> {
    let result: { nodes: TreeNode[]; headSize: number };
    try {
      result = await this.fetchNodesAndSize(this.sql, ids);
    } catch (err) {
      throw storageError(err, 'audit read');
    }
    this.sawCommitted(result.headSize);
    if (size > result.headSize)
      throw new PavilionError('SIZE_BEYOND_TREE', `${what} exceeds the committed tree size ${result.headSize}`);
    return result.nodes;
  }

  /** A size seen committed (the head only grows): proofs up to it need no head read. */
  sawCommitted(size: number): void {
    if (size <= this.committedSize) return;
    this.committedSize = size;
    this.nodeCache.growTo(size);
  }

  /** Committed tree size. */
  async size(): Promise<number> {
    try {
      const [head] = await this.sql`select size::text as size from audit_head where id`;
      return Number(head!.size);
    } catch (err) {
      throw storageError(err, 'audit read');
    }
  }

  /** Root at `size` (default: the committed size), from O(log n) stored nodes. */
  async root(size?: number): Promise<Uint8Array> {
    if (size === undefined) {
      const [head] = await this.sql`select root from audit_head where id`.catch((err) => {
        throw storageError(err, 'audit read');
      });
      return hashBytes(head!.root);
    }
    assertTreeSize(size, 'tree size');
    const rows = await this.readForSize(size, 'tree size', nodesForRoot(size));
    return rootFromSource(size, sourceFromFetched(rows));
  }

  async entry(index: number): Promise<AuditEntry> {
    assertTreeSize(index, 'leaf index');
    const rows = await this.sql`select leaf_hash, event from audit_leaves where idx = ${index}::bigint`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    if (rows.length === 0) throw new PavilionError('ENTRY_NOT_FOUND', 'no audit entry at that index');
    return { index, leafHash: hashBytes(rows[0]!.leaf_hash), event: rows[0]!.event as string };
  }

  /** The leaf hash at `index`, from memory when held (see entry() for the event text). */
  async leafHashAt(index: number): Promise<Uint8Array> {
    assertTreeSize(index, 'leaf index');
    const held = index < this.committedSize ? this.nodeCache.get(0, index) : undefined;
    return held ?? (await this.entry(index)).leafHash;
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return this.proof(inclusionProofRanges(index, size), size, 'tree size');
  }

  /** Finds the first leaf with this hash below `size` and proves it. */
  async inclusionProofByLeafHash(leafHash: Uint8Array, size: number): Promise<{ index: number; proof: Uint8Array[] }> {
    if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE)
      throw new PavilionError('HASH_LENGTH', 'leaf hash must be 32 bytes');
    assertTreeSize(size, 'tree size');
    const rows = await this.sql`
      select idx::text as idx from audit_leaves
      where leaf_hash = ${toBuffer(leafHash)} and idx < ${size}::bigint
      order by audit_leaves.idx limit 1`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    if (rows.length === 0)
      throw new PavilionError('ENTRY_NOT_FOUND', 'no audit entry with that leaf hash in the tree of that size');
    const index = Number(rows[0]!.idx);
    return { index, proof: await this.inclusionProof(index, size) };
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    return this.proof(consistencyProofRanges(from, to), to, 'second tree size');
  }

  /**
   * A proof is MTH of each range, from hashes held in memory (NodeCache) when
   * `size` is known to be committed and every node is held; otherwise one
   * round trip reads the head and the missing nodes, which are then held.
   *
   * A range that is not one perfect subtree (the right edge of a tree whose
   * size is not a power of two) folds several stored nodes with fresh SHA-256
   * calls, and every proof at that size shares those ranges. MTH(D[start:end])
   * of an append-only log never changes, so those hashes are memoized too
   * (measured at 1M leaves: ~55 KB allocated per proof before, most of it in
   * this folding, and its scavenges made the p99 tail).
   *
   * `fromStore`: read every node from the database, use no memory; for the
   * checks that exist to catch a rewritten database.
   */
  async proof(ranges: LeafRange[], size: number, what: string, fromStore = false): Promise<Uint8Array[]> {
    const cache = this.nodeCache;
    const known = ranges.map((r) => (fromStore || isPerfectRange(r) ? undefined : this.rangeMemo.get(rangeKey(r))));
    const needed = nodesForRanges(ranges.filter((_, i) => known[i] === undefined));
    const missing = fromStore ? needed : needed.filter((id) => cache.get(id.level, id.index) === undefined);
    let fetched: SubtreeHashSource | undefined;
    if (missing.length > 0 || size > this.committedSize) {
      const rows = await this.readForSize(size, what, missing);
      if (!fromStore) for (const row of rows) cache.set(row.level, row.index, row.hash);
      fetched = sourceFromFetched(rows);
    }
    const source: SubtreeHashSource = fromStore
      ? fetched!
      : (level, index) => cache.get(level, index) ?? fetched!(level, index);
    return ranges.map((r, i) => {
      const memo = known[i];
      if (memo !== undefined) return memo;
      const hash = rangeHash(r, source);
      if (!fromStore && !isPerfectRange(r)) this.rangeMemo.set(rangeKey(r), hash);
      return hash;
    });
  }

  /**
   * Reads the committed tree's hashes into memory, top levels first, down to the lowest level the cache
   * budget holds: each stored level (schema.ts isStoredLevel) in slabs of 32k nodes, one query each, and the
   * levels above it up to the next stored one hashed up from the slab (a slab starts at a multiple of 8, so
   * its parents are whole). The broker runs it in the background at start; proofs meanwhile read the
   * database. Resolves with the number of hashes loaded; stops early once the log is closed.
   */
  async warmCache(): Promise<number> {
    let loaded = 0;
    try {
      const [head] = await this.sql`select size::text as size from audit_head where id`;
      const size = Number(head!.size);
      this.sawCommitted(size);
      const top = Math.floor(Math.log2(Math.max(1, size)));
      for (let base = storedLevelUnder(top, this.nodeStep); base >= 0; base -= this.nodeStep) {
        const highest = Math.min(top, base + this.nodeStep - 1);
        if (!this.nodeCache.holds(highest)) break;
        const count = Math.floor(size / 2 ** base);
        for (let first = 0; first < count; first += WARM_SLAB) {
          if (this.isClosed()) return loaded;
          const end = Math.min(count, first + WARM_SLAB);
          let run = await this.readRun(base, first, end);
          if (this.nodeCache.holds(base)) loaded += end - first;
          for (let level = base + 1; level <= highest && run.length >= 2 * HASH_SIZE; level++) {
            run = parentHashes(run);
            this.nodeCache.setRun(level, first / 2 ** (level - base), run);
            if (this.nodeCache.holds(level)) loaded += run.length / HASH_SIZE;
          }
        }
      }
    } catch (err) {
      throw storageError(err, 'audit cache warm-up');
    }
    return loaded;
  }

  /**
   * Stored hashes of tree level `level` (a stored level), nodes [first, end), concatenated,
   * in one query (and then held in memory). LOG_CORRUPT if any is missing.
   */
  private async readRun(level: number, first: number, end: number): Promise<Uint8Array> {
    const [row] =
      level === 0
        ? await this.sql`select count(*)::int as n, string_agg(leaf_hash, ''::bytea order by idx) as hashes
            from audit_leaves where idx >= ${first}::bigint and idx < ${end}::bigint`
        : await this.sql`select count(*)::int as n, string_agg(hash, ''::bytea order by idx) as hashes
            from audit_nodes where level = ${level} and idx >= ${first}::bigint and idx < ${end}::bigint`;
    const hashes = row!.hashes as Buffer | null;
    if (row!.n !== end - first || hashes?.length !== (end - first) * HASH_SIZE) {
      throw new PavilionError('LOG_CORRUPT', `stored tree level ${level} is missing nodes in [${first}, ${end})`);
    }
    const run = hashBytes(hashes);
    this.nodeCache.setRun(level, first, run);
    return run;
  }

  /**
   * Tile (level, index) of `width` hashes (merkle/tiles.ts): the hashes of
   * tree level 8·level, nodes [index·256, index·256 + width), concatenated;
   * from memory when held. TILE_NOT_FOUND (404) unless the committed tree
   * has every one of them: a tile's content never changes once it exists.
   */
  async tile(level: number, index: number, width: number): Promise<Uint8Array> {
    const first = index * TILE_WIDTH;
    await this.requireTileHashes(level, first + width);
    const treeLevel = TILE_HEIGHT * level;
    const out = new Uint8Array(width * HASH_SIZE);
    for (let i = 0; i < width; i++) {
      const held = this.nodeCache.get(treeLevel, first + i);
      if (held === undefined) {
        try {
          return await this.readRun(treeLevel, first, first + width);
        } catch (err) {
          throw storageError(err, 'audit read');
        }
      }
      out.set(held, i * HASH_SIZE);
    }
    return out;
  }

  /**
   * Entry bundle `index` of `width` entries: the canonical events of leaves
   * [index·256, index·256 + width), each as a big-endian uint16 length and
   * its UTF-8 bytes (MAX_EVENT_BYTES keeps every event within that length).
   */
  async entryBundle(index: number, width: number): Promise<Uint8Array> {
    const first = index * TILE_WIDTH;
    await this.requireTileHashes(0, first + width);
    const rows = await this.sql`select event from audit_leaves
        where idx >= ${first}::bigint and idx < ${first + width}::bigint order by idx`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    if (rows.length !== width)
      throw new PavilionError('LOG_CORRUPT', `stored leaves are missing in [${first}, ${first + width})`);
    const events = rows.map((r) => Buffer.from(r.event as string, 'utf8'));
    const out = Buffer.allocUnsafe(events.reduce((sum, e) => sum + 2 + e.length, 0));
    let at = 0;
    for (const e of events) {
      at = out.writeUInt16BE(e.length, at);
      at += e.copy(out, at);
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /**
   * TILE_NOT_FOUND unless the committed tree has `needed` hashes at tile level `level` (re-reads the head once if
   * this process's view is short).
   */
  private async requireTileHashes(level: number, needed: number): Promise<void> {
    if (hashesAtTileLevel(this.committedSize, level) >= needed) return;
    this.sawCommitted(await this.size());
    if (hashesAtTileLevel(this.committedSize, level) < needed)
      throw new PavilionError('TILE_NOT_FOUND', 'the committed tree does not have that tile yet');
  }
}
