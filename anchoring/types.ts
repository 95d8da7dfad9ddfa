/**
 * What the anchoring module consumes and returns. The audit log is seen only
 * through CheckpointSource, so anchoring/ does not depend on audit internals.
 */

/** A signed checkpoint of the audit log (C2SP tlog-checkpoint inside a signed note). */
export interface Checkpoint {
  /** The log's origin line; names the log, logId = SHA-256(origin). */
  origin: string;
  /** Tree size (number of leaves). */
  size: number;
  /** RFC 9162 root hash, 32 bytes. */
  root: Uint8Array;
  /** The signed note text, kept beside the anchor for auditors. */
  note: string;
}

export interface CheckpointSource {
  /** The newest signed checkpoint, or undefined while the log has none. */
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  /**
   * The log's RFC 9162 root at `size` (32 bytes), or undefined while the log is smaller. The anchorer
   * checks the contract's latest anchor with it: an anchored (size, root) must be a state of the log.
   */
  rootAt(size: number): Promise<Uint8Array | undefined>;
}

/** Where a checkpoint was anchored: everything an auditor needs to check it on chain. */
export interface AnchorReference {
  /** CAIP-2 chain id, e.g. `eip155:80002`. */
  chain: string;
  /** MerkleAnchor contract address (checksummed). */
  contract: string;
  /** Hash of the transaction that emitted the Anchored event. */
  tx: string;
  block: number;
  blockHash: string;
  /** Index of the Anchored event in its block. */
  logIndex: number;
  /** bytes32 log id, SHA-256(origin). */
  logId: string;
  origin: string;
  size: number;
  /** 0x-hex root anchored for `size`. */
  root: string;
  /** True once the block is at or below the chain's `finalized` block and its hash still matches. */
  final: boolean;
}
