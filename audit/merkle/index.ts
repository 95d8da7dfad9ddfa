/** RFC 9162 Merkle tree: hashing, geometry, proof assembly, verification. Pure, no I/O. */

export {
  consistencyProofFromSource,
  inclusionProofFromSource,
  nodesForConsistencyProof,
  nodesForInclusionProof,
  nodesForRoot,
  rangeHash,
  rootFromSource,
  type SubtreeHashSource,
  sourceFromFetched,
} from './assemble.js';
export { appendToFrontier, assertFrontier, type FrontierAppend, frontierRoot, type TreeNode } from './frontier.js';
export { bytesEqual, emptyRoot, HASH_SIZE, leafHash, nodeHash } from './hash.js';
export { MemoryMerkleTree, rootFromLeafHashes } from './memory-tree.js';
export {
  consistencyProofRanges,
  inclusionProofRanges,
  isPowerOfTwo,
  type LeafRange,
  type NodeId,
  nodesForRanges,
  perfectSubtrees,
  splitPoint,
} from './ranges.js';
export {
  formatTileIndex,
  formatTilePath,
  hashesAtTileLevel,
  parseTilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
  type TileRef,
} from './tiles.js';
export {
  consistencyProofLength,
  inclusionProofShape,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './verify.js';
