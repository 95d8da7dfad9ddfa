/**
 * The verifiable audit log stored in Postgres: RFC 9162 tree, group-committed
 * appends, signed C2SP checkpoints, proofs and tlog-proof receipts.
 *
 * Storage (audit/schema.ts): leaves by gapless index, perfect-subtree hashes by
 * (level, index) written once when each subtree completes, a single head row
 * with the committed size and root, and signed checkpoints.
 *
 * Appends: `append` canonicalises and hashes the event in the caller's turn,
 * then joins the next group commit (audit/group-commit.ts). A flush computes
 * the batch's new nodes from the tree's right edge and calls the SQL function
 * audit_append, which locks the head row, checks the size it expects, inserts
 * every leaf and every completed node with one `INSERT … SELECT FROM
 * unnest(...)` per table and moves the head — one statement, one round trip,
 * one commit. When another process moved the head (or on the first flush) the
 * writer re-reads the edge (O(log n) rows) under the lock in a transaction.
 * The appends of a batch resolve only after its commit returned.
 */
import type postgres from 'postgres';
import { PavilionError, isPavilionError } from '../common/errors.js';
import type { Sql } from '../storage/postgres.js';
import { migrate } from '../storage/postgres.js';
import { signCheckpoint } from './checkpoint.js';
import { canonicalEvent, eventLeafHash } from './event.js';
import { GroupCommitter } from './group-commit.js';
import { nodesForRoot, rangeHash, rootFromSource, sourceFromFetched, type SubtreeHashSource } from './merkle/assemble.js';
import { appendToFrontier, frontierRoot, type FrontierAppend, type TreeNode } from './merkle/frontier.js';
import { HASH_SIZE, bytesEqual } from './merkle/hash.js';
import { verifyConsistency } from './merkle/verify.js';
import {
  assertTreeSize,
  consistencyProofRanges,
  inclusionProofRanges,
  isPowerOfTwo,
  nodesForRanges,
  perfectSubtrees,
  type LeafRange,
  type NodeId,
} from './merkle/ranges.js';
import { GenerationalCache } from '../common/generational-cache.js';
import { generateSignerKey, parseSignerKey, signerKeyFromSeed, type NoteSigner } from './note.js';
import { decodeBase64Strict } from './base64.js';
import { encodeAnchorExtra, formatReceipt, parseReceipt, verifyReceipt, type AnchorReference, type ReceiptSubject, type VerifiedReceipt } from './receipt.js';
import { NodeCache } from './node-cache.js';
import { TILE_HEIGHT, TILE_WIDTH, hashesAtTileLevel } from './merkle/tiles.js';
import { AUDIT_MIGRATIONS } from './schema.js';

export const DEFAULT_ORIGIN = 'pavilion.local/audit';
/**
 * Batch cap. The cap only binds under load (batches are adaptive); then a
 * batch's cost is dominated by the fixed per-commit cost, so a larger cap buys
 * throughput: bench/audit.ts on the 2-core dev box, real Postgres 15, measured
 * 12.6k events/s at cap 256, 14.6k at 512, 31k at 1024.
 */
export const DEFAULT_MAX_BATCH = 1024;
export const DEFAULT_CACHE_BYTES = 128 * 1024 * 1024;
/** Nodes per warm-up query: 1 MiB of hashes in one bytea; 2M hashes (61 slabs) load in 0.8–1.0 s on the CI machine. */
const WARM_SLAB = 32_768;

export interface OpenAuditLogOptions {
  sql: Sql;
  /** Log identity: first line of every checkpoint and the signer key name when generated. */
  origin?: string;
  /**
   * Ed25519 signer key(s) as Go note strings `PRIVATE+KEY+<name>+<id>+<key>`,
   * or bare 32-byte seeds (hex or base64; the key name is then the origin).
   * The first is the log's primary key; every key listed signs each
   * checkpoint (key rotation: list new and old during the overlap). Absent →
   * a key generated on first start, stored in table audit_signing_keys.
   */
  signerKey?: string | string[];
  /** Sign a checkpoint every `leaves` new leaves and/or every `ms` when the tree grew. */
  checkpointEvery?: { leaves?: number; ms?: number };
  /** Most appends per transaction (default 1024). */
  maxBatch?: number;
  /** Optional linger for a fuller batch when the connection is free (default 0: none). */
  maxWaitMs?: number;
  /** Appends allowed to wait before AUDIT_OVERLOADED (default 100 000). */
  maxQueued?: number;
  /** Called with background checkpoint failures (the timer trigger has no caller to tell). */
  onBackgroundError?: (err: unknown) => void;
  /**
   * Bytes of tree hashes kept in memory to serve proofs without a database
   * round trip (audit/node-cache.ts; default 128 MiB ≈ every level of a 2M-leaf
   * tree, upper levels only beyond that). 0: every proof reads the database.
   */
  cacheBytes?: number;
}

export interface AppendResult {
  index: number;
  leafHash: Uint8Array;
}

export interface AuditEntry {
  index: number;
  leafHash: Uint8Array;
  /** The RFC 8785 canonical JSON exactly as hashed into the leaf. */
  event: string;
}

export interface StoredCheckpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The signed note (C2SP signed-note over a C2SP tlog-checkpoint body). */
  note: string;
  createdAt: Date;
}

interface PreparedEntry {
  canonical: string;
  leafHash: Uint8Array;
}

type Queryable = Sql | postgres.TransactionSql;

function storageError(err: unknown, what: string): PavilionError {
  if (isPavilionError(err)) return err;
  // Driver messages can quote row values (event text); keep only the SQLSTATE.
  const code = (err as { code?: string }).code ?? 'unknown';
  return new PavilionError('AUDIT_UNAVAILABLE', `${what} failed (${code})`, 503, { cause: err });
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function concatHashes(hashes: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => out.set(h, i * HASH_SIZE));
  return out;
}

function hashBytes(value: unknown): Uint8Array {
  const b = value as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A range that is exactly one stored perfect subtree: its hash is one row, nothing to memoize. */
function isPerfectRange(r: LeafRange): boolean {
  const width = r.end - r.start;
  return isPowerOfTwo(width) && r.start % width === 0;
}

const rangeKey = (r: LeafRange): string => `${r.start}:${r.end}`;

export class AuditLog {
  /** MTH of multi-node leaf ranges (immutable in an append-only log); see proofFromRanges. */
  private readonly rangeMemo = new GenerationalCache<Uint8Array>(4096);
  private readonly nodeCache: NodeCache;
  /** A size this process has seen committed (the head only grows); proofs up to it need no head read. */
  private committedSize = 0;
  readonly origin: string;
  /** The primary verifier key string `<name>+<id>+<base64>` to publish. */
  readonly verifierKey: string;
  /** Verifier keys of every configured signer (primary first). */
  readonly verifierKeys: string[];

  private readonly sql: Sql;
  private readonly signers: NoteSigner[];
  private readonly committer: GroupCommitter<PreparedEntry, AppendResult>;
  private readonly checkpointLeaves: number | undefined;
  private readonly onBackgroundError: (err: unknown) => void;
  private timer: NodeJS.Timeout | null = null;
  /** This process's view of the right edge after its last commit; null = re-read under the lock. */
  private edge: { size: number; frontier: TreeNode[] } | null = null;
  private lastCheckpointSize = 0;
  private checkpointing: Promise<StoredCheckpoint | undefined> | null = null;
  private closed = false;

  /** @internal use openAuditLog */
  constructor(sql: Sql, origin: string, signers: NoteSigner[], opts: OpenAuditLogOptions, lastCheckpointSize: number) {
    this.sql = sql;
    this.origin = origin;
    this.signers = signers;
    this.verifierKeys = signers.map((s) => s.verifierKey);
    this.verifierKey = this.verifierKeys[0]!;
    this.lastCheckpointSize = lastCheckpointSize;
    this.nodeCache = new NodeCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.checkpointLeaves = opts.checkpointEvery?.leaves;
    this.onBackgroundError = opts.onBackgroundError ?? (() => {});
    this.committer = new GroupCommitter((items) => this.flush(items), {
      maxBatch: opts.maxBatch ?? DEFAULT_MAX_BATCH,
      maxWaitMs: opts.maxWaitMs ?? 0,
      maxQueued: opts.maxQueued ?? 100_000,
    });
    const ms = opts.checkpointEvery?.ms;
    if (ms !== undefined) {
      this.timer = setInterval(() => {
        this.maybeCheckpoint(1).catch((err) => this.onBackgroundError(err));
      }, ms);
      this.timer.unref();
    }
  }

  /** Bytes of tree hashes held in memory (see NodeCache). */
  get cachedBytes(): number {
    return this.nodeCache.bytes;
  }

  /** Sizes of recent group-commit batches (newest last), for metrics. */
  get recentBatchSizes(): readonly number[] {
    return this.committer.batchSizes;
  }

  // ---------------------------------------------------------------- appends

  /**
   * Appends an event (a plain JSON object without raw PII, see README.md) and
   * resolves once the transaction holding it has committed.
   * Throws EVENT_INVALID for non-JSON input, AUDIT_UNAVAILABLE if the batch's
   * transaction failed (the event is then NOT in the log), AUDIT_OVERLOADED,
   * AUDIT_CLOSED.
   */
  append(event: object): Promise<AppendResult> {
    let prepared: PreparedEntry;
    try {
      const canonical = canonicalEvent(event);
      prepared = { canonical, leafHash: eventLeafHash(canonical) };
    } catch (err) {
      return Promise.reject(err);
    }
    return this.committer.submit(prepared);
  }

  private async flush(items: PreparedEntry[]): Promise<AppendResult[]> {
    const leafHashes = items.map((i) => i.leafHash);
    let committed: { start: number; grown: FrontierAppend } | null = null;
    try {
      // Fast path: this process wrote the head last, so it already knows the
      // tree's right edge. One statement in autocommit, i.e. one round trip
      // plus the commit's WAL flush. The function re-checks the size under
      // the head lock and writes nothing if another writer moved it.
      if (this.edge) {
        const grown = appendToFrontier(this.edge.size, this.edge.frontier, leafHashes);
        const seen = await this.callAppend(this.sql, this.edge.size, items, grown);
        if (seen === this.edge.size) committed = { start: this.edge.size, grown };
        else this.edge = null;
      }
      // Slow path (first flush, or another process appended meanwhile): lock
      // the head in a transaction, read the edge (O(log n) rows), append.
      committed ??= await this.sql.begin(async (tx) => {
        const [head] = await tx`select size::text as size, root from audit_head where id for update`;
        if (!head) throw new PavilionError('LOG_CORRUPT', 'audit head row is missing', 500);
        const start = Number(head.size);
        const frontier = await this.loadFrontier(tx, start);
        // Never extend a tree whose stored right edge does not produce the
        // committed root: new nodes would be built on corrupted ones.
        if (!bytesEqual(frontierRoot(frontier), hashBytes(head.root))) {
          throw new PavilionError('LOG_CORRUPT', 'stored tree edge does not match the committed root', 500);
        }
        const grown = appendToFrontier(start, frontier, leafHashes);
        const seen = await this.callAppend(tx, start, items, grown);
        if (seen !== start) throw new PavilionError('LOG_CORRUPT', 'audit head moved while locked', 500);
        return { start, grown };
      });
    } catch (err) {
      this.edge = null;
      throw storageError(err, 'audit append');
    }
    const { start, grown } = committed;
    this.edge = { size: grown.size, frontier: grown.frontier };
    // Committed, so immutable: what this batch wrote is what proofs will read.
    this.sawCommitted(grown.size);
    leafHashes.forEach((hash, i) => this.nodeCache.set(0, start + i, hash));
    for (const node of grown.newNodes) this.nodeCache.set(node.level, node.index, node.hash);
    if (this.checkpointLeaves !== undefined && grown.size - this.lastCheckpointSize >= this.checkpointLeaves) {
      this.maybeCheckpoint(this.checkpointLeaves).catch((err) => this.onBackgroundError(err));
    }
    return items.map((item, i) => ({ index: start + i, leafHash: item.leafHash }));
  }

  /** Calls audit_append (audit/schema.ts); returns the head size it found (== start when it wrote). */
  private async callAppend(q: Queryable, start: number, items: PreparedEntry[], grown: FrontierAppend): Promise<number> {
    const [row] = await q`
      select audit_append(
        ${start}::bigint,
        ${concatHashes(items.map((i) => i.leafHash))}::bytea,
        ${items.map((i) => i.canonical)}::text[],
        ${grown.newNodes.map((n) => n.level)}::int2[],
        ${grown.newNodes.map((n) => String(n.index))}::int8[],
        ${concatHashes(grown.newNodes.map((n) => n.hash))}::bytea,
        ${grown.size}::bigint,
        ${toBuffer(grown.root)}::bytea
      )::text as seen`;
    return Number(row!.seen);
  }

  private async loadFrontier(q: Queryable, size: number): Promise<TreeNode[]> {
    const ids = perfectSubtrees(0, size);
    const rows = await this.fetchNodes(q, ids);
    const source = sourceFromFetched(rows);
    return ids.map((id) => ({ ...id, hash: source(id.level, id.index) }));
  }

  /** One round trip for any set of stored subtrees: leaves for level 0, nodes above. */
  private async fetchNodes(q: Queryable, ids: readonly NodeId[]): Promise<TreeNode[]> {
    return (await this.fetchNodesAndSize(q, ids)).nodes;
  }

  /**
   * Stored subtrees plus the committed size, in one statement, so a proof
   * costs one round trip: the size check and the node reads see one snapshot.
   */
  private async fetchNodesAndSize(q: Queryable, ids: readonly NodeId[]): Promise<{ nodes: TreeNode[]; headSize: number }> {
    const leafIdx = ids.filter((id) => id.level === 0).map((id) => String(id.index));
    const upper = ids.filter((id) => id.level > 0);
    const rows = await q`
      select -1 as level, size::text as idx, null::bytea as hash from audit_head where id
      union all
      select 0, idx::text, leaf_hash from audit_leaves where idx = any(${leafIdx}::int8[])
      union all
      select n.level::int, n.idx::text, n.hash
      from audit_nodes n
      join unnest(${upper.map((id) => id.level)}::int2[], ${upper.map((id) => String(id.index))}::int8[]) as t(lvl, i)
        on n.level = t.lvl and n.idx = t.i`;
    let headSize = -1;
    const nodes: TreeNode[] = [];
    for (const r of rows) {
      const level = Number(r.level);
      if (level < 0) headSize = Number(r.idx);
      else nodes.push({ level, index: Number(r.idx), hash: hashBytes(r.hash) });
    }
    if (headSize < 0) throw new PavilionError('LOG_CORRUPT', 'audit head row is missing', 500);
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
    if (size > result.headSize) throw new PavilionError('SIZE_INVALID', `${what} exceeds the committed tree size`);
    return result.nodes;
  }

  private sawCommitted(size: number): void {
    if (size <= this.committedSize) return;
    this.committedSize = size;
    this.nodeCache.growTo(size);
  }

  // ---------------------------------------------------------------- reads

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
    if (rows.length === 0) throw new PavilionError('ENTRY_NOT_FOUND', 'no audit entry at that index', 404);
    return { index, leafHash: hashBytes(rows[0]!.leaf_hash), event: rows[0]!.event as string };
  }

  /** The leaf hash at `index`, from memory when held (see entry() for the event text). */
  async leafHashAt(index: number): Promise<Uint8Array> {
    assertTreeSize(index, 'leaf index');
    const held = index < this.committedSize ? this.nodeCache.get(0, index) : undefined;
    return held ?? (await this.entry(index)).leafHash;
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return this.proofFromRanges(inclusionProofRanges(index, size), size, 'tree size');
  }

  /** Finds the first leaf with this hash below `size` and proves it. */
  async inclusionProofByLeafHash(leafHash: Uint8Array, size: number): Promise<{ index: number; proof: Uint8Array[] }> {
    if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE) throw new PavilionError('HASH_LENGTH', 'leaf hash must be 32 bytes');
    assertTreeSize(size, 'tree size');
    const rows = await this.sql`
      select idx::text as idx from audit_leaves where leaf_hash = ${toBuffer(leafHash)} and idx < ${size}::bigint order by audit_leaves.idx limit 1`.catch(
      (err) => {
        throw storageError(err, 'audit read');
      },
    );
    if (rows.length === 0) throw new PavilionError('ENTRY_NOT_FOUND', 'no audit entry with that leaf hash in the tree of that size', 404);
    const index = Number(rows[0]!.idx);
    return { index, proof: await this.inclusionProof(index, size) };
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    return this.proofFromRanges(consistencyProofRanges(from, to), to, 'second tree size');
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
  private async proofFromRanges(ranges: LeafRange[], size: number, what: string, fromStore = false): Promise<Uint8Array[]> {
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
    const source: SubtreeHashSource = fromStore ? fetched! : (level, index) => cache.get(level, index) ?? fetched!(level, index);
    return ranges.map((r, i) => {
      const memo = known[i];
      if (memo !== undefined) return memo;
      const hash = rangeHash(r, source);
      if (!fromStore && !isPerfectRange(r)) this.rangeMemo.set(rangeKey(r), hash);
      return hash;
    });
  }

  /**
   * Reads the committed tree's hashes into memory, top level first, down to
   * the lowest level the cache budget holds (one query per 32k nodes). The
   * broker runs it in the background at start; proofs meanwhile read the
   * database. Resolves with the number of hashes loaded; stops early once
   * the log is closed.
   */
  async warmCache(): Promise<number> {
    let loaded = 0;
    try {
      const [head] = await this.sql`select size::text as size from audit_head where id`;
      const size = Number(head!.size);
      this.sawCommitted(size);
      for (let level = Math.floor(Math.log2(Math.max(1, size))); level >= 0 && this.nodeCache.holds(level); level--) {
        const count = Math.floor(size / 2 ** level);
        for (let first = 0; first < count; first += WARM_SLAB) {
          if (this.closed) return loaded;
          const end = Math.min(count, first + WARM_SLAB);
          await this.readRun(level, first, end);
          loaded += end - first;
        }
      }
    } catch (err) {
      throw storageError(err, 'audit cache warm-up');
    }
    return loaded;
  }

  /**
   * Stored hashes of tree level `level`, nodes [first, end), concatenated,
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
      throw new PavilionError('LOG_CORRUPT', `stored tree level ${level} is missing nodes in [${first}, ${end})`, 500);
    }
    const run = hashBytes(hashes);
    this.nodeCache.setRun(level, first, run);
    return run;
  }

  // ---------------------------------------------------------------- tiles (C2SP tlog-tiles)

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
    const rows = await this.sql`select event from audit_leaves where idx >= ${first}::bigint and idx < ${first + width}::bigint order by idx`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    if (rows.length !== width) throw new PavilionError('LOG_CORRUPT', `stored leaves are missing in [${first}, ${first + width})`, 500);
    const events = rows.map((r) => Buffer.from(r.event as string, 'utf8'));
    const out = Buffer.allocUnsafe(events.reduce((sum, e) => sum + 2 + e.length, 0));
    let at = 0;
    for (const e of events) {
      at = out.writeUInt16BE(e.length, at);
      at += e.copy(out, at);
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /** TILE_NOT_FOUND unless the committed tree has `needed` hashes at tile level `level` (re-reads the head once if this process's view is short). */
  private async requireTileHashes(level: number, needed: number): Promise<void> {
    if (hashesAtTileLevel(this.committedSize, level) >= needed) return;
    this.sawCommitted(await this.size());
    if (hashesAtTileLevel(this.committedSize, level) < needed) throw new PavilionError('TILE_NOT_FOUND', 'the committed tree does not have that tile yet', 404);
  }

  // ---------------------------------------------------------------- checkpoints

  /** The newest signed checkpoint, or undefined while none was signed (shape fits anchoring's CheckpointSource). */
  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const rows = await this.sql`select size::text as size, root, note, created_at from audit_checkpoints order by audit_checkpoints.size desc limit 1`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    return rows.length === 0 ? undefined : this.toStoredCheckpoint(rows[0]!);
  }

  /** The checkpoint signed at exactly `size`, or undefined. */
  async checkpointAt(size: number): Promise<StoredCheckpoint | undefined> {
    assertTreeSize(size, 'tree size');
    const rows = await this.sql`select size::text as size, root, note, created_at from audit_checkpoints where size = ${size}::bigint`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    return rows.length === 0 ? undefined : this.toStoredCheckpoint(rows[0]!);
  }

  /**
   * Signs a checkpoint for the committed head now, unless one exists for that
   * size already (then returns it). The first call on an empty log signs size 0.
   */
  async checkpoint(): Promise<StoredCheckpoint> {
    const cp = await this.maybeCheckpoint(0, true);
    return cp ?? (await this.latestCheckpoint())!;
  }

  /** Signs the head if it grew by at least `minGrowth` since the last checkpoint. One at a time. */
  private maybeCheckpoint(minGrowth: number, force = false): Promise<StoredCheckpoint | undefined> {
    if (this.checkpointing) {
      // A forced caller must see a checkpoint covering the head it asked about.
      return force ? this.checkpointing.then(() => this.maybeCheckpoint(minGrowth, force)) : this.checkpointing;
    }
    this.checkpointing = this.signHead(minGrowth, force).finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  private async signHead(minGrowth: number, force: boolean): Promise<StoredCheckpoint | undefined> {
    try {
      const [head] = await this.sql`select size::text as size, root from audit_head where id`;
      const size = Number(head!.size);
      const existing = await this.checkpointAt(size);
      if (existing) {
        this.lastCheckpointSize = Math.max(this.lastCheckpointSize, size);
        return existing;
      }
      const latest = await this.latestCheckpoint();
      const last = latest?.size ?? 0;
      this.lastCheckpointSize = Math.max(this.lastCheckpointSize, last);
      if (!force && (size - last < Math.max(1, minGrowth) || size <= last)) return undefined;
      if (latest && size < latest.size) return latest; // another process signed a larger head meanwhile
      const root = hashBytes(head!.root);
      // C2SP tlog-checkpoint: a log MUST NOT sign a checkpoint inconsistent
      // with one it signed before. Prove it from the stored tree first.
      if (latest && latest.size > 0) {
        try {
          const proof = await this.proofFromRanges(consistencyProofRanges(latest.size, size), size, 'tree size', true);
          verifyConsistency(latest.size, size, proof, latest.root, root);
        } catch (err) {
          throw new PavilionError('LOG_CORRUPT', 'the committed tree is not consistent with the last signed checkpoint', 500, { cause: err });
        }
      }
      const note = signCheckpoint({ origin: this.origin, size, root }, this.signers);
      // Several processes may sign the same head: identical size and root, so
      // the first insert wins and the others read it back.
      await this.sql`
        insert into audit_checkpoints (size, root, note) values (${size}::bigint, ${toBuffer(root)}, ${note})
        on conflict (size) do nothing`;
      this.lastCheckpointSize = Math.max(this.lastCheckpointSize, size);
      return await this.checkpointAt(size);
    } catch (err) {
      throw storageError(err, 'checkpoint signing');
    }
  }

  // ---------------------------------------------------------------- receipts

  /**
   * A C2SP tlog-proof receipt for the leaf at `index`, against the latest
   * checkpoint, or with `anchor`, against the checkpoint of the anchored size
   * (and the anchor reference in the `extra` line). RECEIPT_NOT_READY (409)
   * until a checkpoint covers the leaf.
   */
  async receipt(index: number, opts: { anchor?: AnchorReference } = {}): Promise<string> {
    assertTreeSize(index, 'leaf index');
    const extra = opts.anchor ? encodeAnchorExtra(opts.anchor) : undefined;
    const cp = opts.anchor ? await this.checkpointAt(opts.anchor.size) : await this.latestCheckpoint();
    if (!cp) {
      throw opts.anchor
        ? new PavilionError('CHECKPOINT_NOT_FOUND', 'no checkpoint was signed at the anchored tree size', 404)
        : new PavilionError('RECEIPT_NOT_READY', 'no checkpoint has been signed yet', 409);
    }
    if (index >= cp.size) throw new PavilionError('RECEIPT_NOT_READY', 'the entry is not covered by a signed checkpoint yet', 409);
    const proof = await this.inclusionProof(index, cp.size);
    return formatReceipt({ index, proof, checkpointNote: cp.note, ...(extra ? { extra } : {}) });
  }

  /**
   * verifyReceipt with this log's own verifier keys and origin. Without a
   * subject, the leaf is taken from the stored entry at the receipt's index,
   * re-hashed from its canonical event text (so a rewritten event row fails).
   */
  async verifyReceipt(text: string, subject?: ReceiptSubject): Promise<VerifiedReceipt> {
    if (subject) return verifyReceipt(text, this.verifierKeys, subject, { origin: this.origin });
    const { index } = parseReceipt(text);
    const entry = await this.entry(index);
    return verifyReceipt(text, this.verifierKeys, { event: entry.event }, { origin: this.origin });
  }

  private toStoredCheckpoint(row: postgres.Row): StoredCheckpoint {
    return { origin: this.origin, size: Number(row.size), root: hashBytes(row.root), note: row.note as string, createdAt: row.created_at as Date };
  }

  /** Stops the checkpoint timer and waits for every pending append to commit. Does not close `sql`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.committer.close();
    if (this.checkpointing) await this.checkpointing.catch(() => {});
  }
}


/**
 * Applies the audit migrations, loads or creates the signer key, and returns
 * the log. Safe to call from several processes against one database.
 */
export async function openAuditLog(opts: OpenAuditLogOptions): Promise<AuditLog> {
  const origin = opts.origin ?? DEFAULT_ORIGIN;
  if (typeof origin !== 'string' || origin.length === 0 || /[\n\u0000-\u001f]/.test(origin)) {
    throw new PavilionError('CONFIG_INVALID', 'audit origin must be a non-empty single line');
  }
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 8192) throw new PavilionError('CONFIG_INVALID', 'maxBatch must be an integer in 1..8192');
  if (opts.cacheBytes !== undefined && (!Number.isSafeInteger(opts.cacheBytes) || opts.cacheBytes < 0)) throw new PavilionError('CONFIG_INVALID', 'cacheBytes must be a non-negative integer');
  const every = opts.checkpointEvery ?? {};
  if (every.leaves !== undefined && (!Number.isInteger(every.leaves) || every.leaves < 1)) throw new PavilionError('CONFIG_INVALID', 'checkpointEvery.leaves must be a positive integer');
  if (every.ms !== undefined && (!Number.isFinite(every.ms) || every.ms < 10)) throw new PavilionError('CONFIG_INVALID', 'checkpointEvery.ms must be at least 10');
  try {
    await migrate(opts.sql, 'audit', AUDIT_MIGRATIONS);
  } catch (err) {
    throw storageError(err, 'audit migration');
  }
  const configured = opts.signerKey === undefined ? [] : [opts.signerKey].flat();
  if (opts.signerKey !== undefined && configured.length === 0) throw new PavilionError('CONFIG_INVALID', 'at least one signer key is required');
  const configuredSigners = configured.map((k) => parseSignerKey(normalizeSignerKey(k, origin)));
  await bindOrigin(opts.sql, origin);
  const signers = configuredSigners.length > 0 ? configuredSigners : [parseSignerKey(await loadOrCreateSignerKey(opts.sql, origin))];
  const [latest] = await opts.sql`select coalesce(max(size), 0)::text as size from audit_checkpoints`;
  return new AuditLog(opts.sql, origin, signers, opts, Number(latest!.size));
}

/** The first process binds the database to its origin; a different origin later is a configuration error. */
async function bindOrigin(sql: Sql, origin: string): Promise<void> {
  let bound: string;
  try {
    await sql`update audit_head set origin = ${origin} where id and origin is null`;
    const [row] = await sql`select origin from audit_head where id`;
    bound = row!.origin as string;
  } catch (err) {
    throw storageError(err, 'audit origin');
  }
  if (bound !== origin) throw new PavilionError('CONFIG_INVALID', 'this database holds an audit log with a different origin', 500);
}

/**
 * Accepts a Go note signer key string as is, or a bare 32-byte Ed25519 seed
 * (64 hex digits or standard base64), which becomes a key named after the origin.
 */
function normalizeSignerKey(key: string, origin: string): string {
  if (typeof key !== 'string') throw new PavilionError('KEY_INVALID', 'signer key must be a string');
  if (key.startsWith('PRIVATE+KEY+')) return key;
  let seed: Uint8Array | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(key)) seed = new Uint8Array(Buffer.from(key, 'hex'));
  else if (/^[A-Za-z0-9+/]{43}=$/.test(key)) seed = decodeBase64Strict(key, 'KEY_INVALID', 'signer seed');
  if (!seed || seed.length !== 32) throw new PavilionError('KEY_INVALID', 'signer key must be PRIVATE+KEY+… or a 32-byte Ed25519 seed (hex or base64)');
  return signerKeyFromSeed(origin, seed);
}

/** The generated key lives in audit_signing_keys; first process to start wins, the rest read it. */
async function loadOrCreateSignerKey(sql: Sql, origin: string): Promise<string> {
  try {
    await sql`insert into audit_signing_keys (origin, signer_key) values (${origin}, ${generateSignerKey(origin)}) on conflict (origin) do nothing`;
    const [row] = await sql`select signer_key from audit_signing_keys where origin = ${origin}`;
    return row!.signer_key as string;
  } catch (err) {
    throw storageError(err, 'audit signer key');
  }
}

