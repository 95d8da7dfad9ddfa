/** Public surface of the anchoring module (see README.md in this folder). */
export {
  Anchorer,
  type AnchorerError,
  type AnchorerOptions,
  type AnchorerStatus,
  type TickOutcome,
  walletFromKey,
} from './anchorer.js';
export { ANVIL_DEV_PRIVATE_KEYS, type Anvil, type AnvilOptions, anvilBinary, startAnvil } from './anvil.js';
export { makeProvider } from './chain.js';
export {
  ANCHORED_TOPIC,
  type DeployedMerkleAnchor,
  deployMerkleAnchor,
  deployMerkleAnchorContract,
  loadMerkleAnchorArtifact,
  MERKLE_ANCHOR_ABI,
  merkleAnchorAt,
  merkleAnchorInterface,
} from './contract.js';
export { type DeployAnchorInput, type DeployedAnchor, deployAnchorContract } from './deploy.js';
export { type AnchoringFacts, anchoringFactsJson, merkleAnchorAbiJson } from './facts.js';
export { describeFailure } from './failures.js';
export { anchorFees, type Eip1559Fees, minimumPriorityFee, POLYGON_MIN_PRIORITY_FEE, replacementFees } from './fees.js';
export { caip2, logIdForOrigin, POLYGON_AMOY, POLYGON_MAINNET, parseCaip2 } from './ids.js';
export { registerAnchorerMetrics } from './metrics.js';
export {
  type AnchoredEvent,
  type AnchorScan,
  deployBlockOf,
  findDeployBlock,
  type ScanAnchorsInput,
  scanAnchors,
} from './scan.js';
export { ANCHORING_MIGRATIONS, migrateAnchoring } from './schema.js';
export type { AnchorReference, Checkpoint, CheckpointSource } from './types.js';
export {
  type AnchorVerification,
  type AnchorVerificationCode,
  AnchorVerificationError,
  type VerifiedAnchor,
  type VerifyAnchorInput,
  verifyAnchor,
} from './verify.js';
