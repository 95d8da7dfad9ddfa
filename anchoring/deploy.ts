/**
 * Deploying the MerkleAnchor contract ANCHORING=rpc anchors to (`pavilion anchor deploy`, cli/anchor.ts): ask the
 * RPC which chain it serves, check the deploying account can pay, deploy with the anchorer's fee policy
 * (fees.ts: Polygon's 25 gwei tip floor) and wait for the receipt. The result is what the broker's settings
 * want: ANCHOR_CONTRACT, ANCHOR_DEPLOY_BLOCK, ANCHOR_CHAIN_ID. The deploying account owns the contract, and only
 * the owner anchors: the broker's ANCHOR_PRIVATE_KEY must be this key (or ownership moved, anchoring/README.md).
 *
 * Errors name what to fix and never the key or the RPC URL (which may carry an API key): `--rpc` for an RPC
 * that does not answer as a JSON-RPC node, `ANCHOR_PRIVATE_KEY` for a key that is not one or an account that
 * cannot pay.
 */
import { formatEther, ZeroAddress } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { walletFromKey } from './anchorer.js';
import { ChainReader, isChainUnreachable, makeProvider, rpcErrorMessage } from './chain.js';
import { deployMerkleAnchorContract, loadMerkleAnchorArtifact } from './contract.js';
import { scrub } from './failures.js';
import { anchorFees } from './fees.js';

export interface DeployAnchorInput {
  rpcUrl: string;
  /** Hex private key of the deploying account (the owner). */
  privateKey: string;
  /** The chain the RPC must serve; absent → whatever it serves. */
  chainId?: number;
  /** Where the key and the RPC URL came from, for the messages. */
  keySetting?: string;
  rpcSetting?: string;
  /** Told the transaction hash once sent, before the wait for its block. */
  onSent?: (tx: { hash: string; owner: string; chainId: number }) => void;
}

export interface DeployedAnchor {
  contract: string;
  deployBlock: number;
  chainId: number;
  txHash: string;
  /** The deploying account: the contract's owner, the one that anchors. */
  owner: string;
}

export async function deployAnchorContract(input: DeployAnchorInput): Promise<DeployedAnchor> {
  const keySetting = input.keySetting ?? 'privateKey';
  const rpcSetting = input.rpcSetting ?? 'rpcUrl';
  if (!input.privateKey)
    throw new PavilionError(
      'CONFIG_INVALID',
      `invalid setting(s): ${keySetting} (not set: the hex private key of the account that deploys and owns the ` +
        'contract, the one the broker anchors with)',
    );
  const wallet = walletFromKey(input.privateKey, keySetting);
  const chainId = await servedChain(input.rpcUrl, rpcSetting);
  if (input.chainId !== undefined && input.chainId !== chainId)
    throw new PavilionError('CHAIN_ID_MISMATCH', `${rpcSetting} serves chain ${chainId}, not ${input.chainId}`);
  const provider = makeProvider(input.rpcUrl, chainId, 30_000);
  const reader = new ChainReader(provider, ZeroAddress);
  try {
    const artifact = loadMerkleAnchorArtifact();
    // The gas of the creation alone (no sender, so no balance check), then the most it may cost at these fees:
    // an account that cannot pay is told so here, as nodes word it differently (anvil: "gas required exceeds
    // allowance: 0").
    const [gas, balance, baseFeePerGas, suggestedPriorityFee] = await Promise.all([
      reader.rpc<string>('eth_estimateGas', [{ data: artifact.bytecode }]).then((g) => BigInt(g)),
      reader.rpc<string>('eth_getBalance', [wallet.address, 'latest']).then((b) => BigInt(b)),
      reader.baseFee(),
      reader.suggestedPriorityFee(),
    ]);
    const fees = anchorFees({ chainId, baseFeePerGas, suggestedPriorityFee });
    const gasLimit = gas + gas / 5n;
    const cost = gasLimit * fees.maxFeePerGas;
    if (balance < cost) throw noFunds(keySetting, wallet.address, chainId, balance, cost);
    const deployed = await deployMerkleAnchorContract(wallet.connect(provider), {
      artifact,
      overrides: { type: 2, gasLimit, ...fees },
      onSent: (hash) => input.onSent?.({ hash, owner: wallet.address, chainId }),
    }).catch(async (err: unknown) => {
      if (err instanceof PavilionError) throw err;
      if ((err as { code?: unknown }).code === 'INSUFFICIENT_FUNDS') {
        const left = await reader.rpc<string>('eth_getBalance', [wallet.address, 'latest']).catch(() => '0x0');
        throw noFunds(keySetting, wallet.address, chainId, BigInt(left), cost);
      }
      if (isChainUnreachable(err)) throw unreachable(rpcSetting, err);
      throw new PavilionError(
        'ANCHOR_BROADCAST_REJECTED',
        `the chain refused the deployment: ${scrub(rpcErrorMessage(err))}`,
        { cause: err },
      );
    });
    return {
      contract: deployed.address,
      deployBlock: deployed.deployBlock,
      chainId,
      txHash: deployed.txHash,
      owner: wallet.address,
    };
  } catch (err) {
    if (err instanceof PavilionError && err.code === 'CHAIN_UNREACHABLE') throw unreachable(rpcSetting, err);
    throw err;
  } finally {
    provider.destroy();
  }
}

/** eth_chainId, as the first question: an RPC that does not answer it is the wrong URL or down. */
async function servedChain(rpcUrl: string, rpcSetting: string): Promise<number> {
  // The network given here is not used: eth_chainId is sent as is, and staticNetwork stops ethers probing.
  const provider = makeProvider(rpcUrl, 1, 10_000);
  try {
    const answer = await new ChainReader(provider, ZeroAddress).rpc<unknown>('eth_chainId', []);
    if (typeof answer !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(answer))
      throw new PavilionError('CHAIN_UNREACHABLE', `${rpcSetting} did not answer eth_chainId with a chain id`);
    return Number(BigInt(answer));
  } catch (err) {
    throw unreachable(rpcSetting, err);
  } finally {
    provider.destroy();
  }
}

function unreachable(rpcSetting: string, err: unknown): PavilionError {
  if (err instanceof PavilionError && err.message.startsWith(rpcSetting)) return err;
  const code = (err as { code?: unknown })?.code;
  return new PavilionError(
    'CHAIN_UNREACHABLE',
    `${rpcSetting} does not answer as an EVM JSON-RPC node (${typeof code === 'string' ? code : 'no answer'}): ` +
      'check the URL (a node of the chain, not the broker) and that it is up',
    { cause: err },
  );
}

function noFunds(keySetting: string, address: string, chainId: number, balance: bigint, cost: bigint): PavilionError {
  return new PavilionError(
    'ANCHOR_INSUFFICIENT_FUNDS',
    `the account of ${keySetting} (${address}) holds ${formatEther(balance)} on chain ${chainId}, the deployment ` +
      `may cost up to ${formatEther(cost)} at current fees: send it funds (POL on Polygon; a faucet on Amoy) and ` +
      'run again',
  );
}
