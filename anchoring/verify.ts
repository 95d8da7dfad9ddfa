/**
 * The auditor's on-chain check of an anchor reference. Read-only: it needs an
 * RPC endpoint and nothing else (no signer, no database).
 *
 * Given where the operator says a checkpoint was anchored (chain, contract,
 * transaction, and optionally the block it reported) and what the auditor
 * expects to find (the log's origin or logId, the tree size and the root from
 * a checkpoint the auditor verified itself), it checks that:
 * 1. the RPC serves the referenced chain;
 * 2. the transaction has a receipt, in the block that is canonical at its height;
 * 3. the receipt holds an Anchored event emitted by that contract for that
 *    logId with exactly that size and root;
 * 4. the block matches the one in the reference, if given;
 * and reports confirmations and finality (block ≤ the chain's `finalized`).
 */
import { getAddress, type JsonRpcProvider } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { anchoredEventsIn, ChainReader, decodeAnchored, isChainUnreachable, makeProvider } from './chain.js';
import { caip2, logIdForOrigin, parseCaip2 } from './ids.js';
import type { AnchorReference } from './types.js';

export type AnchorVerificationCode = 'ANCHOR_NOT_FOUND' | 'ANCHOR_MISMATCH' | 'ANCHOR_REORGED' | 'CHAIN_UNREACHABLE';

export class AnchorVerificationError extends PavilionError {
  declare readonly code: AnchorVerificationCode;
  /** Facts found on chain that explain the failure (e.g. where the receipt is now). */
  readonly details: Record<string, unknown>;

  constructor(
    code: AnchorVerificationCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'PavilionError';
    this.details = details;
  }
}

export interface VerifyAnchorInput {
  rpcUrl: string;
  /** CAIP-2 chain id of the reference, e.g. `eip155:80002`. */
  chain: string;
  contract: string;
  /** Transaction hash from the reference. */
  tx: string;
  /** Block number and hash from the reference, if it has them: a different canonical block means ANCHOR_REORGED. */
  block?: number;
  blockHash?: string;
  logIndex?: number;
  /** What the auditor expects, from a checkpoint it verified itself. Give origin or logId. */
  expected: { origin?: string; logId?: string; size: number; root: string | Uint8Array };
  /** Per RPC request. Default 10 s. */
  timeoutMs?: number;
}

/** The anchor as found on chain: the reference's fields (not the origin, which the chain never sees), chain facts. */
export interface VerifiedAnchor extends Omit<AnchorReference, 'origin'> {
  /** Size anchored before this one for the same log (0 for the first). */
  previousSize: number;
  latestBlock: number;
  /** 1 when in the latest block. */
  confirmations: number;
  finalizedBlock: number | null;
}

export type AnchorVerification = { ok: true; anchor: VerifiedAnchor } | { ok: false; error: AnchorVerificationError };

const HASH32 = /^0x[0-9a-fA-F]{64}$/;

/**
 * Checks an anchor on chain. Malformed input throws a PavilionError
 * (ANCHOR_INVALID_REFERENCE); every on-chain outcome is returned, never thrown.
 */
export async function verifyAnchor(input: VerifyAnchorInput): Promise<AnchorVerification> {
  const req = normalise(input);
  const provider = makeProvider(req.rpcUrl, req.chainId, input.timeoutMs ?? 10_000);
  try {
    return { ok: true, anchor: await check(provider, req) };
  } catch (err) {
    if (err instanceof AnchorVerificationError) return { ok: false, error: err };
    if (isChainUnreachable(err) || (err instanceof PavilionError && err.code === 'CHAIN_UNREACHABLE')) {
      return {
        ok: false,
        error: new AnchorVerificationError(
          'CHAIN_UNREACHABLE',
          `cannot reach the RPC for ${req.chain}`,
          {},
          { cause: err },
        ),
      };
    }
    // The node answered with something unexpected: as good as unreachable for an auditor.
    return {
      ok: false,
      error: new AnchorVerificationError(
        'CHAIN_UNREACHABLE',
        `the RPC for ${req.chain} gave no usable answer`,
        {},
        { cause: err },
      ),
    };
  } finally {
    provider.destroy();
  }
}

interface NormalisedInput {
  rpcUrl: string;
  chain: string;
  chainId: number;
  contract: string;
  tx: string;
  block?: number;
  blockHash?: string;
  logIndex?: number;
  logId: string;
  size: number;
  root: string;
}

function invalid(field: string): PavilionError {
  return new PavilionError('ANCHOR_INVALID_REFERENCE', `anchor reference has an invalid ${field}`);
}

function normalise(input: VerifyAnchorInput): NormalisedInput {
  if (typeof input !== 'object' || input === null) throw invalid('input');
  if (typeof input.rpcUrl !== 'string' || !/^https?:\/\//.test(input.rpcUrl)) throw invalid('rpcUrl');
  const chainId = parseCaip2(input.chain);
  let contract: string;
  try {
    contract = getAddress(input.contract);
  } catch {
    throw invalid('contract');
  }
  if (typeof input.tx !== 'string' || !HASH32.test(input.tx)) throw invalid('tx');
  if (input.block !== undefined && (!Number.isSafeInteger(input.block) || input.block < 0)) throw invalid('block');
  if (input.blockHash !== undefined && (typeof input.blockHash !== 'string' || !HASH32.test(input.blockHash)))
    throw invalid('blockHash');
  if (input.logIndex !== undefined && (!Number.isSafeInteger(input.logIndex) || input.logIndex < 0))
    throw invalid('logIndex');
  const expected = input.expected;
  if (typeof expected !== 'object' || expected === null) throw invalid('expected');
  let logId: string;
  if (expected.logId !== undefined) {
    if (typeof expected.logId !== 'string' || !HASH32.test(expected.logId)) throw invalid('expected.logId');
    logId = expected.logId.toLowerCase();
    if (expected.origin !== undefined && logIdForOrigin(expected.origin) !== logId)
      throw invalid('expected.origin (does not match logId)');
  } else if (expected.origin !== undefined) {
    logId = logIdForOrigin(expected.origin);
  } else {
    throw invalid('expected (origin or logId required)');
  }
  if (!Number.isSafeInteger(expected.size) || expected.size < 1) throw invalid('expected.size');
  let root: string;
  if (expected.root instanceof Uint8Array) {
    if (expected.root.length !== 32) throw invalid('expected.root');
    root = `0x${Buffer.from(expected.root).toString('hex')}`;
  } else if (typeof expected.root === 'string' && HASH32.test(expected.root)) {
    root = expected.root.toLowerCase();
  } else {
    throw invalid('expected.root');
  }
  return {
    rpcUrl: input.rpcUrl,
    chain: caip2(chainId),
    chainId,
    contract,
    tx: input.tx.toLowerCase(),
    block: input.block,
    blockHash: input.blockHash?.toLowerCase(),
    logIndex: input.logIndex,
    logId,
    size: expected.size,
    root,
  };
}

async function check(provider: JsonRpcProvider, req: NormalisedInput): Promise<VerifiedAnchor> {
  const reader = new ChainReader(provider, req.contract);
  const served = await reader.chainId();
  if (served !== req.chainId) {
    throw new AnchorVerificationError(
      'ANCHOR_MISMATCH',
      `the RPC serves ${caip2(served)}, the reference names ${req.chain}`,
      { servedChain: caip2(served) },
    );
  }

  const receipt = await reader.receipt(req.tx);
  if (!receipt) {
    if (req.block !== undefined && req.blockHash !== undefined) {
      const canonical = await reader.blockHashAt(req.block);
      if (canonical !== req.blockHash) {
        throw new AnchorVerificationError(
          'ANCHOR_REORGED',
          `the referenced block ${req.block} is no longer canonical and the transaction has no receipt`,
          {
            canonicalBlockHash: canonical ?? null,
          },
        );
      }
    }
    const pending = await reader.knowsTransaction(req.tx);
    throw new AnchorVerificationError(
      'ANCHOR_NOT_FOUND',
      pending ? 'the transaction is not mined yet' : 'no such transaction on this chain',
      {
        pending: Boolean(pending),
      },
    );
  }

  const receiptBlockHash = receipt.blockHash;
  const canonical = await reader.blockHashAt(receipt.blockNumber);
  if (canonical !== receiptBlockHash) {
    // The node still knows a receipt from a block that lost a reorg.
    throw new AnchorVerificationError(
      'ANCHOR_REORGED',
      `the receipt's block ${receipt.blockNumber} is not canonical any more`,
      {
        receiptBlockHash,
        canonicalBlockHash: canonical ?? null,
      },
    );
  }
  if (
    (req.blockHash !== undefined && req.blockHash !== receiptBlockHash) ||
    (req.block !== undefined && req.block !== receipt.blockNumber)
  ) {
    throw new AnchorVerificationError(
      'ANCHOR_REORGED',
      'the transaction was mined in another block than the reference says',
      {
        block: receipt.blockNumber,
        blockHash: receiptBlockHash,
      },
    );
  }
  if (receipt.status !== 1) {
    throw new AnchorVerificationError('ANCHOR_NOT_FOUND', 'the transaction reverted: it anchored nothing', {
      block: receipt.blockNumber,
    });
  }

  const ours = anchoredEventsIn(receipt, req.contract, req.logId);
  if (ours.length === 0) {
    const fromContract = receipt.logs
      .filter((l) => l.address.toLowerCase() === req.contract.toLowerCase())
      .map((l) => decodeAnchored(l))
      .filter(Boolean);
    if (fromContract.length > 0) {
      throw new AnchorVerificationError('ANCHOR_MISMATCH', 'the transaction anchored another log', {
        logIds: fromContract.map((e) => e!.logId),
      });
    }
    throw new AnchorVerificationError('ANCHOR_NOT_FOUND', 'the transaction holds no Anchored event from this contract');
  }
  const event = ours.find((e) => e.treeSize === req.size);
  if (!event) {
    throw new AnchorVerificationError(
      'ANCHOR_MISMATCH',
      `the transaction anchored size ${ours[0]!.treeSize}, not ${req.size}`,
      { size: ours[0]!.treeSize },
    );
  }
  if (event.root !== req.root) {
    throw new AnchorVerificationError(
      'ANCHOR_MISMATCH',
      `the root anchored for size ${req.size} differs from the expected root`,
      { root: event.root },
    );
  }
  if (req.logIndex !== undefined && req.logIndex !== event.logIndex) {
    throw new AnchorVerificationError(
      'ANCHOR_MISMATCH',
      `the event has log index ${event.logIndex}, the reference says ${req.logIndex}`,
      { logIndex: event.logIndex },
    );
  }

  const [latestBlock, finalizedBlock] = await Promise.all([reader.latestBlockNumber(), reader.finalizedBlockNumber()]);
  return {
    chain: req.chain,
    contract: req.contract,
    tx: req.tx,
    block: event.blockNumber,
    blockHash: event.blockHash,
    logIndex: event.logIndex,
    logId: req.logId,
    size: event.treeSize,
    root: event.root,
    previousSize: event.previousSize,
    latestBlock,
    confirmations: Math.max(0, latestBlock - event.blockNumber + 1),
    finalizedBlock: finalizedBlock ?? null,
    final: finalizedBlock !== undefined && event.blockNumber <= finalizedBlock,
  };
}
