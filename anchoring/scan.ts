/**
 * The auditor's own reading of a MerkleAnchor contract: every Anchored event
 * of a log, from the contract's deploy block on, straight from the chain the
 * auditor pinned (never from what the operator says was anchored). Read-only:
 * an RPC URL, the chain id and the contract address are all it needs.
 *
 * What it returns is raw chain data; whether each anchored (size, root) is a
 * state of the log is the caller's check (a consistency proof against a
 * checkpoint it verified, see cli/audit.ts).
 */
import { getAddress, type JsonRpcProvider } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { type AnchoredEvent, ChainReader, isChainUnreachable, makeProvider } from './chain.js';
import { caip2, parseCaip2 } from './ids.js';

export type { AnchoredEvent } from './chain.js';

export interface ScanAnchorsInput {
  rpcUrl: string;
  /** CAIP-2 chain the auditor pinned; the RPC must serve exactly it. */
  chain: string;
  /** The contract the auditor pinned. */
  contract: string;
  /** bytes32 log id (SHA-256 of the origin). */
  logId: string;
  /**
   * The contract's deploy block as the auditor pinned it: where reading starts unless `fromBlock` says
   * otherwise. One beyond the chain's head is refused (PINS_INVALID): reading from there finds nothing, and
   * every receipt would be called not anchored yet, a wrong pin passed off as "try again later".
   */
  deployBlock?: number;
  /** First block to read: where a previous scan stopped. Default: `deployBlock`, else found on chain. */
  fromBlock?: number;
  /** Blocks per eth_getLogs request (public RPCs cap the range). Default 10,000. */
  chunkBlocks?: number;
  timeoutMs?: number;
}

export interface AnchorScan {
  /** Anchored events of the log in [fromBlock, latestBlock], in chain order. */
  events: AnchoredEvent[];
  fromBlock: number;
  latestBlock: number;
  /** The chain's `finalized` block (null when the node has none): events at or below it cannot be reorged away. */
  finalizedBlock: number | null;
}

/**
 * Reads every Anchored event of `logId`. Throws PavilionError:
 * CHAIN_UNREACHABLE (503), ANCHOR_MISMATCH (the RPC serves another chain, or
 * no contract at the address), ANCHOR_INVALID_REFERENCE (malformed input).
 */
export async function scanAnchors(input: ScanAnchorsInput): Promise<AnchorScan> {
  const chainId = parseCaip2(input.chain);
  let contract: string;
  try {
    contract = getAddress(input.contract);
  } catch {
    throw new PavilionError('ANCHOR_INVALID_REFERENCE', 'the pinned contract is not a 20-byte 0x address');
  }
  if (typeof input.logId !== 'string' || !/^0x[0-9a-f]{64}$/.test(input.logId))
    throw new PavilionError('ANCHOR_INVALID_REFERENCE', 'logId must be 0x + 64 lowercase hex digits');
  const chunk = input.chunkBlocks ?? 10_000;
  const provider = makeProvider(input.rpcUrl, chainId, input.timeoutMs ?? 10_000);
  try {
    const reader = new ChainReader(provider, contract);
    const served = await reader.chainId();
    if (served !== chainId)
      throw new PavilionError('ANCHOR_MISMATCH', `the RPC serves ${caip2(served)}, the pinned chain is ${input.chain}`);
    const latestBlock = await reader.latestBlockNumber();
    if (!(await reader.hasCode(latestBlock)))
      throw new PavilionError('ANCHOR_MISMATCH', `no contract at ${contract} on ${input.chain}`);
    if (input.deployBlock !== undefined && input.deployBlock > latestBlock)
      throw new PavilionError(
        'PINS_INVALID',
        `the pinned deploy block ${input.deployBlock} is beyond the head of ${input.chain} (block ${latestBlock})`,
      );
    const fromBlock = input.fromBlock ?? input.deployBlock ?? (await findDeployBlock(reader, latestBlock));
    const events: AnchoredEvent[] = [];
    for (let from = fromBlock; from <= latestBlock; from += chunk) {
      events.push(...(await reader.anchoredEvents(input.logId, from, Math.min(latestBlock, from + chunk - 1))));
    }
    const finalizedBlock = (await reader.finalizedBlockNumber()) ?? null;
    return { events, fromBlock, latestBlock, finalizedBlock };
  } catch (err) {
    if (err instanceof PavilionError) throw err;
    if (isChainUnreachable(err))
      throw new PavilionError('CHAIN_UNREACHABLE', `cannot reach the RPC for ${input.chain}`);
    throw new PavilionError('CHAIN_UNREACHABLE', `the RPC for ${input.chain} gave no usable answer`, {
      cause: err,
    });
  } finally {
    provider.destroy();
  }
}

/**
 * The block that deployed the contract: the lowest block whose state has its
 * code (binary search on eth_getCode; needs a node that keeps old state, as
 * archive nodes and anvil do). Publish it (`ANCHOR_DEPLOY_BLOCK`) so auditors
 * need not search.
 */
export async function findDeployBlock(reader: ChainReader, latestBlock?: number): Promise<number> {
  let high = latestBlock ?? (await reader.latestBlockNumber());
  let low = 0;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (await reader.hasCode(mid)) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** findDeployBlock over a fresh connection, for callers without a ChainReader. */
export async function deployBlockOf(rpcUrl: string, chainId: number, contract: string): Promise<number> {
  const provider: JsonRpcProvider = makeProvider(rpcUrl, chainId);
  try {
    return await findDeployBlock(new ChainReader(provider, getAddress(contract)));
  } finally {
    provider.destroy();
  }
}
