/**
 * Following open anchors to finality: a pending anchor waits for one of its
 * transactions to be mined (or is replaced with higher fees, or re-posted when
 * its nonce went elsewhere); an included one waits until its block is final,
 * and goes back to pending when a reorg drops its receipt. The contract's
 * own state settles every doubt about what is on chain.
 */
import { anchoredEventsIn, type ChainReader, type ReceiptInfo } from './chain.js';
import { type AnchorerError, describeFailure, isRetryableInfrastructure } from './failures.js';
import type { AnchorSender } from './sender.js';
import type { AnchorRow, AnchorStore, TransactionRow } from './store.js';

export class AnchorFollower {
  constructor(
    private readonly reader: ChainReader,
    private readonly store: AnchorStore,
    private readonly sending: AnchorSender,
    /** Checksummed MerkleAnchor address. */
    private readonly contract: string,
    private readonly replaceAfterMs: number,
  ) {}

  /**
   * One step for one open anchor. Infrastructure failures propagate; others are noted on the row and
   * returned: the pass goes on with the other anchors, but does not count as a success (an anchor the node
   * refuses to take, e.g. from an unfunded wallet, would otherwise sit pending with no failure counted).
   */
  async follow(row: AnchorRow, finalized: number | undefined): Promise<AnchorerError | undefined> {
    try {
      if (row.status === 'included') await this.followIncluded(row, finalized);
      else await this.followPending(row);
      return undefined;
    } catch (err) {
      if (isRetryableInfrastructure(err)) throw err;
      // One odd anchor must not stall the others: note it and move on.
      const failure = describeFailure(err);
      await this.store.noteError(row, `${failure.code}: ${failure.message}`);
      return failure;
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
    const minedNonce = await this.reader.nonce(this.sending.sender, 'latest');
    if (minedNonce > newest.nonce) {
      // The nonce is used, but by none of our transactions for this anchor.
      await this.resolveConsumedNonce(row);
      return;
    }
    if (newest.broadcastAt === null) {
      // Never accepted by a node: a fee refusal needs new fees, anything else
      // (a crash before sending, the RPC down) just needs sending again.
      if (/fee|underpriced/i.test(newest.broadcastError ?? '')) await this.repost(row, 0);
      else await this.sending.broadcast(row, newest);
      return;
    }
    if (Date.now() - newest.createdAt.getTime() >= this.replaceAfterMs) {
      await this.repost(row, this.replaceAfterMs);
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
    await this.repost(row, 0, await this.reader.nonce(this.sending.sender, 'pending'));
  }

  /** Re-posts through the sender; when the contract is already at this size or beyond, finds out which instead. */
  private async repost(row: AnchorRow, minAgeMs: number, freshNonceFloor: number | null = null): Promise<void> {
    if ((await this.sending.repost(row, minAgeMs, freshNonceFloor)) === 'overtaken') {
      await this.resolveConsumedNonce(row);
    }
  }
}
