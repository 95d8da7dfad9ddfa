/**
 * The verifiable audit log stored in Postgres: RFC 9162 tree, group-committed
 * appends, signed C2SP checkpoints, proofs and tlog-proof receipts.
 *
 * Storage (audit/schema.ts): leaves by gapless index, perfect-subtree hashes of
 * every fourth level by (level, index) written once when each subtree completes,
 * a single head row with the committed size and root, and signed checkpoints.
 *
 * Appends: `append` canonicalises and hashes the event in the caller's turn,
 * then joins the next group commit (audit/group-commit.ts). A flush computes
 * the batch's new nodes from the tree's right edge and calls the SQL function
 * audit_append_lines (audit/schema.ts), which locks the head row, checks the size it expects, inserts
 * every leaf and every completed node of a stored level with one `INSERT … SELECT FROM
 * unnest(...)` per table and moves the head — one statement, one round trip,
 * one commit. When another process moved the head (or on the first flush) the
 * writer re-reads the edge (O(log n) rows) under the lock in a transaction.
 * The appends of a batch resolve only after its commit returned.
 *
 * Reads (roots, proofs, entries, tiles) are tree-reader.ts's, through the
 * in-memory copy of the tree's hashes this log keeps current as it commits.
 */
import type postgres from 'postgres';
import { isPavilionError, PavilionError } from '../common/errors.js';
import type { Sql } from '../storage/postgres.js';
import { migrate } from '../storage/postgres.js';
import { decodeBase64Strict } from './base64.js';
import { formatCheckpoint } from './checkpoint.js';
import { hashBytes, type Queryable, storageError, toBuffer } from './db.js';
import { canonicalEvent, eventLeafHash, PreparedEvent, preparedCanonical } from './event.js';
import { GroupCommitter } from './group-commit.js';
import { sourceFromFetched } from './merkle/assemble.js';
import { appendToFrontier, type FrontierAppend, frontierRoot, type TreeNode } from './merkle/frontier.js';
import { bytesEqual, concatHashes } from './merkle/hash.js';
import { assertTreeSize, consistencyProofRanges, perfectSubtrees } from './merkle/ranges.js';
import { verifyConsistency } from './merkle/verify.js';
import {
  generateSignerKey,
  keyIdHex,
  type NoteSigner,
  openNote,
  parseNote,
  parseSignerKey,
  signerKeyFromSeed,
  signNoteAsync,
} from './note.js';
import {
  type AnchorReference,
  encodeAnchorExtra,
  formatReceipt,
  parseReceipt,
  type ReceiptSubject,
  type VerifiedReceipt,
  verifyReceipt,
} from './receipt.js';
import { AUDIT_MIGRATIONS, isStoredLevel, type NodeStep } from './schema.js';
import { loadOrCreateKeyFile } from './signing-key.js';
import { type AuditEntry, TreeReader } from './tree-reader.js';
import { type CosigningOutcome, WitnessCosigning, type WitnessEndpoint } from './witness-client.js';

export type { AuditEntry } from './tree-reader.js';

export const DEFAULT_ORIGIN = 'pavilion.local/audit';
/**
 * Batch cap. The cap only binds under load (batches are adaptive); then a
 * batch's cost is dominated by the fixed per-commit cost, so a larger cap buys
 * throughput: bench/audit.ts on the 2-core dev box, real Postgres 15, measured
 * 12.6k events/s at cap 256, 14.6k at 512, 31k at 1024.
 */
export const DEFAULT_MAX_BATCH = 1024;
export const DEFAULT_CACHE_BYTES = 128 * 1024 * 1024;
/** Uncovered commits remembered for the checkpoint lag (see AuditLog.noteUncovered). */
const MAX_UNCOVERED = 4096;

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
  /**
   * The setting signerKey came from (the broker's AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE), named in a
   * KEY_INVALID for a key that does not parse, with its position when there are several (never its value).
   */
  keySetting?: string;
  /**
   * Signers that are not key strings: a KMS or HSM behind the NoteSigner
   * interface (signText may be asynchronous). Used with or instead of signerKey.
   */
  signers?: NoteSigner[];
  /**
   * No key configured: the development key lives in this file (created on
   * first start, mode 0600), so a restart, even on an in-memory database,
   * signs with the same key. A log whose latest checkpoint that key did not
   * sign is refused (CONFIG_INVALID): another process or an earlier start
   * signs it with another key (refuseForeignCheckpoint). Absent: the key is
   * kept in the database (audit_signing_keys), as before.
   */
  developmentKeyFile?: string;
  /** C2SP tlog-witness endpoints asked to cosign each checkpoint before it is stored (audit/witness-client.ts). */
  witnesses?: WitnessEndpoint[];
  /** Per-witness request timeout (default 5 s). */
  witnessTimeoutMs?: number;
  /** Told how each checkpoint's cosigning went (which witnesses cosigned, which failed). */
  onCosigned?: (size: number, outcome: Omit<CosigningOutcome, 'note'>) => void;
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
  /** Called when a background checkpoint pass succeeds (whether or not it signed): an outage's failures ended. */
  onBackgroundSuccess?: () => void;
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

export class AuditLog {
  /** Roots, proofs, entries and tiles (tree-reader.ts). */
  private readonly tree: TreeReader;
  readonly origin: string;
  /** The primary verifier key string `<name>+<id>+<base64>` to publish. */
  readonly verifierKey: string;
  /** Verifier keys of every configured signer (primary first). */
  readonly verifierKeys: string[];

  private readonly sql: Sql;
  private readonly signers: NoteSigner[];
  private readonly cosigning: WitnessCosigning | undefined;
  private readonly onCosigned: OpenAuditLogOptions['onCosigned'];
  /** The witnesses asked to cosign each checkpoint (URL and cosigner verifier key), to publish. */
  readonly witnesses: readonly WitnessEndpoint[];
  private readonly committer: GroupCommitter<PreparedEntry, AppendResult>;
  private readonly checkpointLeaves: number | undefined;
  private readonly onBackgroundError: (err: unknown) => void;
  private readonly onBackgroundSuccess: () => void;
  private timer: NodeJS.Timeout | null = null;
  /** This process's view of the right edge after its last commit; null = re-read under the lock. */
  private edge: { size: number; frontier: TreeNode[] } | null = null;
  private lastCheckpointSize = 0;
  /**
   * Commits not yet covered by a signed checkpoint, oldest first: the tree size each one reached and when it
   * was acknowledged. `checkpointLagSeconds` reads the first; a checkpoint drops those it covers.
   */
  private uncovered: { size: number; at: number }[] = [];
  private checkpointing: Promise<StoredCheckpoint | undefined> | null = null;
  private closed = false;

  /** @internal use openAuditLog */
  constructor(
    sql: Sql,
    origin: string,
    signers: NoteSigner[],
    opts: OpenAuditLogOptions,
    lastCheckpointSize: number,
    /** Which tree levels get node rows (audit_head.node_step, schema.ts isStoredLevel). */
    private readonly nodeStep: NodeStep,
    /** The key is a development key file's, not configured (see refuseForeignCheckpoint). */
    private readonly developmentKey = false,
  ) {
    this.sql = sql;
    this.origin = origin;
    this.signers = signers;
    this.verifierKeys = signers.map((s) => s.verifierKey);
    this.verifierKey = this.verifierKeys[0]!;
    this.lastCheckpointSize = lastCheckpointSize;
    this.tree = new TreeReader(sql, opts.cacheBytes ?? DEFAULT_CACHE_BYTES, () => this.closed, nodeStep);
    this.witnesses = opts.witnesses ?? [];
    this.cosigning =
      this.witnesses.length > 0
        ? new WitnessCosigning(this.witnesses, (from, to) => this.consistencyProof(from, to), opts.witnessTimeoutMs)
        : undefined;
    this.onCosigned = opts.onCosigned;
    this.checkpointLeaves = opts.checkpointEvery?.leaves;
    this.onBackgroundError = opts.onBackgroundError ?? (() => {});
    this.onBackgroundSuccess = opts.onBackgroundSuccess ?? (() => {});
    this.committer = new GroupCommitter((items) => this.flush(items), {
      maxBatch: opts.maxBatch ?? DEFAULT_MAX_BATCH,
      maxWaitMs: opts.maxWaitMs ?? 0,
      maxQueued: opts.maxQueued ?? 100_000,
    });
    const ms = opts.checkpointEvery?.ms;
    if (ms !== undefined) {
      this.timer = setInterval(() => this.checkpointInBackground(1), ms);
      this.timer.unref();
    }
  }

  /** Bytes of tree hashes held in memory (node-cache.ts). */
  get cachedBytes(): number {
    return this.tree.cachedBytes;
  }

  /** Sizes of recent group-commit batches (newest last), for metrics. */
  get recentBatchSizes(): readonly number[] {
    return this.committer.batchSizes;
  }

  // ---------------------------------------------------------------- appends

  /**
   * Appends an event (a plain JSON object without raw PII, see README.md, or a PreparedEvent whose builder
   * wrote its canonical text) and resolves once the transaction holding it has committed.
   * Throws EVENT_INVALID for non-JSON input, AUDIT_UNAVAILABLE if the batch's
   * transaction failed (the event is then NOT in the log), AUDIT_OVERLOADED,
   * AUDIT_CLOSED.
   */
  append(event: object | PreparedEvent): Promise<AppendResult> {
    let prepared: PreparedEntry;
    try {
      const canonical = event instanceof PreparedEvent ? preparedCanonical(event) : canonicalEvent(event);
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
        if (!head) throw new PavilionError('LOG_CORRUPT', 'audit head row is missing');
        const start = Number(head.size);
        const frontier = await this.loadFrontier(tx, start);
        // Never extend a tree whose stored right edge does not produce the
        // committed root: new nodes would be built on corrupted ones.
        if (!bytesEqual(frontierRoot(frontier), hashBytes(head.root))) {
          throw new PavilionError('LOG_CORRUPT', 'stored tree edge does not match the committed root');
        }
        const grown = appendToFrontier(start, frontier, leafHashes);
        const seen = await this.callAppend(tx, start, items, grown);
        if (seen !== start) throw new PavilionError('LOG_CORRUPT', 'audit head moved while locked');
        return { start, grown };
      });
    } catch (err) {
      this.edge = null;
      throw storageError(err, 'audit append');
    }
    const { start, grown } = committed;
    this.edge = { size: grown.size, frontier: grown.frontier };
    this.tree.committed(start, leafHashes, grown);
    this.noteUncovered(grown.size);
    if (this.checkpointLeaves !== undefined && grown.size - this.lastCheckpointSize >= this.checkpointLeaves) {
      this.checkpointInBackground(this.checkpointLeaves);
    }
    return items.map((item, i) => ({ index: start + i, leafHash: item.leafHash }));
  }

  /**
   * Calls audit_append_lines (audit/schema.ts): the events as one text, one per line (canonical text holds
   * no raw line feed), the new nodes of the stored levels (schema.ts isStoredLevel) with their levels and
   * indices as array literals written here (integers need no escaping), so the driver serialises nothing per
   * element. Returns the head size it found (== start when it wrote).
   */
  private async callAppend(
    q: Queryable,
    start: number,
    items: PreparedEntry[],
    grown: FrontierAppend,
  ): Promise<number> {
    let events = '';
    let levels = '';
    let indices = '';
    for (let i = 0; i < items.length; i++) events += i === 0 ? items[i]!.canonical : `\n${items[i]!.canonical}`;
    const stored = grown.newNodes.filter((n) => isStoredLevel(n.level, this.nodeStep));
    for (let i = 0; i < stored.length; i++) {
      levels += i === 0 ? stored[i]!.level : `,${stored[i]!.level}`;
      indices += i === 0 ? stored[i]!.index : `,${stored[i]!.index}`;
    }
    const [row] = await q`
      select audit_append_lines(
        ${start}::bigint,
        ${concatHashes(items.map((i) => i.leafHash))}::bytea,
        ${events}::text,
        ${`{${levels}}`}::int2[],
        ${`{${indices}}`}::int8[],
        ${concatHashes(stored.map((n) => n.hash))}::bytea,
        ${grown.size}::bigint,
        ${toBuffer(grown.root)}::bytea
      )::text as seen`;
    return Number(row!.seen);
  }

  private async loadFrontier(q: Queryable, size: number): Promise<TreeNode[]> {
    const ids = perfectSubtrees(0, size);
    const rows = await this.tree.fetchNodes(q, ids);
    const source = sourceFromFetched(rows);
    return ids.map((id) => ({ ...id, hash: source(id.level, id.index) }));
  }

  // ---------------------------------------------------------------- reads (tree-reader.ts)

  /** Committed tree size. */
  size(): Promise<number> {
    return this.tree.size();
  }

  /** Root at `size` (default: the committed size), from O(log n) stored nodes. */
  root(size?: number): Promise<Uint8Array> {
    return this.tree.root(size);
  }

  entry(index: number): Promise<AuditEntry> {
    return this.tree.entry(index);
  }

  /** The leaf hash at `index`, from memory when held. */
  leafHashAt(index: number): Promise<Uint8Array> {
    return this.tree.leafHashAt(index);
  }

  inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return this.tree.inclusionProof(index, size);
  }

  /** Finds the first leaf with this hash below `size` and proves it. */
  inclusionProofByLeafHash(leafHash: Uint8Array, size: number): Promise<{ index: number; proof: Uint8Array[] }> {
    return this.tree.inclusionProofByLeafHash(leafHash, size);
  }

  consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    return this.tree.consistencyProof(from, to);
  }

  /** Reads the committed tree's hashes into memory (the broker runs it in the background at start). */
  warmCache(): Promise<number> {
    return this.tree.warmCache();
  }

  /** C2SP tlog-tiles hash tile (level, index) of `width` hashes. */
  tile(level: number, index: number, width: number): Promise<Uint8Array> {
    return this.tree.tile(level, index, width);
  }

  /** C2SP tlog-tiles entry bundle `index` of `width` entries. */
  entryBundle(index: number, width: number): Promise<Uint8Array> {
    return this.tree.entryBundle(index, width);
  }

  // ---------------------------------------------------------------- checkpoints

  /** The newest signed checkpoint, or undefined while none was signed (shape fits anchoring's CheckpointSource). */
  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const rows = await this.sql`
      select size::text as size, root, note, created_at from audit_checkpoints
      order by audit_checkpoints.size desc limit 1`.catch((err) => {
      throw storageError(err, 'audit read');
    });
    return rows.length === 0 ? undefined : this.toStoredCheckpoint(rows[0]!);
  }

  /** The checkpoint signed at exactly `size`, or undefined. */
  async checkpointAt(size: number): Promise<StoredCheckpoint | undefined> {
    assertTreeSize(size, 'tree size');
    const rows = await this
      .sql`select size::text as size, root, note, created_at from audit_checkpoints where size = ${size}::bigint`.catch(
      (err) => {
        throw storageError(err, 'audit read');
      },
    );
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
        this.coveredUpTo(size);
        return existing;
      }
      const latest = await this.latestCheckpoint();
      const last = latest?.size ?? 0;
      this.coveredUpTo(last);
      if (!force && (size - last < Math.max(1, minGrowth) || size <= last)) return undefined;
      if (latest && size < latest.size) return latest; // another process signed a larger head meanwhile
      // Two brokers that started at once on a new database each passed the check at start with a key of its own.
      if (latest && this.developmentKey) refuseForeignCheckpoint(latest, this.signers[0]!, this.witnesses);
      const root = hashBytes(head!.root);
      // C2SP tlog-checkpoint: a log MUST NOT sign a checkpoint inconsistent
      // with one it signed before. Prove it from the stored tree first.
      if (latest && latest.size > 0) {
        try {
          const proof = await this.tree.proof(consistencyProofRanges(latest.size, size), size, 'tree size', true);
          verifyConsistency(latest.size, size, proof, latest.root, root);
        } catch (err) {
          throw new PavilionError(
            'LOG_CORRUPT',
            'the committed tree is not consistent with the last signed checkpoint',
            { cause: err },
          );
        }
      }
      let note = await signNoteAsync(formatCheckpoint({ origin: this.origin, size, root }), this.signers);
      // C2SP tlog-witness: witnesses cosign before the checkpoint is stored,
      // so every copy served (and every receipt) carries their cosignatures.
      if (this.cosigning) {
        const outcome = await this.cosigning.cosign(note, size);
        note = outcome.note;
        this.onCosigned?.(size, { cosignedBy: outcome.cosignedBy, failures: outcome.failures });
      }
      // Several processes may sign the same head: identical size and root, so
      // the first insert wins and the others read it back.
      await this.sql`
        insert into audit_checkpoints (size, root, note) values (${size}::bigint, ${toBuffer(root)}, ${note})
        on conflict (size) do nothing`;
      this.coveredUpTo(size);
      return await this.checkpointAt(size);
    } catch (err) {
      throw storageError(err, 'checkpoint signing');
    }
  }

  /**
   * Seconds since the oldest append this process acknowledged that no signed checkpoint covers yet (0 when
   * all are covered): how long a receipt for it would answer RECEIPT_NOT_READY. Exported as
   * pavilion_audit_checkpoint_lag_seconds (server/wiring/metrics.ts).
   */
  checkpointLagSeconds(now = Date.now()): number {
    const oldest = this.uncovered[0];
    return oldest ? Math.max(0, (now - oldest.at) / 1000) : 0;
  }

  /**
   * Tries to sign a checkpoint now rather than at the next tick, e.g. once the database answers again after
   * an outage, so the appends acknowledged before it are covered as soon as possible.
   */
  checkpointSoon(): void {
    if (this.closed) return;
    this.checkpointInBackground(1);
  }

  /** A checkpoint no caller waits for (timer, leaf count, checkpointSoon): its outcome goes to the callbacks. */
  private checkpointInBackground(minGrowth: number): void {
    this.maybeCheckpoint(minGrowth).then(
      () => this.onBackgroundSuccess(),
      (err) => this.onBackgroundError(err),
    );
  }

  private noteUncovered(size: number): void {
    if (size <= this.lastCheckpointSize) return;
    const last = this.uncovered[this.uncovered.length - 1];
    // Bounded while checkpoints fail: the newest commits merge into the last entry, which keeps its
    // (earlier) time, so the lag read from the oldest entry stays exact and the rest err on the late side.
    if (last && this.uncovered.length >= MAX_UNCOVERED) last.size = size;
    else this.uncovered.push({ size, at: Date.now() });
  }

  private coveredUpTo(size: number): void {
    this.lastCheckpointSize = Math.max(this.lastCheckpointSize, size);
    let drop = 0;
    while (drop < this.uncovered.length && this.uncovered[drop]!.size <= this.lastCheckpointSize) drop++;
    if (drop > 0) this.uncovered.splice(0, drop);
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
        ? new PavilionError('CHECKPOINT_NOT_FOUND', 'no checkpoint was signed at the anchored tree size')
        : new PavilionError('RECEIPT_NOT_READY', 'no checkpoint has been signed yet');
    }
    if (index >= cp.size)
      throw new PavilionError('RECEIPT_NOT_READY', 'the entry is not covered by a signed checkpoint yet');
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
    return {
      origin: this.origin,
      size: Number(row.size),
      root: hashBytes(row.root),
      note: row.note as string,
      createdAt: row.created_at as Date,
    };
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
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 8192)
    throw new PavilionError('CONFIG_INVALID', 'maxBatch must be an integer in 1..8192');
  if (opts.cacheBytes !== undefined && (!Number.isSafeInteger(opts.cacheBytes) || opts.cacheBytes < 0))
    throw new PavilionError('CONFIG_INVALID', 'cacheBytes must be a non-negative integer');
  const every = opts.checkpointEvery ?? {};
  if (every.leaves !== undefined && (!Number.isInteger(every.leaves) || every.leaves < 1))
    throw new PavilionError('CONFIG_INVALID', 'checkpointEvery.leaves must be a positive integer');
  if (every.ms !== undefined && (!Number.isFinite(every.ms) || every.ms < 10))
    throw new PavilionError('CONFIG_INVALID', 'checkpointEvery.ms must be at least 10');
  try {
    await migrate(opts.sql, 'audit', AUDIT_MIGRATIONS);
  } catch (err) {
    throw storageError(err, 'audit migration');
  }
  const configured = opts.signerKey === undefined ? [] : [opts.signerKey].flat();
  if (opts.signerKey !== undefined && configured.length === 0)
    throw new PavilionError('CONFIG_INVALID', 'at least one signer key is required');
  const configuredSigners = [
    ...configured.map((k, i) => {
      try {
        return parseSignerKey(normalizeSignerKey(k, origin));
      } catch (err) {
        // `KEY_INVALID: key id must be 8 lowercase hex digits` did not say which setting to fix.
        if (!opts.keySetting || !isPavilionError(err) || err.code !== 'KEY_INVALID') throw err;
        const which = configured.length > 1 ? ` (key ${i + 1} of ${configured.length})` : '';
        throw new PavilionError('KEY_INVALID', `${opts.keySetting}${which}: ${err.message}`);
      }
    }),
    ...(opts.signers ?? []),
  ];
  await bindOrigin(opts.sql, origin);
  let signers = configuredSigners;
  let developmentKey = false;
  if (signers.length === 0) {
    const key = opts.developmentKeyFile
      ? await loadOrCreateKeyFile(opts.developmentKeyFile, origin, () => storedSignerKey(opts.sql, origin))
      : await loadOrCreateSignerKey(opts.sql, origin);
    signers = [parseSignerKey(key)];
    // A key kept in the database is the same for every process on it; a key file is one process's own.
    developmentKey = opts.developmentKeyFile !== undefined;
  }
  let rows: postgres.Row[];
  try {
    rows = await opts.sql`
      select size::text as size, note from audit_checkpoints order by size desc limit 1`;
  } catch (err) {
    throw storageError(err, 'audit read');
  }
  const latest = rows[0] ? { size: Number(rows[0].size), note: rows[0].note as string } : undefined;
  if (latest && developmentKey) refuseForeignCheckpoint(latest, signers[0]!, opts.witnesses ?? []);
  const [head] = await opts.sql`select node_step from audit_head where id`;
  return new AuditLog(
    opts.sql,
    origin,
    signers,
    opts,
    latest?.size ?? 0,
    Number(head!.node_step) as NodeStep,
    developmentKey,
  );
}

/**
 * A development key (generated here because no key was configured) that did not sign the log's latest
 * checkpoint is refused: CONFIG_INVALID naming the settings. Such a broker would sign the next checkpoints
 * with its own key, beside a replica or an earlier start (an emptyDir STATE_DIR) signing with another, and
 * receipts would fail NOTE_UNVERIFIED for auditors who pinned either. Keys the operator configured are
 * never refused here: rotation signs with a new key (docs/operations.md, "Key rotation").
 */
function refuseForeignCheckpoint(
  latest: { size: number; note: string },
  signer: NoteSigner,
  witnesses: readonly WitnessEndpoint[],
): void {
  try {
    openNote(latest.note, [signer.verifierKey]);
    return;
  } catch {
    /* not signed by this key (or by a key of its id whose signature fails): refused below */
  }
  // Named by key name and id (public, as in the note) so the operator can find the key; witnesses' cosignatures
  // are left out.
  const witnessNames = new Set(witnesses.map((w) => w.key.split('+')[0]));
  let by = 'another key';
  try {
    const labels = parseNote(latest.note)
      .signatures.filter((s) => !witnessNames.has(s.name))
      .map((s) => `${s.name}+${keyIdHex(s.keyId)}`);
    if (labels.length > 0) by = [...new Set(labels)].join(', ');
  } catch {
    /* a stored note that does not parse: named as another key */
  }
  throw new PavilionError(
    'CONFIG_INVALID',
    `the audit log's latest checkpoint (size ${latest.size}) is signed by ${by}, not by this broker's development ` +
      `key ${signer.name}+${keyIdHex(signer.keyId)} (generated under STATE_DIR, as neither AUDIT_SIGNING_KEY nor ` +
      'AUDIT_SIGNING_KEY_FILE is set): set AUDIT_SIGNING_KEY to the key the log is signed with, the same on every ' +
      'broker of this database; to move to a new key set AUDIT_SIGNING_KEY=new,old ' +
      '(docs/operations.md, "Key rotation")',
  );
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
  if (bound !== origin)
    throw new PavilionError('CONFIG_INVALID', 'this database holds an audit log with a different origin');
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
  if (seed?.length !== 32)
    throw new PavilionError(
      'KEY_INVALID',
      'signer key must be PRIVATE+KEY+… or a 32-byte Ed25519 seed (hex or base64)',
    );
  return signerKeyFromSeed(origin, seed);
}

/** A key an earlier version generated into audit_signing_keys, if any (adopted into the development key file). */
async function storedSignerKey(sql: Sql, origin: string): Promise<string | undefined> {
  try {
    const [row] = await sql`select signer_key from audit_signing_keys where origin = ${origin}`;
    return row ? (row.signer_key as string) : undefined;
  } catch (err) {
    throw storageError(err, 'audit signer key');
  }
}

/** The generated key lives in audit_signing_keys; first process to start wins, the rest read it. */
async function loadOrCreateSignerKey(sql: Sql, origin: string): Promise<string> {
  try {
    await sql`
      insert into audit_signing_keys (origin, signer_key) values (${origin}, ${generateSignerKey(origin)})
      on conflict (origin) do nothing`;
    const [row] = await sql`select signer_key from audit_signing_keys where origin = ${origin}`;
    return row!.signer_key as string;
  } catch (err) {
    throw storageError(err, 'audit signer key');
  }
}
