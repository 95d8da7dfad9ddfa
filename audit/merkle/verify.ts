/**
 * Proof verification, RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
 * (consistency), hardened as transparency-dev/merkle's proof/verify.go does:
 *
 * - leaf index < tree size; sizes are non-negative safe integers;
 * - every hash is exactly 32 bytes;
 * - the proof length must be EXACTLY inner + border (plus one seed hash for a
 *   consistency proof whose old size is not a power of two), so no padding,
 *   truncation or trailing garbage is accepted;
 * - the final `sn == 0` check of the RFC algorithms is kept: a verifier that
 *   skips it accepts forged proofs (GHSA-672p-m5jq-mrh8);
 * - consistency: size2 < size1 and size1 = 0 are rejected (even 0 → 0); equal
 *   sizes need an empty proof and equal roots.
 *
 * One deliberate quirk follows the upstream vectors: for equal sizes the roots
 * are only compared for byte equality, not length-checked
 * (consistency/additional/sizes-are-equal-one-and-proof-is-empty.json expects
 * success with two identical 12-byte "roots"). Roots taken from a verified
 * checkpoint are always 32 bytes, so this admits nothing in practice.
 */
import { PavilionError } from '../../common/errors.js';
import { bytesEqual, HASH_SIZE, nodeHash } from './hash.js';
import { assertTreeSize, isPowerOfTwo } from './ranges.js';

function assertHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new PavilionError('HASH_LENGTH', `${what} must be exactly ${HASH_SIZE} bytes`);
  }
}

function assertProofHashes(proof: readonly Uint8Array[]): void {
  if (!Array.isArray(proof)) throw new PavilionError('PROOF_INVALID', 'proof must be an array of hashes');
  proof.forEach((p, i) => {
    assertHash(p, `proof hash ${i}`);
  });
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function bitLength(n: number): number {
  let bits = 0;
  while (n > 0) {
    n = half(n);
    bits++;
  }
  return bits;
}

function popCount(n: number): number {
  let count = 0;
  while (n > 0) {
    count += n % 2;
    n = half(n);
  }
  return count;
}

function trailingZeros(n: number): number {
  let zeros = 0;
  while (n > 0 && n % 2 === 0) {
    n /= 2;
    zeros++;
  }
  return zeros;
}

/**
 * Split of an inclusion proof for `index` in a tree of `size`: `inner` nodes
 * below the point where the leaf's path leaves the right edge, `border` nodes
 * on the right border above it (transparency-dev's decompInclProof).
 */
export function inclusionProofShape(index: number, size: number): { inner: number; border: number } {
  // index XOR (size − 1) with BigInt: JavaScript's ^ truncates to 32 bits.
  const inner = bitLength(Number(BigInt(index) ^ BigInt(size - 1)));
  const border = popCount(Math.floor(index / 2 ** inner));
  return { inner, border };
}

/** Exact number of hashes a valid consistency proof from size1 to size2 has (0 < size1 < size2). */
export function consistencyProofLength(size1: number, size2: number): number {
  const { inner, border } = inclusionProofShape(size1 - 1, size2);
  const shift = trailingZeros(size1);
  const seed = isPowerOfTwo(size1) ? 0 : 1;
  return seed + (inner - shift) + border;
}

/**
 * Recomputes the root from an inclusion proof (RFC 9162 §2.1.3.2 steps 1–4),
 * with the exact-length and sn == 0 checks. Throws a PavilionError with code
 * INDEX_OUT_OF_RANGE, HASH_LENGTH, PROOF_LENGTH, PROOF_INVALID or SIZE_INVALID.
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  assertTreeSize(index, 'leaf index');
  assertTreeSize(size, 'tree size');
  if (index >= size) throw new PavilionError('INDEX_OUT_OF_RANGE', 'leaf index must be below the tree size');
  assertHash(leafHash, 'leaf hash');
  assertProofHashes(proof);
  const { inner, border } = inclusionProofShape(index, size);
  if (proof.length !== inner + border) {
    throw new PavilionError('PROOF_LENGTH', `inclusion proof has ${proof.length} hashes, expected ${inner + border}`);
  }
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) throw new PavilionError('PROOF_INVALID', 'inclusion proof is longer than the path to the root');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new PavilionError('PROOF_INVALID', 'inclusion proof does not reach the root');
  return r;
}

/** Throws unless `proof` shows the leaf at `index` is in the tree of `size` with `root`. */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(index, size, leafHash, proof);
  assertHash(root, 'root');
  if (!bytesEqual(computed, root))
    throw new PavilionError('ROOT_MISMATCH', 'inclusion proof does not lead to the expected root');
}

/**
 * Throws unless `proof` shows the tree of size2 with root2 extends the tree of
 * size1 with root1 (RFC 9162 §2.1.4.2, hardened as described above).
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  assertTreeSize(size1, 'first tree size');
  assertTreeSize(size2, 'second tree size');
  if (!Array.isArray(proof)) throw new PavilionError('PROOF_INVALID', 'proof must be an array of hashes');
  if (size2 < size1) throw new PavilionError('PROOF_INVALID', 'second tree size is smaller than the first');
  if (size1 === 0) throw new PavilionError('PROOF_INVALID', 'a consistency proof from the empty tree is meaningless');
  if (size1 === size2) {
    if (proof.length !== 0) throw new PavilionError('PROOF_LENGTH', 'equal tree sizes need an empty consistency proof');
    if (!bytesEqual(root1, root2)) throw new PavilionError('ROOT_MISMATCH', 'equal tree sizes with different roots');
    return;
  }
  assertHash(root1, 'first root');
  assertHash(root2, 'second root');
  assertProofHashes(proof);
  const expected = consistencyProofLength(size1, size2);
  if (proof.length !== expected) {
    throw new PavilionError('PROOF_LENGTH', `consistency proof has ${proof.length} hashes, expected ${expected}`);
  }
  // Step 2: when size1 is a power of two the old root is the first node.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) throw new PavilionError('PROOF_INVALID', 'consistency proof is longer than the path to the root');
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new PavilionError('PROOF_INVALID', 'consistency proof does not reach the second root');
  if (!bytesEqual(fr, root1))
    throw new PavilionError('ROOT_MISMATCH', 'consistency proof does not lead to the first root');
  if (!bytesEqual(sr, root2))
    throw new PavilionError('ROOT_MISMATCH', 'consistency proof does not lead to the second root');
}
