// SPDX-License-Identifier: Apache-2.0
// Benchmark baseline only: the MerkleAnchor before its event-only redesign (it kept each
// log's root in storage). bench/audit.ts deploys it beside the current one to compare gas.
pragma solidity ^0.8.24;

/// @title MerkleAnchor
/// @notice Public, append-only record of the checkpoints (tree size, root) of
///         RFC 9162 Merkle logs. One contract serves many logs, each named by
///         logId = SHA-256(UTF-8 bytes of the log's C2SP checkpoint origin).
/// @dev    Per log the anchored tree size must strictly increase:
///         - a smaller size than the last one is a rollback of the log and reverts
///           (SizeRollback), so the chain never records a shrinking log;
///         - the same size again reverts too: with the same root it would be a
///           duplicate (AlreadyAnchored), with another root it is equivocation
///           (RootConflict, the two roots are named in the revert data, which
///           stays public in the failed transaction).
///         So every (logId, treeSize) has at most one Anchored event, whatever the
///         off-chain anchorer does. Whether a larger tree extends the previous one
///         is checked off chain by auditors with an RFC 9162 consistency proof
///         (on chain that costs ~2.2k gas per proof node; measured, see FORMATS.md).
contract MerkleAnchor {
    /// @dev Two storage slots per log: size and block number share one slot.
    struct Head {
        uint64 treeSize;
        uint64 blockNumber;
        bytes32 root;
    }

    address public owner;
    address public pendingOwner;
    mapping(bytes32 => Head) private heads;

    event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 root, uint64 previousSize);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner(address caller);
    error NotPendingOwner(address caller);
    error ZeroAddress();
    error EmptyTree();
    error SizeRollback(bytes32 logId, uint64 lastSize, uint64 treeSize);
    error AlreadyAnchored(bytes32 logId, uint64 treeSize);
    error RootConflict(bytes32 logId, uint64 treeSize, bytes32 anchoredRoot, bytes32 root);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /// @notice Records checkpoint (treeSize, root) of log `logId`.
    function anchor(bytes32 logId, uint64 treeSize, bytes32 root) external onlyOwner {
        // An empty tree (size 0) has nothing to anchor, and size 0 is the
        // "never anchored" marker of the mapping.
        if (treeSize == 0) revert EmptyTree();
        Head storage head = heads[logId];
        uint64 lastSize = head.treeSize;
        if (treeSize < lastSize) revert SizeRollback(logId, lastSize, treeSize);
        if (treeSize == lastSize) {
            if (head.root == root) revert AlreadyAnchored(logId, treeSize);
            revert RootConflict(logId, treeSize, head.root, root);
        }
        head.treeSize = treeSize;
        head.blockNumber = uint64(block.number);
        head.root = root;
        emit Anchored(logId, treeSize, root, lastSize);
    }

    /// @notice Last anchored checkpoint of `logId`; all zero when never anchored.
    /// @return treeSize last anchored size
    /// @return root     its root hash
    /// @return blockNumber block that anchored it (where to look for its event)
    function latest(bytes32 logId) external view returns (uint64 treeSize, bytes32 root, uint64 blockNumber) {
        Head storage head = heads[logId];
        return (head.treeSize, head.root, head.blockNumber);
    }

    /// @notice First step of a two-step transfer: a typo in the new owner's
    ///         address cannot lock the anchors, the new owner must accept.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }
}
