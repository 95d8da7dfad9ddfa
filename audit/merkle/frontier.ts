/**
 * Incremental tree growth from the right edge ("compact range"): the perfect
 * subtrees that make up [0, size) are all a writer needs to append leaves and
 * compute every new interior node, so an append of b leaves costs b−1+O(log n)
 * hashes and O(log n) reads, whatever the size of the log.
 */
import { PavilionError } from '../../common/errors.js';
import { emptyRoot, HASH_SIZE, nodeHash } from './hash.js';
import { perfectSubtrees } from './ranges.js';

export interface TreeNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

export interface FrontierAppend {
  size: number;
  /** Perfect subtrees of [0, size) after the append, left to right (largest first). */
  frontier: TreeNode[];
  /** Interior nodes (level ≥ 1) completed by this append, in creation order. */
  newNodes: TreeNode[];
  root: Uint8Array;
}

/** Checks that `frontier` is exactly the perfect decomposition of [0, size). */
export function assertFrontier(size: number, frontier: readonly TreeNode[]): void {
  const expected = perfectSubtrees(0, size);
  const ok =
    expected.length === frontier.length &&
    expected.every(
      (id, i) =>
        id.level === frontier[i]!.level && id.index === frontier[i]!.index && frontier[i]!.hash.length === HASH_SIZE,
    );
  if (!ok) throw new PavilionError('LOG_CORRUPT', 'tree frontier does not match the tree size');
}

export function appendToFrontier(
  size: number,
  frontier: readonly TreeNode[],
  leafHashes: readonly Uint8Array[],
): FrontierAppend {
  assertFrontier(size, frontier);
  const stack: TreeNode[] = frontier.slice();
  const newNodes: TreeNode[] = [];
  let next = size;
  for (const hash of leafHashes) {
    if (hash.length !== HASH_SIZE) throw new PavilionError('HASH_LENGTH', 'leaf hash must be 32 bytes');
    stack.push({ level: 0, index: next++, hash });
    // Two neighbours of equal level are siblings: the left one's index is even.
    while (stack.length >= 2 && stack[stack.length - 1]!.level === stack[stack.length - 2]!.level) {
      const right = stack.pop()!;
      const left = stack.pop()!;
      const parent = { level: left.level + 1, index: left.index / 2, hash: nodeHash(left.hash, right.hash) };
      newNodes.push(parent);
      stack.push(parent);
    }
  }
  return { size: next, frontier: stack, newNodes, root: frontierRoot(stack) };
}

/** Root from the right-edge subtrees: fold right to left (RFC 9162 §2.1.1). */
export function frontierRoot(frontier: readonly TreeNode[]): Uint8Array {
  if (frontier.length === 0) return emptyRoot();
  let acc = frontier[frontier.length - 1]!.hash;
  for (let i = frontier.length - 2; i >= 0; i--) acc = nodeHash(frontier[i]!.hash, acc);
  return acc;
}
