/**
 * Posts the audit log's signed checkpoints to a MerkleAnchor contract and
 * follows each anchor until it is final.
 *
 * Life of an anchor (rows in anchoring_anchors, see schema.ts):
 *   pending   the intent and its signed transaction are recorded (before the
 *             transaction is broadcast, so a crash right after sending loses
 *             nothing), waiting for a receipt;
 *   included  a receipt in the canonical chain: tx, block number and hash, log index;
 *   final     its block is at or below the chain's `finalized` block AND the
 *             canonical hash at that height is still the receipt's block hash.
 * A reorg that drops the receipt sends the anchor back to pending and it is
 * posted again; a receipt that moved to another block is followed.
 *
 * Never twice per (logId, size): the intent is recorded under a per-sender
 * advisory lock after checking the table (an anchor in flight, or one at this
 * size or above) and the contract (its last size); and the contract itself
 * reverts any size that is not above the last one, so at most one Anchored
 * event per (logId, size) can exist whatever happens off chain.
 *
 * The loop never throws into its caller: RPC, database and source failures are
 * recorded in status() and retried with capped exponential backoff.
 */
import { getAddress, Interface, type JsonRpcProvider, Transaction, Wallet } from 'ethers';
import { PavilionError } from '../common/errors.js';
import type { Sql } from '../storage/postgres.js';
import {
  anchoredEventsIn,
  ChainReader,
  isChainUnreachable,
  makeProvider,
  type ReceiptInfo,
  rpcErrorMessage,
} from './chain.js';
import { merkleAnchorInterface } from './contract.js';
import { anchorFees, type Eip1559Fees, replacementFees } from './fees.js';
import { caip2, logIdForOrigin } from './ids.js';
import { migrateAnchoring } from './schema.js';
import { type AnchorRow, AnchorStore, type ChainScope, type SignedAnchorTx, type TransactionRow } from './store.js';
import type { AnchorReference, Checkpoint, CheckpointSource } from './types.js';

export interface AnchorerOptions {
  sql: Sql;
  source: CheckpointSource;
  rpcUrl: string;
  /** EIP-155 chain id the RPC must serve (137 Polygon, 80002 Amoy). */
  chainId: number;
  /** MerkleAnchor address; the signer must be its owner. */
  contract: string;
  /** Hex private key of the anchoring account. Never logged. */
  privateKey: string;
  /** Size trigger: anchor once the log grew by at least this many entries since the last anchor. Default 1000. */
  minSizeDelta?: number;
  /** Time trigger: anchor any growth once this long passed since the last anchor (or start). Default 10 min. */
  maxIntervalMs?: number;
  /** Pause between passes while healthy. Default 5 s. */
  pollIntervalMs?: number;
  /** A pending transaction not mined after this long is replaced with higher fees (same nonce). Default 3 min. */
  replaceAfterMs?: number;
  /** Per-request RPC timeout. Default 10 s. */
  rpcTimeoutMs?: number;
  /** First retry delay after a failure, doubled per consecutive failure. Default 1 s. */
  initialBackoffMs?: number;
  /** Cap on the retry delay. Default 60 s. */
  maxBackoffMs?: number;
  /** Refuse to send when maxFeePerGas would exceed this (wei); absent → no cap. */
  maxFeePerGasCap?: bigint;
  /** Test seam: runs after the transaction is recorded and before it is broadcast. */
  beforeBroadcast?: (tx: { hash: string; nonce: number }) => Promise<void>;
}

export interface AnchorerError {
  code: string;
  message: string;
  at: Date;
}

/** Figures for metrics and health checks. Sizes are tree sizes; null = none yet. */
export interface AnchorerStatus {
  chain: string;
  contract: string;
  origin: string | null;
  logId: string | null;
  /** Size of the newest checkpoint seen from the source. */
  checkpointSize: number | null;
  /** Largest size included on chain (final or not). */
  lastAnchoredSize: number | null;
  lastAnchoredAt: Date | null;
  /** Largest size whose anchor is final. */
  lastFinalSize: number | null;
  lastFinalAt: Date | null;
  /** Size of the anchor waiting for its receipt, if any. */
  pendingSize: number | null;
  /** checkpointSize − lastAnchoredSize: entries not yet on chain. */
  unanchoredEntries: number;
  /** checkpointSize − lastFinalSize: entries not yet final. */
  unfinalizedEntries: number;
  /** Receipts that left the canonical chain or moved block, over all anchors. */
  reorgs: number;
  consecutiveFailures: number;
  lastError: AnchorerError | null;
  lastSuccessAt: Date | null;
}

export interface TickOutcome {
  ok: boolean;
  /** Size newly recorded and broadcast in this pass, if any. */
  sent?: number;
  error?: AnchorerError;
}

const DEFAULTS = {
  minSizeDelta: 1000,
  maxIntervalMs: 10 * 60_000,
  pollIntervalMs: 5_000,
  replaceAfterMs: 3 * 60_000,
  rpcTimeoutMs: 10_000,
  initialBackoffMs: 1_000,
  maxBackoffMs: 60_000,
};

/** Extra gas over the estimate: the estimate is exact for this contract, the margin covers a state change in between. */
const GAS_MARGIN_PERCENT = 25n;

export class Anchorer {
  readonly chain: string;
  readonly contract: string;
  readonly sender: string;
  private readonly opts: AnchorerOptions & typeof DEFAULTS;
  private readonly provider: JsonRpcProvider;
  private readonly reader: ChainReader;
  private readonly wallet: Wallet;
  private readonly store: AnchorStore;
  private readonly startedAt = Date.now();
  private migrated = false;
  /** Set once the RPC has been checked: CAIP-2 chain plus genesis hash (see schema.ts). */
  private scope: ChainScope | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<TickOutcome> | undefined;
  private state: AnchorerStatus;

  constructor(options: AnchorerOptions) {
    this.opts = { ...DEFAULTS, ...definedOnly(options) } as AnchorerOptions & typeof DEFAULTS;
    validateOptions(this.opts);
    this.chain = caip2(options.chainId);
    this.contract = getAddress(options.contract);
    this.provider = makeProvider(options.rpcUrl, options.chainId, this.opts.rpcTimeoutMs);
    this.reader = new ChainReader(this.provider, this.contract);
    try {
      this.wallet = new Wallet(options.privateKey);
    } catch {
      // The key itself must not reach the message.
      throw new PavilionError('ANCHOR_INVALID_KEY', 'privateKey is not a valid secp256k1 private key');
    }
    this.sender = this.wallet.address.toLowerCase();
    this.store = new AnchorStore(options.sql);
    this.state = {
      chain: this.chain,
      contract: this.contract,
      origin: null,
      logId: null,
      checkpointSize: null,
      lastAnchoredSize: null,
      lastAnchoredAt: null,
      lastFinalSize: null,
      lastFinalAt: null,
      pendingSize: null,
      unanchoredEntries: 0,
      unfinalizedEntries: 0,
      reorgs: 0,
      consecutiveFailures: 0,
      lastError: null,
      lastSuccessAt: null,
    };
  }

  /** Starts the background loop (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the loop and waits for a pass in progress to end. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.current) await this.current;
  }

  /** Stops and releases the RPC provider. */
  async close(): Promise<void> {
    await this.stop();
    this.provider.destroy();
  }

  status(): AnchorerStatus {
    return { ...this.state, lastError: this.state.lastError ? { ...this.state.lastError } : null };
  }

  /**
   * One pass: follow open anchors, then anchor the latest checkpoint if a
   * trigger fired. Never throws; a pass already running is joined, not doubled.
   */
  tick(): Promise<TickOutcome> {
    this.current ??= this.runTick().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  /**
   * The anchor covering `size`: the smallest anchored (included or final) tree
   * size ≥ `size` of the log named `origin` (default: the source's origin).
   */
  async anchorFor(size: number, origin?: string): Promise<AnchorReference | undefined> {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new PavilionError('ANCHOR_INVALID_SIZE', 'size must be a positive integer');
    const name = origin ?? this.state.origin;
    if (name === null) return undefined;
    await this.ensureMigrated();
    // Known after the first pass; before it, one RPC call (may throw CHAIN_UNREACHABLE).
    const scope = await this.ensureChain();
    const row = await this.store.findAnchor(scope, this.contract.toLowerCase(), logIdForOrigin(name), size);
    return row ? toReference(row, this.contract) : undefined;
  }

  // ---------------------------------------------------------------- the pass

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.tick().then(() => this.schedule(this.nextDelay()));
    }, delayMs);
    // The loop alone must not keep a process alive (the broker's server does).
    this.timer.unref();
  }

  private nextDelay(): number {
    const failures = this.state.consecutiveFailures;
    if (failures === 0) return this.opts.pollIntervalMs;
    const exp = Math.min(this.opts.initialBackoffMs * 2 ** Math.min(failures - 1, 30), this.opts.maxBackoffMs);
    // Jitter (75–100%) keeps several anchorers from retrying in lockstep.
    return Math.round(exp * (0.75 + Math.random() * 0.25));
  }

  private async runTick(): Promise<TickOutcome> {
    try {
      await this.ensureMigrated();
      const scope = await this.ensureChain();
      const finalized = await this.reader.finalizedBlockNumber();
      for (const row of await this.store.openAnchors(scope, this.contract.toLowerCase(), this.sender)) {
        await this.follow(row, finalized);
      }
      const checkpoint = await this.readCheckpoint();
      const sent = checkpoint ? await this.maybeAnchor(scope, checkpoint) : undefined;
      await this.refreshStatus(scope, checkpoint);
      this.state.consecutiveFailures = 0;
      this.state.lastSuccessAt = new Date();
      return sent === undefined ? { ok: true } : { ok: true, sent };
    } catch (err) {
      const error = describeFailure(err);
      this.state.lastError = error;
      this.state.consecutiveFailures++;
      return { ok: false, error };
    }
  }

  private async ensureMigrated(): Promise<void> {
    if (this.migrated) return;
    try {
      await migrateAnchoring(this.opts.sql);
    } catch (err) {
      throw databaseFailure(err);
    }
    this.migrated = true;
  }

  private async ensureChain(): Promise<ChainScope> {
    if (this.scope) return this.scope;
    const served = await this.reader.chainId();
    if (served !== this.opts.chainId) {
      throw new PavilionError('CHAIN_ID_MISMATCH', `RPC serves chain ${caip2(served)}, configured ${this.chain}`);
    }
    if (!(await this.reader.hasCode())) {
      throw new PavilionError('ANCHOR_CONTRACT_MISSING', `no contract code at ${this.contract} on ${this.chain}`);
    }
    const genesis = await this.reader.blockHashAt(0);
    if (!genesis) throw new PavilionError('CHAIN_UNREACHABLE', 'the RPC returned no genesis block');
    this.scope = { chain: this.chain, genesis };
    return this.scope;
  }

  private async readCheckpoint(): Promise<Checkpoint | undefined> {
    let checkpoint: Checkpoint | undefined;
    try {
      checkpoint = await this.opts.source.latestCheckpoint();
    } catch (err) {
      throw new PavilionError('CHECKPOINT_SOURCE_FAILED', 'the checkpoint source failed', { cause: err });
    }
    if (checkpoint === undefined) return undefined;
    const { origin, size, root, note } = checkpoint;
    if (typeof origin !== 'string' || origin.length === 0 || origin.includes('\n')) throw invalidCheckpoint('origin');
    if (!Number.isSafeInteger(size) || size < 0) throw invalidCheckpoint('size');
    if (!(root instanceof Uint8Array) || root.length !== 32) throw invalidCheckpoint('root');
    if (typeof note !== 'string' || note.length === 0) throw invalidCheckpoint('note');
    if (this.state.origin !== null && this.state.origin !== origin) throw invalidCheckpoint('origin (changed)');
    this.state.origin = origin;
    this.state.logId = logIdForOrigin(origin);
    this.state.checkpointSize = size;
    return checkpoint;
  }

  // ------------------------------------------------------- sending new anchors

  private async maybeAnchor(scope: ChainScope, checkpoint: Checkpoint): Promise<number | undefined> {
    if (checkpoint.size === 0) return undefined; // an empty tree has nothing to anchor
    const logId = logIdForOrigin(checkpoint.origin);
    const contract = this.contract.toLowerCase();
    const summary = await this.store.summary(scope, contract, logId);
    if (summary.pendingSize !== null) return undefined; // one anchor in flight per log
    const last = summary.lastAnchoredSize ?? 0;
    if (checkpoint.size <= last) return undefined;
    const grown = checkpoint.size - last;
    const since = summary.lastIntentAt?.getTime() ?? this.startedAt;
    if (grown < this.opts.minSizeDelta && Date.now() - since < this.opts.maxIntervalMs) return undefined;

    // The contract knows of anchors this table may not (another database, lost state).
    const head = await this.reader.head(logId);
    if (head.treeSize >= checkpoint.size) return undefined;

    const root = `0x${Buffer.from(checkpoint.root).toString('hex')}`;
    const data = merkleAnchorInterface.encodeFunctionData('anchor', [logId, checkpoint.size, root]);
    const gasLimit = await this.estimateGas(data);
    const fees = await this.currentFees();
    const pendingNonce = await this.reader.nonce(this.sender, 'pending');

    const result = await this.store.recordIntent(
      {
        ...scope,
        contract,
        logId,
        treeSize: checkpoint.size,
        origin: checkpoint.origin,
        root,
        note: checkpoint.note,
        sender: this.sender,
      },
      pendingNonce,
      (nonce) => this.sign(data, nonce, gasLimit, fees),
    );
    if (!result.recorded) return undefined;
    await this.broadcast(scope, result.tx);
    return checkpoint.size;
  }

  private async estimateGas(data: string): Promise<bigint> {
    try {
      const estimate = await this.reader.estimateGas(this.sender, data);
      return estimate + (estimate * GAS_MARGIN_PERCENT) / 100n;
    } catch (err) {
      if (err instanceof PavilionError) throw err;
      // A revert here means the contract would refuse: say which rule, send nothing.
      throw new PavilionError('ANCHOR_REJECTED', `contract refuses the anchor: ${revertName(err)}`, {
        cause: err,
      });
    }
  }

  private async currentFees(): Promise<Eip1559Fees> {
    const [baseFeePerGas, suggestedPriorityFee] = await Promise.all([
      this.reader.baseFee(),
      this.reader.suggestedPriorityFee(),
    ]);
    const fees = anchorFees({ chainId: this.opts.chainId, baseFeePerGas, suggestedPriorityFee });
    this.checkCap(fees);
    return fees;
  }

  private checkCap(fees: Eip1559Fees): void {
    if (this.opts.maxFeePerGasCap !== undefined && fees.maxFeePerGas > this.opts.maxFeePerGasCap) {
      throw new PavilionError(
        'ANCHOR_FEE_ABOVE_CAP',
        `maxFeePerGas ${fees.maxFeePerGas} wei is above the configured cap`,
      );
    }
  }

  private async sign(data: string, nonce: number, gasLimit: bigint, fees: Eip1559Fees): Promise<SignedAnchorTx> {
    const raw = await this.wallet.signTransaction({
      type: 2,
      chainId: BigInt(this.opts.chainId),
      to: this.contract,
      data,
      value: 0n,
      nonce,
      gasLimit,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    });
    return { txHash: Transaction.from(raw).hash!.toLowerCase(), nonce, gasLimit, raw, ...fees };
  }

  /** Hands a recorded transaction to the node. Transport failures propagate (retry later); refusals are recorded. */
  private async broadcast(scope: ChainScope, tx: { txHash: string; nonce: number; raw: string }): Promise<void> {
    if (this.opts.beforeBroadcast) await this.opts.beforeBroadcast({ hash: tx.txHash, nonce: tx.nonce });
    try {
      await this.reader.sendRaw(tx.raw);
      await this.store.markBroadcast(scope, tx.txHash, null);
    } catch (err) {
      if (err instanceof PavilionError) throw err;
      const message = rpcErrorMessage(err);
      // Known to the node, or its nonce already used (possibly by this very
      // transaction): the receipt check decides what happened.
      if (/already known|already imported|nonce too low|nonce has already been used/i.test(message)) {
        await this.store.markBroadcast(scope, tx.txHash, null);
        return;
      }
      await this.store.markBroadcast(scope, tx.txHash, message);
      throw new PavilionError('ANCHOR_BROADCAST_REJECTED', `node refused the anchor transaction: ${scrub(message)}`);
    }
  }

  // ------------------------------------------------- following open anchors

  private async follow(row: AnchorRow, finalized: number | undefined): Promise<void> {
    try {
      if (row.status === 'included') await this.followIncluded(row, finalized);
      else await this.followPending(row);
    } catch (err) {
      if (isRetryableInfrastructure(err)) throw err;
      // One odd anchor must not stall the others: note it and move on.
      const failure = describeFailure(err);
      this.state.lastError = failure;
      await this.store.noteError(row, `${failure.code}: ${failure.message}`);
    }
  }

  private async followIncluded(row: AnchorRow, finalized: number | undefined): Promise<void> {
    const receipt = await this.reader.canonicalReceipt(row.txHash!);
    if (!receipt) {
      // Perhaps another transaction of the same anchor (a replacement) is canonical now.
      const other = await this.findMined(await this.store.transactionsFor(row));
      if (other && other !== 'reverted') {
        await this.adoptReceipt(row, other, true);
        return;
      }
      await this.store.markReorged(row);
      await this.repost({ ...row, status: 'pending' }, 0);
      return;
    }
    if (receipt.blockHash !== row.blockHash) {
      await this.adoptReceipt(row, receipt, true);
      return;
    }
    if (finalized !== undefined && row.blockNumber! <= finalized) {
      // Finality needs both: the height is finalized, and what is finalized at
      // that height is the block holding our receipt.
      const canonical = await this.reader.blockHashAt(row.blockNumber!);
      if (canonical === row.blockHash) await this.store.markFinal(row, row.blockHash!);
    }
  }

  private async followPending(row: AnchorRow): Promise<void> {
    const txs = await this.store.transactionsFor(row);
    const mined = await this.findMined(txs);
    if (mined === 'reverted') {
      // The contract refused it (e.g. this size or more was anchored meanwhile).
      await this.resolveConsumedNonce(row);
      return;
    }
    if (mined) {
      await this.adoptReceipt(row, mined, false);
      return;
    }
    const newest = txs[txs.length - 1];
    if (!newest) {
      await this.repost(row, 0);
      return;
    }
    const minedNonce = await this.reader.nonce(this.sender, 'latest');
    if (minedNonce > newest.nonce) {
      // The nonce is used, but by none of our transactions for this anchor.
      await this.resolveConsumedNonce(row);
      return;
    }
    if (newest.broadcastAt === null) {
      // Never accepted by a node: a fee refusal needs new fees, anything else
      // (a crash before sending, the RPC down) just needs sending again.
      if (/fee|underpriced/i.test(newest.broadcastError ?? '')) await this.repost(row, 0);
      else await this.broadcast(row, newest);
      return;
    }
    if (Date.now() - newest.createdAt.getTime() >= this.opts.replaceAfterMs) {
      await this.repost(row, this.opts.replaceAfterMs);
    }
  }

  /** A canonical receipt among the anchor's transactions: successful, 'reverted', or none. */
  private async findMined(txs: TransactionRow[]): Promise<ReceiptInfo | 'reverted' | undefined> {
    // Newest first: after a reorg or a replacement the newest is the likelier one mined.
    for (const tx of [...txs].reverse()) {
      const receipt = await this.reader.canonicalReceipt(tx.txHash);
      if (receipt) return receipt.status === 1 ? receipt : 'reverted';
    }
    return undefined;
  }

  private async adoptReceipt(row: AnchorRow, receipt: ReceiptInfo, moved: boolean): Promise<void> {
    const event = anchoredEventsIn(receipt, this.contract, row.logId).find((e) => e.treeSize === row.treeSize);
    if (!event || event.root !== row.root) {
      await this.store.markClosed(row, 'failed', 'receipt carries no matching Anchored event');
      return;
    }
    await this.store.markIncluded(
      row,
      { txHash: event.txHash, blockNumber: event.blockNumber, blockHash: event.blockHash, logIndex: event.logIndex },
      moved,
    );
  }

  /**
   * Our nonce was used without one of our transactions for this anchor being
   * mined successfully. The contract says what happened: this (size, root) is
   * on chain (adopt that event), something at or above it is (superseded), or
   * nothing is (post again with a fresh nonce).
   */
  private async resolveConsumedNonce(row: AnchorRow): Promise<void> {
    const head = await this.reader.head(row.logId);
    if (head.treeSize === row.treeSize && head.root === row.root) {
      const event = (await this.reader.anchoredEventsInBlock(row.logId, head.blockNumber)).find(
        (e) => e.treeSize === row.treeSize,
      );
      if (event) {
        await this.store.markIncluded(row, event, false);
        return;
      }
      await this.store.noteError(row, 'anchored on chain; event not found yet');
      return;
    }
    if (head.treeSize === row.treeSize) {
      await this.store.markClosed(
        row,
        'failed',
        `ROOT_CONFLICT: size ${row.treeSize} is anchored on chain with another root`,
      );
      return;
    }
    if (head.treeSize > row.treeSize) {
      await this.store.markClosed(row, 'superseded', `size ${head.treeSize} was anchored first`);
      return;
    }
    await this.repost(row, 0, await this.reader.nonce(this.sender, 'pending'));
  }

  /**
   * Signs and records a new transaction for a pending anchor, then broadcasts
   * it: same nonce with higher fees (replacement, or re-post after a reorg),
   * or a fresh nonce when the old one was consumed elsewhere.
   */
  private async repost(row: AnchorRow, minAgeMs: number, freshNonceFloor: number | null = null): Promise<void> {
    const head = await this.reader.head(row.logId);
    if (head.treeSize >= row.treeSize) {
      // Already on chain (or overtaken): adopt or close instead of posting.
      await this.resolveConsumedNonce(row);
      return;
    }
    const data = merkleAnchorInterface.encodeFunctionData('anchor', [row.logId, row.treeSize, row.root]);
    const txs = await this.store.transactionsFor(row);
    const previous = [...txs].reverse().find((t) => freshNonceFloor === null && t.nonce === row.nonce);
    // A replacement makes the same call: keep its gas limit. A fresh post is
    // estimated, which also checks the contract would accept it.
    const gasLimit = previous ? previous.gasLimit : await this.estimateGas(data);
    let fees = await this.currentFees();
    if (previous) {
      // Different fees → a different hash: a re-posted transaction must not
      // share the hash of the dropped one (nodes may still answer with the
      // old, non-canonical receipt for that hash).
      fees = replacementFees(previous, fees);
      this.checkCap(fees);
    }
    const signed = await this.store.recordReplacement(
      { ...row, sender: this.sender },
      minAgeMs,
      freshNonceFloor,
      (nonce) => this.sign(data, nonce, gasLimit, fees),
    );
    if (signed) await this.broadcast(row, signed);
  }

  // ------------------------------------------------------------------ status

  private async refreshStatus(scope: ChainScope, checkpoint: Checkpoint | undefined): Promise<void> {
    const origin = checkpoint?.origin ?? this.state.origin;
    if (origin === null) return;
    const summary = await this.store.summary(scope, this.contract.toLowerCase(), logIdForOrigin(origin));
    const size = this.state.checkpointSize ?? 0;
    Object.assign(this.state, {
      lastAnchoredSize: summary.lastAnchoredSize,
      lastAnchoredAt: summary.lastAnchoredAt,
      lastFinalSize: summary.lastFinalSize,
      lastFinalAt: summary.lastFinalAt,
      pendingSize: summary.pendingSize,
      unanchoredEntries: Math.max(0, size - (summary.lastAnchoredSize ?? 0)),
      unfinalizedEntries: Math.max(0, size - (summary.lastFinalSize ?? 0)),
      reorgs: summary.reorgs,
    });
  }
}

// ------------------------------------------------------------------- helpers

function toReference(row: AnchorRow, contract: string): AnchorReference {
  return {
    chain: row.chain,
    contract,
    tx: row.txHash!,
    block: row.blockNumber!,
    blockHash: row.blockHash!,
    logIndex: row.logIndex!,
    logId: row.logId,
    origin: row.origin,
    size: row.treeSize,
    root: row.root,
    final: row.status === 'final',
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validateOptions(o: AnchorerOptions & typeof DEFAULTS): void {
  const positive = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 1)
      throw new PavilionError('ANCHOR_INVALID_OPTION', `${name} must be a positive integer`);
  };
  positive('chainId', o.chainId);
  positive('minSizeDelta', o.minSizeDelta);
  positive('maxIntervalMs', o.maxIntervalMs);
  positive('pollIntervalMs', o.pollIntervalMs);
  positive('replaceAfterMs', o.replaceAfterMs);
  positive('rpcTimeoutMs', o.rpcTimeoutMs);
  positive('initialBackoffMs', o.initialBackoffMs);
  positive('maxBackoffMs', o.maxBackoffMs);
  if (typeof o.rpcUrl !== 'string' || !/^https?:\/\//.test(o.rpcUrl)) {
    throw new PavilionError('ANCHOR_INVALID_OPTION', 'rpcUrl must be an http(s) URL');
  }
  if (typeof o.contract !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(o.contract)) {
    throw new PavilionError('ANCHOR_INVALID_OPTION', 'contract must be a 20-byte 0x address');
  }
}

function invalidCheckpoint(field: string): PavilionError {
  return new PavilionError('CHECKPOINT_INVALID', `checkpoint from the source has an invalid ${field}`);
}

const PG_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P03',
  '08006',
  '08001',
]);

function databaseFailure(err: unknown): PavilionError {
  if (err instanceof PavilionError) return err;
  const code = (err as { code?: unknown })?.code;
  return new PavilionError(
    'DATABASE_UNAVAILABLE',
    `anchoring database error (${typeof code === 'string' ? code : 'unknown'})`,
    { cause: err },
  );
}

function isRetryableInfrastructure(err: unknown): boolean {
  if (err instanceof PavilionError)
    return (
      err.code === 'CHAIN_UNREACHABLE' || err.code === 'DATABASE_UNAVAILABLE' || err.code === 'ANCHOR_FEE_ABOVE_CAP'
    );
  if (isChainUnreachable(err)) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && PG_CONNECTION_CODES.has(code);
}

/** A status entry for `err`: a stable code and a message free of URLs and secrets. */
function describeFailure(err: unknown): AnchorerError {
  const at = new Date();
  if (err instanceof PavilionError) return { code: err.code, message: scrub(err.message), at };
  if (isChainUnreachable(err)) return { code: 'CHAIN_UNREACHABLE', message: 'chain RPC unreachable', at };
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && (PG_CONNECTION_CODES.has(code) || /^[0-9A-Z]{5}$/.test(code))) {
    return { code: 'DATABASE_UNAVAILABLE', message: `database error ${code}`, at };
  }
  return { code: 'ANCHORER_FAILED', message: scrub(rpcErrorMessage(err)), at };
}

/** RPC URLs can carry API keys: never let one into a status message. */
function scrub(message: string): string {
  return message.replace(/\b(?:https?|wss?):\/\/\S+/gi, '<url>').slice(0, 300);
}

const errorsInterface = new Interface(merkleAnchorInterface.fragments.filter((f) => f.type === 'error'));

/** The contract's custom error name in a failed call, when the node returned revert data. */
function revertName(err: unknown): string {
  const data =
    (err as { data?: unknown; info?: { error?: { data?: unknown } } })?.data ??
    (err as { info?: { error?: { data?: unknown } } })?.info?.error?.data;
  if (typeof data === 'string' && data.startsWith('0x')) {
    try {
      const parsed = errorsInterface.parseError(data);
      if (parsed) return parsed.name;
    } catch {
      /* not one of ours */
    }
  }
  return scrub(rpcErrorMessage(err));
}
