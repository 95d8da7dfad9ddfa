/**
 * Anchoring the audit log's checkpoints on chain (anchoring/), as configured:
 *
 * - ANCHORING=anvil (the `npm start` default): a local anvil on loopback
 *   (chain 80002, so Polygon's fee rules apply), its first dev account
 *   deploys a MerkleAnchor, and the anchorer posts to it;
 * - ANCHORING=rpc: ETH_RPC_URL, ANCHOR_CHAIN_ID, ANCHOR_CONTRACT and
 *   ANCHOR_PRIVATE_KEY (the contract owner's key, never logged);
 * - ANCHORING=off: no anchoring (tests, or a deployment anchoring elsewhere).
 *
 * The anchorer never throws into the broker: chain trouble shows in its status, in the log (every
 * failed pass, and the recovery) and in metrics (anchor lag, failed passes in a row), and receipts
 * simply carry no anchor. With ANCHORING=rpc, a chain the RPC does not serve or a contract
 * address without code refuses the start: every anchor would fail, and GET /v1/audit/anchoring
 * would point auditors at the wrong chain. An RPC that cannot be reached at start is only logged.
 */
import { formatEther, JsonRpcProvider, Wallet } from 'ethers';
import type { Logger } from 'pino';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  Anchorer,
  type AnchoringFacts,
  type AnchorReference,
  caip2,
  deployBlockOf,
  deployMerkleAnchorContract,
  describeFailure,
  makeProvider,
  startAnvil,
  walletFromKey,
} from '../../anchoring/index.js';
import type { AuditLog } from '../../audit/index.js';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import type { Metrics } from '../../metrics/index.js';
import type { Sql } from '../../storage/postgres.js';
import type { BrokerConfig } from '../config.js';

export interface AnchoringHandle {
  anchorer: Anchorer;
  /** What auditors pin: chain, contract, deploy block, a public RPC URL (GET /v1/audit/anchoring). */
  facts: AnchoringFacts;
  /** The anchor covering leaf `index`, if one is on chain yet. */
  anchorForLeaf(index: number): Promise<AnchorReference | undefined>;
  close(): Promise<void>;
}

export async function startAnchoring(
  config: BrokerConfig,
  sql: Sql,
  audit: AuditLog,
  metrics: Metrics,
  log: Logger,
): Promise<AnchoringHandle | undefined> {
  const a = config.anchoring;
  if (a.mode === 'off') return undefined;
  let rpcUrl: string;
  let chainId: number;
  let contract: string;
  let privateKey: string;
  let deployBlock: number | null = a.deployBlock ?? null;
  let publicRpcUrl: string | null = a.publicRpcUrl ?? null;
  let stopChain: (() => Promise<void>) | null = null;
  if (a.mode === 'anvil') {
    // A block a second and 1-slot epochs: anvil reports `finalized` = latest − 2 slots,
    // so a development anchor turns final within seconds instead of never
    // (with automine and 32-slot epochs an idle chain never reaches it).
    const anvil = await startAnvil({ chainId: a.chainId, blockTimeSeconds: 1, slotsInAnEpoch: 1 });
    stopChain = () => anvil.stop();
    try {
      rpcUrl = anvil.rpcUrl;
      chainId = anvil.chainId;
      privateKey = ANVIL_DEV_PRIVATE_KEYS[0]!;
      const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true });
      const deployed = await deployMerkleAnchorContract(new Wallet(privateKey, provider));
      provider.destroy();
      contract = deployed.address;
      deployBlock = deployed.deployBlock;
      // The local chain is reachable only from this machine: its loopback URL is the one to publish.
      publicRpcUrl ??= rpcUrl;
    } catch (err) {
      await anvil.stop();
      throw err;
    }
  } else {
    if (!a.rpcUrl || !a.contract || !a.privateKey)
      throw new PavilionError(
        'CONFIG_INVALID',
        'ANCHORING=rpc needs ETH_RPC_URL, ANCHOR_CONTRACT and ANCHOR_PRIVATE_KEY',
      );
    // Before the chain is asked anything, and naming the setting (the anchorer's own check says `privateKey`).
    walletFromKey(a.privateKey, 'ANCHOR_PRIVATE_KEY');
    rpcUrl = a.rpcUrl;
    chainId = a.chainId;
    contract = a.contract;
    privateKey = a.privateKey;
    // Unpublished: found on chain (binary search over old state; null when the node keeps none).
    deployBlock ??= await deployBlockOf(rpcUrl, chainId, contract).catch(() => null);
  }
  const anchorer = new Anchorer({
    sql,
    rpcUrl,
    chainId,
    contract,
    privateKey,
    ...(deployBlock !== null ? { deployBlock } : {}),
    minSizeDelta: a.minSizeDelta,
    maxIntervalMs: a.maxIntervalMs,
    pollIntervalMs: a.pollMs,
    source: {
      async latestCheckpoint() {
        const cp = await audit.latestCheckpoint();
        return cp ? { origin: audit.origin, size: cp.size, root: cp.root, note: cp.note } : undefined;
      },
      async rootAt(size) {
        return size <= (await audit.size()) ? audit.root(size) : undefined;
      },
    },
    // The error is a stable code and a message without URLs or keys (anchoring/failures.ts).
    onPassFailed: ({ code, message }, failures) =>
      log.error({ code, failures }, `anchoring pass failed: ${message} (retrying with backoff)`),
    onRecovered: (failedPasses) => log.info({ failedPasses }, 'anchoring works again'),
  });
  if (a.mode === 'rpc') await refuseWrongChain(anchorer, log);
  // metrics/ owns the pavilion_anchor_* gauges the issue asks for (anchoring's
  // registerAnchorerMetrics would register a clashing pavilion_anchor_last_final_size).
  // From the tree, as the metric's help says ("entries not yet covered by a final on-chain anchor"): counted
  // from the newest checkpoint (the anchorer's unfinalizedEntries) it read 0 while checkpoint signing was
  // blocked (LOG_CORRUPT) and the log grew past it.
  metrics.setCollector('anchor_lag_entries', async () =>
    Math.max(0, (await audit.size()) - (anchorer.status().lastFinalSize ?? 0)),
  );
  metrics.setCollector('anchor_last_final_size', () => anchorer.status().lastFinalSize ?? 0);
  metrics.setCollector('anchor_consecutive_failures', () => anchorer.status().consecutiveFailures);
  metrics.setCollector('anchor_log_diverged', () => (anchorer.status().divergedAnchor ? 1 : 0));
  metrics.setCollector(
    'anchor_last_final_timestamp_seconds',
    () => (anchorer.status().lastFinalAt?.getTime() ?? 0) / 1000,
  );
  // Fed only by reads that answered: until one does, the series is absent, not a 0 that pages "fund it".
  const balance = watchWalletBalance(rpcUrl, chainId, new Wallet(privateKey).address, (value) =>
    metrics.setGauge('anchor_wallet_balance', value),
  );
  anchorer.start();
  return {
    anchorer,
    facts: {
      chain: caip2(chainId),
      contract: anchorer.contract,
      // Read at each use: unknown at start (RPC unreachable), the anchorer looks it up on a later pass.
      get deployBlock() {
        return anchorer.status().deployBlock;
      },
      rpcUrl: publicRpcUrl,
    },
    async anchorForLeaf(index) {
      try {
        return await anchorer.anchorFor(index + 1);
      } catch {
        return undefined; // chain unreachable: the receipt goes out without an anchor
      }
    },
    async close() {
      balance.close();
      await anchorer.close();
      await stopChain?.();
    },
  };
}

/**
 * Throws (closing the anchorer) when the RPC serves another chain or the contract has no code; logs an
 * RPC it cannot reach.
 */
async function refuseWrongChain(anchorer: Anchorer, log: Logger): Promise<void> {
  try {
    await anchorer.checkChain();
  } catch (err) {
    if (isPavilionError(err) && (err.code === 'CHAIN_ID_MISMATCH' || err.code === 'ANCHOR_CONTRACT_MISSING')) {
      await anchorer.close();
      throw err;
    }
    const { code, message } = describeFailure(err);
    log.warn({ code }, `anchoring: the chain cannot be checked at start (${message}); the anchorer keeps trying`);
  }
}

/**
 * The anchoring wallet's balance for pavilion_anchor_wallet_balance (the wallet-balance alerts), read from the
 * chain at start and then once a minute. A read that fails (the RPC down) leaves the gauge as it was: absent
 * until a first read answers (docs/operations.md: optional series are exported once something feeds them),
 * else its last value. A balance of 0 is thus always the chain's answer, never an outage.
 */
function watchWalletBalance(rpcUrl: string, chainId: number, address: string, set: (value: number) => void) {
  const provider = makeProvider(rpcUrl, chainId);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const read = async () => {
    try {
      set(Number(formatEther(await provider.getBalance(address))));
    } catch {
      /* kept as it was; the anchorer's own failures are logged by its passes */
    }
    if (closed) return;
    timer = setTimeout(() => void read(), 60_000);
    // The broker's server keeps the process alive, not this.
    timer.unref();
  };
  void read();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      provider.destroy();
    },
  };
}
