/**
 * `pavilion anchor deploy`: the MerkleAnchor contract ANCHORING=rpc needs, deployed with the anchoring account
 * (anchoring/deploy.ts, the one deployment the broker's anvil mode uses too). The key comes from the environment
 * (ANCHOR_PRIVATE_KEY, as the broker reads it), never a flag: a flag would sit in the shell history and the
 * process list. Prints the broker's settings on stdout, one `NAME=value` a line, and the progress on stderr.
 */
import { deployAnchorContract } from '../anchoring/index.js';

export interface AnchorDeployOptions {
  rpc: string;
  chainId?: number;
  privateKey: string | undefined;
  /** Where progress goes (default stderr; stdout is the settings). */
  note?: (line: string) => void;
}

/** Deploys and resolves to the settings lines (ANCHOR_CONTRACT, ANCHOR_DEPLOY_BLOCK, ANCHOR_CHAIN_ID). */
export async function anchorDeploy(opts: AnchorDeployOptions): Promise<string[]> {
  const note = opts.note ?? ((line: string) => process.stderr.write(`${line}\n`));
  const deployed = await deployAnchorContract({
    rpcUrl: opts.rpc,
    privateKey: opts.privateKey ?? '',
    ...(opts.chainId !== undefined ? { chainId: opts.chainId } : {}),
    keySetting: 'ANCHOR_PRIVATE_KEY',
    rpcSetting: '--rpc',
    onSent: ({ hash, owner, chainId }) =>
      note(
        `deploying MerkleAnchor on chain ${chainId} from ${owner} (the account of ANCHOR_PRIVATE_KEY: the ` +
          `contract's owner, the only account that can anchor): transaction ${hash}; waiting for its block`,
      ),
  });
  note(
    `deployed at block ${deployed.deployBlock}; set these for the broker (ANCHORING=rpc, ETH_RPC_URL, and this key)`,
  );
  return [
    `ANCHOR_CONTRACT=${deployed.contract}`,
    `ANCHOR_DEPLOY_BLOCK=${deployed.deployBlock}`,
    `ANCHOR_CHAIN_ID=${deployed.chainId}`,
  ];
}
