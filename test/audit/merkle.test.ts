import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendToFrontier,
  consistencyProofFromSource,
  emptyRoot,
  inclusionProofFromSource,
  leafHash,
  MemoryMerkleTree,
  nodeHash,
  nodesForConsistencyProof,
  nodesForInclusionProof,
  rootFromInclusionProof,
  sourceFromFetched,
  type TreeNode,
  verifyConsistency,
  verifyInclusion,
} from '../../audit/merkle/index.js';
import { errorCode as outcome } from './error-code.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/merkle');

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...jsonFiles(path));
    else if (name.endsWith('.json')) out.push(path);
  }
  return out;
}

const b64 = (s: string | null | undefined) => new Uint8Array(Buffer.from(s ?? '', 'base64'));
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

describe('transparency-dev/merkle vectors', () => {
  const inclusion = jsonFiles(join(FIXTURES, 'inclusion'));
  const consistency = jsonFiles(join(FIXTURES, 'consistency'));

  it('has all 196 vector files', () => {
    expect(inclusion.length + consistency.length).toBe(196);
  });

  it.each(inclusion.map((p) => [p.slice(FIXTURES.length + 1), p]))('inclusion %s', (_name, path) => {
    const v = JSON.parse(readFileSync(path, 'utf8')) as InclusionVector;
    const code = outcome(() =>
      verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root)),
    );
    if (v.wantErr) expect(code, v.desc).not.toBeNull();
    else expect(code, v.desc).toBeNull();
  });

  it.each(consistency.map((p) => [p.slice(FIXTURES.length + 1), p]))('consistency %s', (_name, path) => {
    const v = JSON.parse(readFileSync(path, 'utf8')) as ConsistencyVector;
    const code = outcome(() =>
      verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2)),
    );
    if (v.wantErr) expect(code, v.desc).not.toBeNull();
    else expect(code, v.desc).toBeNull();
  });
});

describe('RFC 6962 reference tree', () => {
  const ref = JSON.parse(readFileSync(join(FIXTURES, 'rfc6962-reference-tree.json'), 'utf8')) as {
    hasher_vectors: { kind: string; data_hex?: string; left_hex?: string; right_hex?: string; want: string }[];
    leaves_hex: string[];
    leaf_hashes: string[];
    roots_by_size: string[];
    inclusion_proofs: { leaf_index: number; tree_size: number; leaf_hash: string; root: string; proof: string[] }[];
    consistency_proofs: { size1: number; size2: number; root1: string; root2: string; proof: string[] }[];
  };
  const tree = new MemoryMerkleTree();
  for (const l of ref.leaves_hex) tree.appendData(hex(l));

  it('hasher vectors', () => {
    for (const v of ref.hasher_vectors) {
      const got =
        v.kind === 'empty'
          ? emptyRoot()
          : v.kind === 'leaf'
            ? leafHash(hex(v.data_hex!))
            : nodeHash(hex(v.left_hex!), hex(v.right_hex!));
      expect(toHex(got)).toBe(v.want);
    }
  });

  it('leaf hashes and roots for sizes 0..8', () => {
    ref.leaf_hashes.forEach((h, i) => {
      expect(toHex(tree.leafHashAt(i))).toBe(h);
    });
    ref.roots_by_size.forEach((r, size) => {
      expect(toHex(tree.root(size))).toBe(r);
    });
  });

  it('inclusion proofs reproduce and verify', () => {
    for (const p of ref.inclusion_proofs) {
      const proof = tree.inclusionProof(p.leaf_index, p.tree_size);
      expect(proof.map(toHex)).toEqual(p.proof);
      verifyInclusion(p.leaf_index, p.tree_size, hex(p.leaf_hash), proof, hex(p.root));
    }
  });

  it('consistency proofs reproduce and verify', () => {
    for (const p of ref.consistency_proofs) {
      const proof = tree.consistencyProof(p.size1, p.size2);
      expect(proof.map(toHex)).toEqual(p.proof);
      verifyConsistency(p.size1, p.size2, proof, hex(p.root1), hex(p.root2));
    }
  });
});

// ---------------------------------------------------------------------------
// Naive reference: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 written literally over
// the leaf list, for the differential test below.
function naiveMth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return new Uint8Array(createHash('sha256').digest());
  if (leaves.length === 1) return leafHash(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(naiveMth(leaves.slice(0, k)), naiveMth(leaves.slice(k)));
}
function naivePath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  if (m < k) return [...naivePath(m, leaves.slice(0, k)), naiveMth(leaves.slice(k))];
  return [...naivePath(m - k, leaves.slice(k)), naiveMth(leaves.slice(0, k))];
}
function naiveSubproof(m: number, leaves: Uint8Array[], b: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [naiveMth(leaves)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  if (m <= k) return [...naiveSubproof(m, leaves.slice(0, k), b), naiveMth(leaves.slice(k))];
  return [...naiveSubproof(m - k, leaves.slice(k), false), naiveMth(leaves.slice(0, k))];
}

describe('differential: tree code vs the naive RFC definitions, sizes 1..70', () => {
  const N = 70;
  const leaves = Array.from({ length: N }, (_, i) => new TextEncoder().encode(`leaf ${i}`));
  const tree = new MemoryMerkleTree();
  for (const l of leaves) tree.appendData(l);
  const roots = Array.from({ length: N + 1 }, (_, n) => naiveMth(leaves.slice(0, n)));

  it('roots', () => {
    for (let n = 0; n <= N; n++) expect(toHex(tree.root(n))).toBe(toHex(roots[n]!));
  });

  it('every inclusion proof matches PATH(m, D[n]) and verifies', () => {
    let count = 0;
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        expect(proof.map(toHex)).toEqual(naivePath(m, leaves.slice(0, n)).map(toHex));
        const lh = leafHash(leaves[m]!);
        expect(toHex(rootFromInclusionProof(m, n, lh, proof))).toBe(toHex(roots[n]!));
        verifyInclusion(m, n, lh, proof, roots[n]!);
        count++;
      }
    }
    expect(count).toBe((N * (N + 1)) / 2);
  });

  it('every consistency proof matches PROOF(m, D[n]) and verifies', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = tree.consistencyProof(m, n);
        expect(proof.map(toHex)).toEqual(naiveSubproof(m, leaves.slice(0, n), true).map(toHex));
        verifyConsistency(m, n, proof, roots[m]!, roots[n]!);
      }
    }
  });

  it('mutated proofs are rejected with typed errors (flip, drop, extend, wrong index/size)', () => {
    for (let n = 2; n <= 40; n++) {
      for (let m = 0; m < n; m++) {
        const lh = leafHash(leaves[m]!);
        const proof = tree.inclusionProof(m, n);
        const flipped = proof.map((p, i) => (i === 0 ? Uint8Array.from(p, (b, j) => (j === 0 ? b ^ 1 : b)) : p));
        expect(outcome(() => verifyInclusion(m, n, lh, flipped, roots[n]!))).toBe('ROOT_MISMATCH');
        expect(outcome(() => verifyInclusion(m, n, lh, proof.slice(1), roots[n]!))).toBe('PROOF_LENGTH');
        expect(outcome(() => verifyInclusion(m, n, lh, [...proof, roots[n]!], roots[n]!))).toBe('PROOF_LENGTH');
        expect(outcome(() => verifyInclusion(m, n, lh, proof, roots[n - 1]!))).not.toBeNull();
        expect(outcome(() => verifyInclusion(n, n, lh, proof, roots[n]!))).toBe('INDEX_OUT_OF_RANGE');
      }
      for (let m = 1; m < n; m++) {
        const proof = tree.consistencyProof(m, n);
        expect(outcome(() => verifyConsistency(m, n, proof.slice(0, -1), roots[m]!, roots[n]!))).toBe('PROOF_LENGTH');
        expect(outcome(() => verifyConsistency(m, n, proof, roots[n]!, roots[m]!))).toBe('ROOT_MISMATCH');
        expect(outcome(() => verifyConsistency(n, m, proof, roots[n]!, roots[m]!))).toBe('PROOF_INVALID');
      }
    }
  });

  it('an interior node passed off as a leaf with a shortened proof is rejected (GHSA-672p-m5jq-mrh8 class)', () => {
    // The left half of a 4-leaf tree is an interior node; a verifier without
    // exact lengths / the final sn == 0 check could accept it as "leaf 0".
    const forgedLeaf = tree.root(2);
    const rightHalf = nodeHash(leafHash(leaves[2]!), leafHash(leaves[3]!));
    expect(toHex(nodeHash(forgedLeaf, rightHalf))).toBe(toHex(roots[4]!));
    expect(outcome(() => verifyInclusion(0, 4, forgedLeaf, [rightHalf], roots[4]!))).toBe('PROOF_LENGTH');
    expect(outcome(() => verifyInclusion(1, 4, forgedLeaf, [rightHalf], roots[4]!))).toBe('PROOF_LENGTH');
  });

  it('a proof with a non-32-byte hash gives HASH_LENGTH', () => {
    const proof = tree.inclusionProof(3, 10);
    proof[1] = proof[1]!.subarray(0, 31);
    expect(outcome(() => verifyInclusion(3, 10, leafHash(leaves[3]!), proof, roots[10]!))).toBe('HASH_LENGTH');
    expect(outcome(() => verifyInclusion(3, 10, new Uint8Array(5), tree.inclusionProof(3, 10), roots[10]!))).toBe(
      'HASH_LENGTH',
    );
  });

  it('bad sizes give SIZE_INVALID', () => {
    expect(outcome(() => verifyInclusion(-1, 3, leafHash(leaves[0]!), [], roots[3]!))).toBe('SIZE_INVALID');
    expect(outcome(() => verifyInclusion(0, 1.5, leafHash(leaves[0]!), [], roots[3]!))).toBe('SIZE_INVALID');
    expect(outcome(() => verifyConsistency(1, Number.NaN, [], roots[1]!, roots[1]!))).toBe('SIZE_INVALID');
  });

  it('frontier appends produce the same nodes and roots as the full tree, in any batch split', () => {
    for (const batch of [1, 3, 7, 16, 70]) {
      let size = 0;
      let frontier: TreeNode[] = [];
      const stored: TreeNode[] = [];
      for (let start = 0; start < N; start += batch) {
        const hashes = leaves.slice(start, start + batch).map((l) => leafHash(l));
        hashes.forEach((h, i) => {
          stored.push({ level: 0, index: start + i, hash: h });
        });
        const r = appendToFrontier(size, frontier, hashes);
        stored.push(...r.newNodes);
        size = r.size;
        frontier = r.frontier;
        expect(toHex(r.root)).toBe(toHex(roots[size]!));
      }
      // Proofs from only the incrementally stored nodes, via the batched-read plan.
      const source = sourceFromFetched(stored);
      for (let n = 1; n <= N; n += batch === 1 ? 1 : 5) {
        for (let m = 0; m < n; m++) {
          const ids = nodesForInclusionProof(m, n);
          expect(ids.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n + 1)) + 1);
          expect(inclusionProofFromSource(m, n, source).map(toHex)).toEqual(
            naivePath(m, leaves.slice(0, n)).map(toHex),
          );
        }
        for (let m = 1; m <= n; m++) {
          nodesForConsistencyProof(m, n);
          expect(consistencyProofFromSource(m, n, source).map(toHex)).toEqual(
            naiveSubproof(m, leaves.slice(0, n), true).map(toHex),
          );
        }
      }
    }
  });
});
