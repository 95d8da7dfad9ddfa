// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title MerkleAnchor
/// @notice Public, append-only record of the checkpoints (tree size, root) of
///         RFC 9162 Merkle logs. One contract serves many logs, each named by
///         logId = SHA-256(UTF-8 bytes of the log's C2SP checkpoint origin).
/// @dev    Event-only: the root of each anchor lives in its Anchored event, not in
///         storage; storage keeps one slot per log (last size and its block), enough
///         for the monotonic check: per log the anchored tree size must strictly
///         increase, so every (logId, treeSize) has at most one Anchored event,
///         whatever the off-chain anchorer does. A smaller or equal size reverts
///         (SizeNotIncreasing). Whether a larger tree extends the previous one, and
///         whether each anchored root is the log's, auditors check off chain with
///         RFC 9162 consistency proofs against the events.
///         anchorMany records several logs in one transaction (one base cost).
contract MerkleAnchor {
    /// @dev One storage slot per log: size and block number packed.
    struct Head {
        uint64 treeSize;
        uint64 blockNumber;
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
    error SizeNotIncreasing(bytes32 logId, uint64 lastSize, uint64 treeSize);
    error LengthMismatch();

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
        _anchor(logId, treeSize, root);
    }

    /// @notice Records one checkpoint for each of several logs; all or nothing.
    function anchorMany(bytes32[] calldata logIds, uint64[] calldata treeSizes, bytes32[] calldata roots)
        external
        onlyOwner
    {
        uint256 n = logIds.length;
        if (treeSizes.length != n || roots.length != n) revert LengthMismatch();
        for (uint256 i = 0; i < n; ++i) {
            _anchor(logIds[i], treeSizes[i], roots[i]);
        }
    }

    function _anchor(bytes32 logId, uint64 treeSize, bytes32 root) private {
        // An empty tree (size 0) has nothing to anchor, and size 0 is the
        // "never anchored" marker of the mapping.
        if (treeSize == 0) revert EmptyTree();
        Head storage head = heads[logId];
        uint64 lastSize = head.treeSize;
        if (treeSize <= lastSize) revert SizeNotIncreasing(logId, lastSize, treeSize);
        head.treeSize = treeSize;
        head.blockNumber = uint64(block.number);
        emit Anchored(logId, treeSize, root, lastSize);
    }

    /// @notice Last anchored size of `logId` and the block whose Anchored event holds its root; zeros when never anchored.
    /// @return treeSize last anchored size
    /// @return blockNumber block that anchored it (where to look for its event and root)
    function latest(bytes32 logId) external view returns (uint64 treeSize, uint64 blockNumber) {
        Head storage head = heads[logId];
        return (head.treeSize, head.blockNumber);
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
