/**
 * ChainReader.head reads the last anchor of a log from the event-only
 * contract (size and block from latest(), root from that block's event) and
 * from a MerkleAnchor deployed before it (latest() returned the root too).
 */
import { readFileSync } from 'node:fs';
import { ContractFactory, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainReader } from '../../anchoring/chain.js';
import { compileMerkleAnchor } from '../../anchoring/compile.js';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type Anvil,
  logIdForOrigin,
  merkleAnchorAt,
  startAnvil,
} from '../../anchoring/index.js';

let anvil: Anvil;
let provider: JsonRpcProvider;
let signer: NonceManager;
beforeAll(async () => {
  anvil = await startAnvil({ chainId: 80002 });
  provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
  signer = new NonceManager(new Wallet(ANVIL_DEV_PRIVATE_KEYS[0]!, provider));
});
afterAll(async () => {
  provider?.destroy();
  await anvil?.stop();
});

describe('ChainReader.head', () => {
  it.each([
    ['the event-only contract', undefined],
    ['a stored-root contract deployed before it', 'bench/contracts/merkle-anchor-stored-root.sol'],
  ])('reads size, root and block from %s', async (_name, source) => {
    const artifact = compileMerkleAnchor(source ? readFileSync(source, 'utf8') : undefined);
    const deployed = await new ContractFactory(artifact.abi as never, artifact.bytecode, signer).deploy();
    await deployed.waitForDeployment();
    const address = await deployed.getAddress();
    const logId = logIdForOrigin('test.pavilion.example/head');
    const reader = new ChainReader(provider, address);
    expect(await reader.head(logId)).toMatchObject({ treeSize: 0, blockNumber: 0 });
    const root = `0x${'5a'.repeat(32)}`;
    const receipt = (await (await merkleAnchorAt(address, signer).anchor!(logId, 3, root)).wait())!;
    expect(await reader.head(logId)).toEqual({ treeSize: 3, root, blockNumber: receipt.blockNumber });
  });
});
