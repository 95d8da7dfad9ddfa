/**
 * An in-memory RFC 9162 tree keeping every perfect-subtree hash by level, the
 * same layout the Postgres log stores. Used by verifiers that rebuild a tree,
 * by tests as the reference the database must agree with, and by benchmarks.
 */
import { PavilionError } from '../../common/errors.js';
import {
  consistencyProofFromSource,
  inclusionProofFromSource,
  rootFromSource,
  type SubtreeHashSource,
} from './assemble.js';
import { HASH_SIZE, leafHash, nodeHash } from './hash.js';
import { assertTreeSize } from './ranges.js';

export class MemoryMerkleTree {
  /** levels[L][i] = hash of the perfect subtree (L, i). */
  private readonly levels: Uint8Array[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  appendData(data: Uint8Array): number {
    return this.appendLeafHash(leafHash(data));
  }

  /** Appends a leaf hash; returns its index. */
  appendLeafHash(hash: Uint8Array): number {
    if (hash.length !== HASH_SIZE) throw new PavilionError('HASH_LENGTH', 'leaf hash must be 32 bytes');
    const index = this.levels[0]!.length;
    this.levels[0]!.push(hash);
    // Complete every perfect subtree this leaf closes.
    let level = 0;
    let at = index;
    while (at % 2 === 1) {
      const row = this.levels[level]!;
      const parent = nodeHash(row[at - 1]!, row[at]!);
      if (!this.levels[level + 1]) this.levels.push([]);
      this.levels[level + 1]!.push(parent);
      level++;
      at = (at - 1) / 2;
    }
    return index;
  }

  readonly source: SubtreeHashSource = (level, index) => {
    const hash = this.levels[level]?.[index];
    if (!hash) throw new PavilionError('LOG_CORRUPT', `tree node ${level}/${index} does not exist`);
    return hash;
  };

  leafHashAt(index: number): Uint8Array {
    assertTreeSize(index, 'leaf index');
    if (index >= this.size) throw new PavilionError('INDEX_OUT_OF_RANGE', 'leaf index must be below the tree size');
    return this.levels[0]![index]!;
  }

  root(size: number = this.size): Uint8Array {
    this.checkSize(size);
    return rootFromSource(size, this.source);
  }

  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    this.checkSize(size);
    return inclusionProofFromSource(index, size, this.source);
  }

  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    this.checkSize(size2);
    return consistencyProofFromSource(size1, size2, this.source);
  }

  private checkSize(size: number): void {
    assertTreeSize(size, 'tree size');
    if (size > this.size) throw new PavilionError('SIZE_INVALID', 'tree size exceeds the number of leaves');
  }
}

/** MTH of a list of leaf hashes. */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const tree = new MemoryMerkleTree();
  for (const h of hashes) tree.appendLeafHash(h);
  return tree.root();
}
