/**
 * Proofs and roots computed from stored perfect-subtree hashes. A proof over a
 * tree of n leaves touches O(log n) stored nodes (at most log2 n per element,
 * in practice about 2·log2 n in total), never the whole tree.
 */
import { PavilionError } from '../../common/errors.js';
import { emptyRoot, nodeHash } from './hash.js';
import {
  assertTreeSize,
  consistencyProofRanges,
  inclusionProofRanges,
  type LeafRange,
  type NodeId,
  nodeKey,
  nodesForRanges,
  perfectSubtrees,
} from './ranges.js';

/** Returns the hash of the perfect subtree (level, index); level 0 is the leaf hash. */
export type SubtreeHashSource = (level: number, index: number) => Uint8Array;

/** MTH(D[start:end]): the perfect pieces folded right to left (RFC 9162 §2.1.1). */
export function rangeHash(range: LeafRange, source: SubtreeHashSource): Uint8Array {
  if (range.end <= range.start) return emptyRoot();
  const pieces = perfectSubtrees(range.start, range.end);
  let acc = source(pieces[pieces.length - 1]!.level, pieces[pieces.length - 1]!.index);
  for (let i = pieces.length - 2; i >= 0; i--) acc = nodeHash(source(pieces[i]!.level, pieces[i]!.index), acc);
  return acc;
}

export function rootFromSource(size: number, source: SubtreeHashSource): Uint8Array {
  assertTreeSize(size, 'tree size');
  return rangeHash({ start: 0, end: size }, source);
}

export function inclusionProofFromSource(index: number, size: number, source: SubtreeHashSource): Uint8Array[] {
  return inclusionProofRanges(index, size).map((r) => rangeHash(r, source));
}

export function consistencyProofFromSource(size1: number, size2: number, source: SubtreeHashSource): Uint8Array[] {
  return consistencyProofRanges(size1, size2).map((r) => rangeHash(r, source));
}

/** The stored nodes a root at `size` needs (its perfect decomposition, left to right). */
export function nodesForRoot(size: number): NodeId[] {
  assertTreeSize(size, 'tree size');
  return perfectSubtrees(0, size);
}

export function nodesForInclusionProof(index: number, size: number): NodeId[] {
  return nodesForRanges(inclusionProofRanges(index, size));
}

export function nodesForConsistencyProof(size1: number, size2: number): NodeId[] {
  return nodesForRanges(consistencyProofRanges(size1, size2));
}

/**
 * A source over hashes fetched in one batch. A missing node means the store
 * lacks a row it must have (tampering or a bug), never a caller mistake.
 */
export function sourceFromFetched(
  nodes: Iterable<{ level: number; index: number; hash: Uint8Array }>,
): SubtreeHashSource {
  const byKey = new Map<string, Uint8Array>();
  for (const n of nodes) byKey.set(nodeKey(n.level, n.index), n.hash);
  return (level, index) => {
    const hash = byKey.get(nodeKey(level, index));
    if (!hash) throw new PavilionError('LOG_CORRUPT', `stored tree node ${level}/${index} is missing`);
    return hash;
  };
}
