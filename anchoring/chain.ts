/**
 * Read and write access to an EVM JSON-RPC endpoint, shaped for anchoring:
 * bounded request time, a fixed network (no start-up probing loop), typed
 * answers, and failures sorted into "the chain is unreachable" versus "the
 * node answered and refused".
 */
import { FetchRequest, JsonRpcProvider, Network, type Log, type TransactionReceipt } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { ANCHORED_TOPIC, merkleAnchorInterface } from './contract.js';

export interface AnchoredEvent {
  contract: string;
  logId: string;
  treeSize: number;
  root: string;
  previousSize: number;
  txHash: string;
  blockNumber: number;
  blockHash: string;
  logIndex: number;
}

export interface OnChainHead {
  treeSize: number;
  root: string;
  blockNumber: number;
}

/**
 * JSON-RPC provider pinned to `chainId`: ethers would otherwise probe the
 * network at start and retry forever, logging, while the RPC is down.
 */
export function makeProvider(rpcUrl: string, chainId: number, timeoutMs = 10_000): JsonRpcProvider {
  const request = new FetchRequest(rpcUrl);
  request.timeout = timeoutMs;
  // One request per HTTP call keeps a failed call's error attributable.
  return new JsonRpcProvider(request, Network.from(chainId), { staticNetwork: true, batchMaxCount: 1 });
}

const TRANSPORT_CODES = new Set(['NETWORK_ERROR', 'TIMEOUT', 'SERVER_ERROR', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'UND_ERR_SOCKET', 'ABORT_ERR']);

/** True when the failure says nothing about the request, only that the node could not be reached. */
export function isChainUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSPORT_CODES.has(code)) return true;
    if (e instanceof TypeError && /fetch failed/i.test(e.message)) return true;
  }
  return false;
}

/** The node's own error text (JSON-RPC error message), or the ethers summary. */
export function rpcErrorMessage(err: unknown): string {
  const e = err as { info?: { error?: { message?: unknown } }; error?: { message?: unknown }; shortMessage?: unknown; message?: unknown };
  const candidates = [e?.info?.error?.message, e?.error?.message, e?.shortMessage, e?.message];
  const text = candidates.find((m) => typeof m === 'string' && m.length > 0) as string | undefined;
  // Cap: node messages can echo whole payloads.
  return (text ?? 'unknown error').slice(0, 300);
}

/** Error thrown for transport failures so callers can tell them apart. */
export function chainUnreachable(err: unknown): PavilionError {
  const code = (err as { code?: unknown })?.code;
  return new PavilionError('CHAIN_UNREACHABLE', `chain RPC unreachable (${typeof code === 'string' ? code : 'no answer'})`, 503, { cause: err });
}

export class ChainReader {
  constructor(
    readonly provider: JsonRpcProvider,
    readonly contract: string,
  ) {}

  /** Runs an RPC call; transport failures become PavilionError CHAIN_UNREACHABLE. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isChainUnreachable(err)) throw chainUnreachable(err);
      throw err;
    }
  }

  async chainId(): Promise<number> {
    const hex = await this.call(() => this.provider.send('eth_chainId', []) as Promise<string>);
    return Number(BigInt(hex));
  }

  async hasCode(): Promise<boolean> {
    const code = await this.call(() => this.provider.getCode(this.contract));
    return code !== '0x';
  }

  async head(logId: string): Promise<OnChainHead> {
    const data = merkleAnchorInterface.encodeFunctionData('latest', [logId]);
    const out = await this.call(() => this.provider.call({ to: this.contract, data }));
    const [treeSize, root, blockNumber] = merkleAnchorInterface.decodeFunctionResult('latest', out) as unknown as [bigint, string, bigint];
    return { treeSize: Number(treeSize), root: root.toLowerCase(), blockNumber: Number(blockNumber) };
  }

  async receipt(txHash: string): Promise<TransactionReceipt | null> {
    return this.call(() => this.provider.getTransactionReceipt(txHash));
  }

  /** Hash of the canonical block at `blockNumber`, or undefined above the head. */
  async blockHashAt(blockNumber: number): Promise<string | undefined> {
    const block = await this.call(() => this.provider.getBlock(blockNumber));
    return block?.hash?.toLowerCase() ?? undefined;
  }

  /**
   * A receipt only counts when its block is still the canonical block at its
   * height: after a reorg a node can keep answering with the receipt of the
   * abandoned block (anvil 1.7.1 does so after evm_revert; observed here).
   */
  async canonicalReceipt(txHash: string): Promise<TransactionReceipt | null> {
    const receipt = await this.receipt(txHash);
    if (!receipt || receipt.blockHash == null) return null;
    const canonical = await this.blockHashAt(receipt.blockNumber);
    return canonical === receipt.blockHash.toLowerCase() ? receipt : null;
  }

  async latestBlockNumber(): Promise<number> {
    // Not provider.getBlockNumber(): ethers caches that answer for a polling
    // interval, and a stale head would misstate confirmations.
    const hex = await this.call(() => this.provider.send('eth_blockNumber', []) as Promise<string>);
    return Number(BigInt(hex));
  }

  /** Number of the `finalized` block, or undefined when the node has none yet. */
  async finalizedBlockNumber(): Promise<number | undefined> {
    const block = await this.call(() => this.provider.getBlock('finalized'));
    return block ? block.number : undefined;
  }

  async baseFee(): Promise<bigint> {
    const block = await this.call(() => this.provider.getBlock('latest'));
    return block?.baseFeePerGas ?? 0n;
  }

  async suggestedPriorityFee(): Promise<bigint | undefined> {
    try {
      const hex = await this.call(() => this.provider.send('eth_maxPriorityFeePerGas', []) as Promise<string>);
      return BigInt(hex);
    } catch (err) {
      if (err instanceof PavilionError) throw err;
      return undefined; // node without the method: the policy's floor applies
    }
  }

  async nonce(address: string, tag: 'latest' | 'pending'): Promise<number> {
    return this.call(() => this.provider.getTransactionCount(address, tag));
  }

  async anchoredEventsInBlock(logId: string, blockNumber: number): Promise<AnchoredEvent[]> {
    const logs = await this.call(() =>
      this.provider.getLogs({ address: this.contract, topics: [ANCHORED_TOPIC, logId], fromBlock: blockNumber, toBlock: blockNumber }),
    );
    return logs.map((l) => decodeAnchored(l)).filter((e): e is AnchoredEvent => e !== undefined);
  }
}

/** The Anchored event in `log`, if it is one from a MerkleAnchor (any address). */
export function decodeAnchored(log: Pick<Log, 'address' | 'topics' | 'data' | 'transactionHash' | 'blockNumber' | 'blockHash' | 'index'>): AnchoredEvent | undefined {
  if (log.topics[0]?.toLowerCase() !== ANCHORED_TOPIC || log.topics.length !== 2) return undefined;
  let parsed;
  try {
    parsed = merkleAnchorInterface.decodeEventLog('Anchored', log.data, log.topics);
  } catch {
    return undefined;
  }
  return {
    contract: log.address.toLowerCase(),
    logId: String(parsed[0]).toLowerCase(),
    treeSize: Number(parsed[1]),
    root: String(parsed[2]).toLowerCase(),
    previousSize: Number(parsed[3]),
    txHash: log.transactionHash.toLowerCase(),
    blockNumber: log.blockNumber,
    blockHash: log.blockHash.toLowerCase(),
    logIndex: log.index,
  };
}

/** Anchored events in a receipt emitted by `contract` for `logId`. */
export function anchoredEventsIn(receipt: TransactionReceipt, contract: string, logId: string): AnchoredEvent[] {
  const out: AnchoredEvent[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== contract.toLowerCase()) continue;
    const event = decodeAnchored(log);
    if (event && event.logId === logId.toLowerCase()) out.push(event);
  }
  return out;
}
