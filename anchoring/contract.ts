/**
 * The MerkleAnchor contract as TypeScript sees it: its interface (written out
 * here so read-only verification needs no build output; a test checks it
 * against the compiled ABI), the built artifact, and deployment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Contract, ContractFactory, type ContractRunner, Interface, type Signer } from 'ethers';
import { PavilionError } from '../common/errors.js';
import type { ContractArtifact } from './compile.js';

export const MERKLE_ANCHOR_ABI = [
  'constructor()',
  'function owner() view returns (address)',
  'function pendingOwner() view returns (address)',
  'function anchor(bytes32 logId, uint64 treeSize, bytes32 root)',
  'function anchorMany(bytes32[] logIds, uint64[] treeSizes, bytes32[] roots)',
  'function latest(bytes32 logId) view returns (uint64 treeSize, uint64 blockNumber)',
  'function transferOwnership(address newOwner)',
  'function acceptOwnership()',
  'event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 root, uint64 previousSize)',
  'event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner)',
  'event OwnershipTransferred(address indexed previousOwner, address indexed newOwner)',
  'error NotOwner(address caller)',
  'error NotPendingOwner(address caller)',
  'error ZeroAddress()',
  'error EmptyTree()',
  'error SizeNotIncreasing(bytes32 logId, uint64 lastSize, uint64 treeSize)',
  'error LengthMismatch()',
] as const;

export const merkleAnchorInterface = new Interface(MERKLE_ANCHOR_ABI);
export const ANCHORED_TOPIC = merkleAnchorInterface.getEvent('Anchored')!.topicHash;

/**
 * The artifact written by `npm run build:contracts`. Looked up
 * beside this file (running from source) and in the source tree when running
 * from dist/ (tsc does not copy JSON that nothing imports).
 */
export function loadMerkleAnchorArtifact(): ContractArtifact {
  const candidates = [
    new URL('./build/MerkleAnchor.json', import.meta.url),
    new URL('../../anchoring/build/MerkleAnchor.json', import.meta.url),
  ].map((u) => fileURLToPath(u));
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new PavilionError(
      'ANCHOR_CONTRACT_NOT_BUILT',
      'anchoring/build/MerkleAnchor.json is missing: run `npm run build:contracts` (part of npm run build)',
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as ContractArtifact;
}

export function merkleAnchorAt(address: string, runner: ContractRunner): Contract {
  return new Contract(address, merkleAnchorInterface, runner);
}

export interface DeployedMerkleAnchor {
  address: string;
  /** The deploying transaction. */
  txHash: string;
  /** Its block: where reading the contract's events starts (ANCHOR_DEPLOY_BLOCK, auditors' deployBlock). */
  deployBlock: number;
}

/**
 * Deploys MerkleAnchor with `signer` as owner (the account that anchors) and waits for the receipt. The one
 * deployment: ANCHORING=anvil (server/wiring/anchoring.ts), `pavilion anchor deploy` (cli/anchor.ts) and tests.
 * `onSent` hears the transaction hash before the wait, which on a real chain takes a block or more.
 */
export async function deployMerkleAnchorContract(
  signer: Signer,
  opts: {
    artifact?: ContractArtifact;
    /** Transaction fields, e.g. the fees of anchoring/fees.ts (Polygon's tip floor). */
    overrides?: Record<string, unknown>;
    onSent?: (txHash: string) => void;
  } = {},
): Promise<DeployedMerkleAnchor> {
  const artifact = opts.artifact ?? loadMerkleAnchorArtifact();
  const factory = new ContractFactory(artifact.abi as never, artifact.bytecode, signer);
  const contract = await factory.deploy(...(opts.overrides ? [opts.overrides] : []));
  const tx = contract.deploymentTransaction()!;
  opts.onSent?.(tx.hash);
  // Throws for a reverted deployment (CALL_EXCEPTION); null only for a transaction replaced before mining.
  const receipt = await tx.wait();
  if (!receipt)
    throw new PavilionError('ANCHOR_BROADCAST_REJECTED', 'the deploying transaction was replaced before it was mined');
  return { address: await contract.getAddress(), txHash: tx.hash, deployBlock: receipt.blockNumber };
}

/** Deploys MerkleAnchor with `signer` as owner; resolves to the contract address once mined. */
export async function deployMerkleAnchor(
  signer: Signer,
  artifact: ContractArtifact = loadMerkleAnchorArtifact(),
): Promise<string> {
  return (await deployMerkleAnchorContract(signer, { artifact })).address;
}
