/** RFC 9162 Merkle tree: hashing, geometry, proof assembly, verification. Pure, no I/O. */
export { HASH_SIZE, leafHash, nodeHash, emptyRoot, bytesEqual } from './hash.js';
export {
  type NodeId,
  type LeafRange,
  splitPoint,
  isPowerOfTwo,
  perfectSubtrees,
  inclusionProofRanges,
  consistencyProofRanges,
  nodesForRanges,
} from './ranges.js';
export {
  type SubtreeHashSource,
  rangeHash,
  rootFromSource,
  inclusionProofFromSource,
  consistencyProofFromSource,
  nodesForRoot,
  nodesForInclusionProof,
  nodesForConsistencyProof,
  sourceFromFetched,
} from './assemble.js';
export { type TreeNode, type FrontierAppend, appendToFrontier, frontierRoot, assertFrontier } from './frontier.js';
export { MemoryMerkleTree, rootFromLeafHashes } from './memory-tree.js';
export {
  inclusionProofShape,
  consistencyProofLength,
  rootFromInclusionProof,
  verifyInclusion,
  verifyConsistency,
} from './verify.js';
export { type TileRef, TILE_HEIGHT, TILE_WIDTH, formatTileIndex, formatTilePath, parseTilePath, hashesAtTileLevel } from './tiles.js';
