/**
 * Read and write access to an EVM JSON-RPC endpoint, shaped for anchoring:
 * bounded request time, a fixed network (no start-up probing loop), typed
 * answers, and failures sorted into "the chain is unreachable" versus "the
 * node answered and refused".
 */
import { AbiCoder, FetchRequest, JsonRpcProvider, Network } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { ANCHORED_TOPIC, merkleAnchorInterface } from './contract.js';

const STORED_ROOT_LATEST = AbiCoder.defaultAbiCoder();

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

const TRANSPORT_CODES = new Set([
  'NETWORK_ERROR',
  'TIMEOUT',
  'SERVER_ERROR',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'UND_ERR_SOCKET',
  'ABORT_ERR',
]);

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
  const e = err as {
    info?: { error?: { message?: unknown } };
    error?: { message?: unknown };
    shortMessage?: unknown;
    message?: unknown;
  };
  const candidates = [e?.info?.error?.message, e?.error?.message, e?.shortMessage, e?.message];
  const text = candidates.find((m) => typeof m === 'string' && m.length > 0) as string | undefined;
  // Cap: node messages can echo whole payloads.
  return (text ?? 'unknown error').slice(0, 300);
}

/** Error thrown for transport failures so callers can tell them apart. */
export function chainUnreachable(err: unknown): PavilionError {
  const code = (err as { code?: unknown })?.code;
  return new PavilionError(
    'CHAIN_UNREACHABLE',
    `chain RPC unreachable (${typeof code === 'string' ? code : 'no answer'})`,
    { cause: err },
  );
}

/** The parts of a receipt anchoring looks at (raw JSON-RPC, numbers decoded). */
export interface ReceiptInfo {
  txHash: string;
  status: number;
  blockNumber: number;
  blockHash: string;
  logs: LogInfo[];
}

export interface LogInfo {
  address: string;
  topics: string[];
  data: string;
  transactionHash: string;
  blockNumber: number;
  blockHash: string;
  index: number;
}

/** A log as eth_getLogs and receipts return it: hex quantities, possibly `removed` after a reorg. */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  transactionHash: string;
  blockNumber: string;
  blockHash: string;
  logIndex: string;
  removed?: boolean;
}

export const toLog = (l: RawLog): LogInfo => ({
  address: l.address,
  topics: l.topics,
  data: l.data,
  transactionHash: l.transactionHash,
  blockNumber: Number(BigInt(l.blockNumber)),
  blockHash: l.blockHash.toLowerCase(),
  index: Number(BigInt(l.logIndex)),
});

/**
 * Every read goes out as a raw JSON-RPC request: ethers' high-level getters
 * answer from a short-lived cache (getTransactionCount, getBlockNumber,
 * receipts), and a stale nonce or head is exactly what anchoring must not use.
 */
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

  rpc<T>(method: string, params: unknown[]): Promise<T> {
    return this.call(() => this.provider.send(method, params) as Promise<T>);
  }

  async chainId(): Promise<number> {
    return Number(BigInt(await this.rpc<string>('eth_chainId', [])));
  }

  async hasCode(block: number | 'latest' = 'latest'): Promise<boolean> {
    const tag = typeof block === 'number' ? `0x${block.toString(16)}` : block;
    return (await this.rpc<string>('eth_getCode', [this.contract, tag])) !== '0x';
  }

  /**
   * The contract's last anchor of `logId`: size and block from `latest()`, the
   * root from that block's Anchored event (the contract keeps roots in events
   * only). All zero when never anchored.
   */
  async head(logId: string): Promise<OnChainHead> {
    return this.rootOf(logId, await this.latest(logId));
  }

  /** `latest(logId)` alone (one eth_call): size and block, and the root when the contract stores it. */
  async latest(logId: string): Promise<{ treeSize: number; blockNumber: number; root?: string }> {
    const data = merkleAnchorInterface.encodeFunctionData('latest', [logId]);
    const out = await this.rpc<string>('eth_call', [{ to: this.contract, data }, 'latest']);
    if (out.length === 2 + 3 * 64) {
      // A MerkleAnchor deployed before the event-only version answers (size, root, block).
      const [size, root, block] = STORED_ROOT_LATEST.decode(['uint64', 'bytes32', 'uint64'], out);
      return { treeSize: Number(size), root: String(root).toLowerCase(), blockNumber: Number(block) };
    }
    const [size, block] = merkleAnchorInterface.decodeFunctionResult('latest', out) as unknown as [bigint, bigint];
    return { treeSize: Number(size), blockNumber: Number(block) };
  }

  /** The head `latest` names, with its root (read from its block's Anchored event unless `latest` had it). */
  async rootOf(logId: string, latest: { treeSize: number; blockNumber: number; root?: string }): Promise<OnChainHead> {
    const { treeSize, blockNumber } = latest;
    if (latest.root !== undefined) return { treeSize, root: latest.root, blockNumber };
    if (treeSize === 0) return { treeSize, root: `0x${'00'.repeat(32)}`, blockNumber };
    const event = (await this.anchoredEventsInBlock(logId, blockNumber)).find((e) => e.treeSize === treeSize);
    // The state says the event is in that block: a node that cannot show it is not a usable answer.
    if (!event) throw new PavilionError('CHAIN_UNREACHABLE', 'the RPC shows no Anchored event for the last anchor');
    return { treeSize, root: event.root, blockNumber };
  }

  async estimateGas(from: string, data: string): Promise<bigint> {
    // Against 'latest': some nodes (anvil) default to the pending state, where
    // our own unmined anchor makes a replacement look like a duplicate.
    return BigInt(await this.rpc<string>('eth_estimateGas', [{ from, to: this.contract, data }, 'latest']));
  }

  async receipt(txHash: string): Promise<ReceiptInfo | null> {
    const r = await this.rpc<{
      status: string;
      blockNumber: string | null;
      blockHash: string | null;
      logs: RawLog[];
      transactionHash: string;
    } | null>('eth_getTransactionReceipt', [txHash]);
    if (!r || r.blockNumber == null || r.blockHash == null) return null;
    return {
      txHash: r.transactionHash.toLowerCase(),
      status: Number(BigInt(r.status)),
      blockNumber: Number(BigInt(r.blockNumber)),
      blockHash: r.blockHash.toLowerCase(),
      logs: r.logs.filter((l) => !l.removed).map(toLog),
    };
  }

  /** True when the node knows the transaction (mined or waiting in its pool). */
  async knowsTransaction(txHash: string): Promise<boolean> {
    return (await this.rpc<unknown>('eth_getTransactionByHash', [txHash])) != null;
  }

  private async block(
    tag: string | number,
  ): Promise<{ number: number; hash: string; baseFeePerGas: bigint } | undefined> {
    const param = typeof tag === 'number' ? `0x${tag.toString(16)}` : tag;
    const b = await this.rpc<{ number: string; hash: string; baseFeePerGas?: string } | null>('eth_getBlockByNumber', [
      param,
      false,
    ]);
    if (!b) return undefined;
    return {
      number: Number(BigInt(b.number)),
      hash: b.hash.toLowerCase(),
      baseFeePerGas: b.baseFeePerGas ? BigInt(b.baseFeePerGas) : 0n,
    };
  }

  /** Hash of the canonical block at `blockNumber`, or undefined above the head. */
  async blockHashAt(blockNumber: number): Promise<string | undefined> {
    return (await this.block(blockNumber))?.hash;
  }

  /**
   * A receipt only counts when its block is still the canonical block at its
   * height: after a reorg a node can keep answering with the receipt of the
   * abandoned block (anvil 1.7.1 does so after evm_revert; observed here).
   */
  async canonicalReceipt(txHash: string): Promise<ReceiptInfo | null> {
    const receipt = await this.receipt(txHash);
    if (!receipt) return null;
    return (await this.blockHashAt(receipt.blockNumber)) === receipt.blockHash ? receipt : null;
  }

  async latestBlockNumber(): Promise<number> {
    return Number(BigInt(await this.rpc<string>('eth_blockNumber', [])));
  }

  /** Number of the `finalized` block, or undefined when the node has none yet. */
  async finalizedBlockNumber(): Promise<number | undefined> {
    return (await this.block('finalized'))?.number;
  }

  async baseFee(): Promise<bigint> {
    return (await this.block('latest'))?.baseFeePerGas ?? 0n;
  }

  async suggestedPriorityFee(): Promise<bigint | undefined> {
    try {
      return BigInt(await this.rpc<string>('eth_maxPriorityFeePerGas', []));
    } catch (err) {
      if (err instanceof PavilionError) throw err;
      return undefined; // node without the method: the policy's floor applies
    }
  }

  async nonce(address: string, tag: 'latest' | 'pending'): Promise<number> {
    return Number(BigInt(await this.rpc<string>('eth_getTransactionCount', [address, tag])));
  }

  async sendRaw(raw: string): Promise<void> {
    await this.rpc<string>('eth_sendRawTransaction', [raw]);
  }

  async anchoredEventsInBlock(logId: string, blockNumber: number): Promise<AnchoredEvent[]> {
    return this.anchoredEvents(logId, blockNumber, blockNumber);
  }

  /** Anchored events of this contract for `logId` (every log when null) in blocks [from, to], in chain order. */
  async anchoredEvents(logId: string | null, fromBlock: number, toBlock: number): Promise<AnchoredEvent[]> {
    const hex = (n: number) => `0x${n.toString(16)}`;
    const logs = await this.rpc<RawLog[]>('eth_getLogs', [
      {
        address: this.contract,
        topics: logId === null ? [ANCHORED_TOPIC] : [ANCHORED_TOPIC, logId],
        fromBlock: hex(fromBlock),
        toBlock: hex(toBlock),
      },
    ]);
    return logs
      .filter((l) => !l.removed)
      .map((l) => decodeAnchored(toLog(l)))
      .filter((e): e is AnchoredEvent => e !== undefined);
  }
}

/** The Anchored event in `log`, if it is one from a MerkleAnchor (any address). */
export function decodeAnchored(log: LogInfo): AnchoredEvent | undefined {
  if (log.topics[0]?.toLowerCase() !== ANCHORED_TOPIC || log.topics.length !== 2) return undefined;
  let parsed: ReturnType<typeof merkleAnchorInterface.decodeEventLog>;
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
export function anchoredEventsIn(receipt: ReceiptInfo, contract: string, logId: string): AnchoredEvent[] {
  const out: AnchoredEvent[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== contract.toLowerCase()) continue;
    const event = decodeAnchored(log);
    if (event && event.logId === logId.toLowerCase()) out.push(event);
  }
  return out;
}
