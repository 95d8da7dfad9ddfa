/**
 * Sending anchors: deciding that a checkpoint is due, recording the intent
 * and its signed transaction (write-ahead, under the store's per-sender lock),
 * broadcasting it, and signing replacements and re-posts for the follower
 * (follower.ts). Transport failures propagate to the pass, which retries.
 */
import { Transaction, type Wallet } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { type ChainReader, rpcErrorMessage } from './chain.js';
import { merkleAnchorInterface } from './contract.js';
import { revertName, scrub } from './failures.js';
import { anchorFees, type Eip1559Fees, replacementFees } from './fees.js';
import { logIdForOrigin } from './ids.js';
import type { AnchorRow, AnchorStore, ChainScope, SignedAnchorTx } from './store.js';
import type { Checkpoint } from './types.js';

/** Extra gas over the estimate: the estimate is exact for this contract; the margin covers a change in between. */
const GAS_MARGIN_PERCENT = 25n;

export interface SenderOptions {
  chainId: number;
  minSizeDelta: number;
  maxIntervalMs: number;
  maxFeePerGasCap?: bigint;
  beforeBroadcast?: (tx: { hash: string; nonce: number }) => Promise<void>;
}

export class AnchorSender {
  /** Lower-case address of the signing account. */
  readonly sender: string;
  private readonly contractKey: string;

  constructor(
    private readonly opts: SenderOptions,
    private readonly reader: ChainReader,
    private readonly wallet: Wallet,
    private readonly store: AnchorStore,
    /** Checksummed MerkleAnchor address. */
    private readonly contract: string,
  ) {
    this.sender = wallet.address.toLowerCase();
    this.contractKey = contract.toLowerCase();
  }

  /**
   * Records and broadcasts an anchor of `checkpoint` when a trigger fired
   * (size grown by minSizeDelta, or maxIntervalMs since the last intent or
   * `startedAt`) and nothing is in flight. Returns the size sent, if any.
   */
  async maybeAnchor(scope: ChainScope, checkpoint: Checkpoint, startedAt: number): Promise<number | undefined> {
    if (checkpoint.size === 0) return undefined; // an empty tree has nothing to anchor
    const logId = logIdForOrigin(checkpoint.origin);
    const summary = await this.store.summary(scope, this.contractKey, logId);
    if (summary.pendingSize !== null) return undefined; // one anchor in flight per log
    const last = summary.lastAnchoredSize ?? 0;
    if (checkpoint.size <= last) return undefined;
    const grown = checkpoint.size - last;
    const since = summary.lastIntentAt?.getTime() ?? startedAt;
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
        contract: this.contractKey,
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

  /**
   * Signs and records a new transaction for a pending anchor, then broadcasts
   * it: same nonce with higher fees (replacement, or re-post after a reorg),
   * or a fresh nonce when the old one was consumed elsewhere. Returns
   * 'overtaken' without sending when the contract already holds this size or
   * more: the follower then finds out which.
   */
  async repost(row: AnchorRow, minAgeMs: number, freshNonceFloor: number | null): Promise<'sent' | 'overtaken'> {
    const head = await this.reader.head(row.logId);
    if (head.treeSize >= row.treeSize) return 'overtaken';
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
    return 'sent';
  }

  /** Hands a recorded transaction to the node. Transport failures propagate (retry later); refusals are recorded. */
  async broadcast(scope: ChainScope, tx: { txHash: string; nonce: number; raw: string }): Promise<void> {
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
}
