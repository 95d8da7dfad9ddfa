/**
 * Tree geometry: which leaf ranges a proof consists of, and which perfect
 * subtrees make up a range. Pure arithmetic, no hashing, so a store can first
 * plan the O(log n) node reads a proof needs, fetch them in one round trip,
 * and then assemble the proof (see `assemble.ts`).
 *
 * Indices and sizes are JavaScript numbers; everything here uses division and
 * remainder rather than 32-bit bit operators, so it is exact up to 2^53.
 */
import { PavilionError } from '../../common/errors.js';

/** A perfect subtree: level L, index i covers leaves [i·2^L, (i+1)·2^L). Level 0 is a leaf. */
export interface NodeId {
  level: number;
  index: number;
}

/** Half-open leaf range [start, end). Each proof element is MTH of one such range. */
export interface LeafRange {
  start: number;
  end: number;
}

export function assertTreeSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PavilionError('SIZE_INVALID', `${what} must be a non-negative safe integer`);
  }
}

/** Largest power of two strictly below n (n ≥ 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/**
 * The perfect subtrees, left to right, whose hashes fold (right to left) into
 * MTH(D[start:end]). For the ranges that occur in RFC 9162 proofs the start is
 * aligned to the largest piece, so this is the binary decomposition of the
 * range's size, largest first.
 */
export function perfectSubtrees(start: number, end: number): NodeId[] {
  const out: NodeId[] = [];
  let at = start;
  while (at < end) {
    let width = 1;
    let level = 0;
    while (at % (width * 2) === 0 && at + width * 2 <= end) {
      width *= 2;
      level++;
    }
    out.push({ level, index: at / width });
    at += width;
  }
  return out;
}

/**
 * Leaf ranges of the inclusion path PATH(m, D[0:n]) of RFC 9162 §2.1.3.1, in
 * proof order (the leaf's sibling first, the root's child last).
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  assertTreeSize(index, 'leaf index');
  assertTreeSize(size, 'tree size');
  if (index >= size) throw new PavilionError('INDEX_OUT_OF_RANGE', 'leaf index must be below the tree size');
  const topDown: LeafRange[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index - lo < k) {
      topDown.push({ start: lo + k, end: hi });
      hi = lo + k;
    } else {
      topDown.push({ start: lo, end: lo + k });
      lo += k;
    }
  }
  return topDown.reverse();
}

/**
 * Leaf ranges of the consistency proof PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
 * of RFC 9162 §2.1.4.1, in proof order. Requires 0 < m ≤ n; m = n gives [].
 */
export function consistencyProofRanges(size1: number, size2: number): LeafRange[] {
  assertTreeSize(size1, 'first tree size');
  assertTreeSize(size2, 'second tree size');
  if (size1 === 0) throw new PavilionError('SIZE_INVALID', 'a consistency proof from the empty tree is meaningless');
  if (size1 > size2) throw new PavilionError('SIZE_INVALID', 'first tree size must not exceed the second');
  const topDown: LeafRange[] = [];
  let lo = 0;
  let hi = size2;
  let m = size1;
  let startFromOldRoot = true;
  for (;;) {
    const n = hi - lo;
    if (m === n) {
      // SUBPROOF(m, D[m], true) = [] (the verifier already has the old root);
      // with b = false the subtree's own hash is part of the proof.
      if (!startFromOldRoot) topDown.push({ start: lo, end: hi });
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      topDown.push({ start: lo + k, end: hi });
      hi = lo + k;
    } else {
      topDown.push({ start: lo, end: lo + k });
      m -= k;
      lo += k;
      startFromOldRoot = false;
    }
  }
  return topDown.reverse();
}

/** Every perfect subtree a list of ranges needs, deduplicated, for one batched read. */
export function nodesForRanges(ranges: readonly LeafRange[]): NodeId[] {
  const seen = new Set<string>();
  const out: NodeId[] = [];
  for (const r of ranges) {
    for (const id of perfectSubtrees(r.start, r.end)) {
      const key = nodeKey(id.level, id.index);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(id);
      }
    }
  }
  return out;
}

export function nodeKey(level: number, index: number): string {
  return `${level}/${index}`;
}
