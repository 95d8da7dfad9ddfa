/** Public surface of the anchoring module (see README.md in this folder). */
export { Anchorer, type AnchorerOptions, type AnchorerStatus, type AnchorerError, type TickOutcome } from './anchorer.js';
export type { AnchorReference, Checkpoint, CheckpointSource } from './types.js';
export { verifyAnchor, AnchorVerificationError, type AnchorVerification, type AnchorVerificationCode, type VerifiedAnchor, type VerifyAnchorInput } from './verify.js';
export { deployMerkleAnchor, loadMerkleAnchorArtifact, merkleAnchorAt, merkleAnchorInterface, MERKLE_ANCHOR_ABI, ANCHORED_TOPIC } from './contract.js';
export { startAnvil, anvilBinary, ANVIL_DEV_PRIVATE_KEYS, type Anvil, type AnvilOptions } from './anvil.js';
export { caip2, parseCaip2, logIdForOrigin, POLYGON_MAINNET, POLYGON_AMOY } from './ids.js';
export { anchorFees, replacementFees, minimumPriorityFee, POLYGON_MIN_PRIORITY_FEE, type Eip1559Fees } from './fees.js';
export { migrateAnchoring, ANCHORING_MIGRATIONS } from './schema.js';
export { registerAnchorerMetrics } from './metrics.js';
