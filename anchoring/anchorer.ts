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
 * recorded in status(), told to `onPassFailed` (the broker logs them and exports the count: a
 * misconfigured chain would otherwise fail in silence), and retried with capped exponential backoff.
 *
 * This file is the pass (loop, chain check, reading the checkpoint); sending
 * is sender.ts, following receipts and reorgs follower.ts, the status
 * status.ts, naming failures failures.ts.
 */
import { getAddress, type JsonRpcProvider, Wallet } from 'ethers';
import { PavilionError } from '../common/errors.js';
import type { Sql } from '../storage/postgres.js';
import { ChainReader, makeProvider } from './chain.js';
import { type AnchorerError, databaseFailure, describeFailure, invalidCheckpoint } from './failures.js';
import { AnchorFollower } from './follower.js';
import { caip2, logIdForOrigin } from './ids.js';
import { findDeployBlock } from './scan.js';
import { migrateAnchoring } from './schema.js';
import { AnchorSender } from './sender.js';
import { type AnchorerStatus, applySummary, initialStatus, snapshot, toReference, updateLags } from './status.js';
import { AnchorStore, type ChainScope } from './store.js';
import type { AnchorReference, Checkpoint, CheckpointSource } from './types.js';

export type { AnchorerError } from './failures.js';
export type { AnchorerStatus } from './status.js';

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
  /**
   * Block that deployed the contract, when known (published to auditors). Absent: looked up on chain on the
   * first pass that reaches it (scan.ts; a node without old state gives none), see status().deployBlock.
   */
  deployBlock?: number;
  /** Refuse to send when maxFeePerGas would exceed this (wei); absent → no cap. */
  maxFeePerGasCap?: bigint;
  /** Told of every failed pass, with the failures in a row so far (the retries back off up to maxBackoffMs). */
  onPassFailed?: (error: AnchorerError, consecutiveFailures: number) => void;
  /** Told of the first pass that succeeds after `failedPasses` failed ones. */
  onRecovered?: (failedPasses: number) => void;
  /** Test seam: runs after the transaction is recorded and before it is broadcast. */
  beforeBroadcast?: (tx: { hash: string; nonce: number }) => Promise<void>;
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

/**
 * The anchoring account of a hex private key; ANCHOR_INVALID_KEY naming `setting` (the broker's and
 * `pavilion anchor deploy`'s ANCHOR_PRIVATE_KEY) when it is not one. The key itself never reaches the message.
 */
export function walletFromKey(privateKey: string, setting = 'privateKey'): Wallet {
  try {
    return new Wallet(privateKey);
  } catch {
    throw new PavilionError(
      'ANCHOR_INVALID_KEY',
      `${setting} is not a valid secp256k1 private key (32 bytes of hex, 0x optional)`,
    );
  }
}

export class Anchorer {
  readonly chain: string;
  readonly contract: string;
  readonly sender: string;
  private readonly opts: AnchorerOptions & typeof DEFAULTS;
  private readonly provider: JsonRpcProvider;
  private readonly reader: ChainReader;
  private readonly store: AnchorStore;
  private readonly sending: AnchorSender;
  private readonly following: AnchorFollower;
  private readonly startedAt = Date.now();
  private migrated = false;
  /** Set once the RPC has been checked: CAIP-2 chain plus genesis hash (see schema.ts). */
  private scope: ChainScope | undefined;
  /** Set while the RPC serves another chain than the scope's (passScope): what every use of the scope throws. */
  private chainChanged: PavilionError | undefined;
  /** The node cannot say which block deployed the contract (it keeps no old state): not asked again. */
  private deployBlockUnavailable = false;
  /** The contract's latest anchor (log id, size, block) last found to be a state of the log. */
  private consistentAnchor: string | undefined;
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
    const wallet = walletFromKey(options.privateKey);
    this.store = new AnchorStore(options.sql);
    this.sending = new AnchorSender(this.opts, this.reader, wallet, this.store, this.contract);
    this.sender = this.sending.sender;
    this.following = new AnchorFollower(this.reader, this.store, this.sending, this.contract, this.opts.replaceAfterMs);
    this.state = initialStatus(this.chain, this.contract, options.deployBlock ?? null);
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
    return snapshot(this.state);
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
   * Checks the RPC serves the configured chain and the contract has code there (what every pass
   * checks first), so a broker can refuse a wrong chain or contract at start: throws
   * CHAIN_ID_MISMATCH, ANCHOR_CONTRACT_MISSING, or whatever reaching the RPC threw.
   */
  async checkChain(): Promise<void> {
    await this.ensureChain();
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
      // The checkpoint first: while the chain or the database fails, the lags still grow with the log.
      const checkpoint = await this.readCheckpoint();
      await this.ensureMigrated();
      const scope = await this.passScope();
      await this.lookUpDeployBlock();
      const finalized = await this.reader.finalizedBlockNumber();
      // An anchor that could not move on (its transaction refused by the node, say) fails the pass once
      // the others were followed: a pass that left its anchor unbroadcast is no success.
      let stuck: AnchorerError | undefined;
      for (const row of await this.store.openAnchors(scope, this.contract.toLowerCase(), this.sender)) {
        stuck ??= await this.following.follow(row, finalized);
      }
      // Every pass, not only when a trigger fires: a log below the chain's latest anchor must not sit silent.
      if (checkpoint) await this.checkChainAnchor(checkpoint);
      const sent = checkpoint ? await this.sending.maybeAnchor(scope, checkpoint, this.startedAt) : undefined;
      await this.refreshStatus(scope, checkpoint);
      if (stuck) return this.failed(stuck);
      const failedPasses = this.state.consecutiveFailures;
      this.state.consecutiveFailures = 0;
      this.state.lastSuccessAt = new Date();
      if (failedPasses > 0) this.opts.onRecovered?.(failedPasses);
      return sent === undefined ? { ok: true } : { ok: true, sent };
    } catch (err) {
      return this.failed(describeFailure(err));
    }
  }

  private failed(error: AnchorerError): TickOutcome {
    this.state.lastError = error;
    this.state.consecutiveFailures++;
    updateLags(this.state);
    this.opts.onPassFailed?.(error, this.state.consecutiveFailures);
    return { ok: false, error };
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

  /**
   * The scope of this pass: the one found at the first check, as long as the RPC still serves that chain.
   * A dev chain reset while the broker runs (anvil started afresh on the same port) keeps the chain id and,
   * once redeployed, the contract address; only the genesis hash tells. Anchoring on would record anchors of
   * the new chain under the old genesis, and receipts would go on naming the old chain's vanished
   * transactions as final. So every pass re-reads the genesis hash (one call) and, while it differs, fails
   * with what a start on that chain would say: ANCHOR_CONTRACT_MISSING, or ANCHOR_CHAIN_CHANGED once a
   * contract is there again (a restart anchors on the new chain); anchorFor then answers nothing.
   */
  private async passScope(): Promise<ChainScope> {
    if (!this.scope) return this.ensureChain();
    const genesis = await this.reader.blockHashAt(0);
    if (!genesis) throw new PavilionError('CHAIN_UNREACHABLE', 'the RPC returned no genesis block');
    if (genesis === this.scope.genesis) {
      this.chainChanged = undefined;
      return this.scope;
    }
    this.chainChanged = (await this.reader.hasCode())
      ? new PavilionError(
          'ANCHOR_CHAIN_CHANGED',
          `the RPC serves another ${this.chain} than at start (its genesis block changed: a reset dev chain?); ` +
            'restart the broker to anchor on it',
        )
      : new PavilionError(
          'ANCHOR_CONTRACT_MISSING',
          `no contract code at ${this.contract} on ${this.chain} (its genesis block changed since start)`,
        );
    throw this.chainChanged;
  }

  private async ensureChain(): Promise<ChainScope> {
    if (this.chainChanged) throw this.chainChanged;
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

  /**
   * The contract's latest anchor of this log must be a state of the log: at most its size, with the log's
   * root at that size. Otherwise the log lost anchored entries or forked (restored from an older copy and
   * re-grown, which docs/operations.md forbids), or someone else anchored another root with the owner key:
   * anchoring on would post a second history no auditor can reconcile with the first. Throws
   * ANCHOR_LOG_DIVERGED, failing the pass (logged, counted); a (size, block) found consistent once is not
   * checked again, so a healthy pass costs one eth_call.
   */
  private async checkChainAnchor(checkpoint: Checkpoint): Promise<void> {
    const logId = logIdForOrigin(checkpoint.origin);
    const latest = await this.reader.latest(logId);
    const key = `${logId} ${latest.treeSize} ${latest.blockNumber}`;
    if (latest.treeSize === 0 || key === this.consistentAnchor) {
      this.state.divergedAnchor = null;
      return;
    }
    const onChain = await this.reader.rootOf(logId, latest);
    let ours: Uint8Array | undefined;
    try {
      ours = onChain.treeSize === checkpoint.size ? checkpoint.root : await this.opts.source.rootAt(onChain.treeSize);
    } catch (err) {
      throw new PavilionError('CHECKPOINT_SOURCE_FAILED', 'the checkpoint source failed', { cause: err });
    }
    const root = ours && `0x${Buffer.from(ours).toString('hex')}`;
    if (root === onChain.root) {
      this.consistentAnchor = key;
      this.state.divergedAnchor = null;
      return;
    }
    const { treeSize: size } = onChain;
    this.state.divergedAnchor = { size, root: onChain.root, logSize: checkpoint.size };
    throw new PavilionError(
      'ANCHOR_LOG_DIVERGED',
      ours === undefined
        ? `the chain's latest anchor of this log is at size ${size}, beyond the log (size ${checkpoint.size}): ` +
            'the log lost anchored entries (restored from an older copy?); not anchoring'
        : `the chain's latest anchor of this log (size ${size}) holds another root than the log at size ${size} ` +
            `(log size ${checkpoint.size}): the log forked (re-grown from an older copy?) or someone else ` +
            'anchored with the owner key; not anchoring',
    );
  }

  /**
   * The deploy block auditors pin, when nobody gave it and it is not known yet: an RPC unreachable at start
   * left it null for the life of the process. Asked again on each pass until the node answers; a node that
   * answers with an error (no old state to search) is not asked again. Never fails the pass.
   */
  private async lookUpDeployBlock(): Promise<void> {
    if (this.state.deployBlock !== null || this.deployBlockUnavailable) return;
    try {
      this.state.deployBlock = await findDeployBlock(this.reader);
    } catch (err) {
      if (!(err instanceof PavilionError && err.code === 'CHAIN_UNREACHABLE')) this.deployBlockUnavailable = true;
    }
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

  private async refreshStatus(scope: ChainScope, checkpoint: Checkpoint | undefined): Promise<void> {
    const origin = checkpoint?.origin ?? this.state.origin;
    if (origin === null) return;
    applySummary(this.state, await this.store.summary(scope, this.contract.toLowerCase(), logIdForOrigin(origin)));
  }
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
