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

/** Deploys MerkleAnchor with `signer` as owner; resolves to the contract address once mined. */
export async function deployMerkleAnchor(
  signer: Signer,
  artifact: ContractArtifact = loadMerkleAnchorArtifact(),
): Promise<string> {
  const factory = new ContractFactory(artifact.abi as never, artifact.bytecode, signer);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  return contract.getAddress();
}
