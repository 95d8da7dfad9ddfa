/**
 * What the anchorer reports: figures for metrics and health checks, refreshed
 * from its table after each pass, and the reference handed out for an anchor.
 */
import type { AnchorerError } from './failures.js';
import type { AnchorRow, LogSummary } from './store.js';
import type { AnchorReference } from './types.js';

/** Figures for metrics and health checks. Sizes are tree sizes; null = none yet. */
export interface AnchorerStatus {
  chain: string;
  contract: string;
  /** Block that deployed the contract: given, or found on chain (null until found, or when the node cannot say). */
  deployBlock: number | null;
  origin: string | null;
  logId: string | null;
  /** Size of the newest checkpoint seen from the source. */
  checkpointSize: number | null;
  /** Largest size included on chain (final or not). */
  lastAnchoredSize: number | null;
  lastAnchoredAt: Date | null;
  /** Largest size whose anchor is final. */
  lastFinalSize: number | null;
  lastFinalAt: Date | null;
  /** Size of the anchor waiting for its receipt, if any. */
  pendingSize: number | null;
  /** checkpointSize − lastAnchoredSize: entries not yet on chain. */
  unanchoredEntries: number;
  /** checkpointSize − lastFinalSize: entries not yet final. */
  unfinalizedEntries: number;
  /** Receipts that left the canonical chain or moved block, over all anchors. */
  reorgs: number;
  /**
   * The contract's latest anchor of the log when it is not a state of the log (beyond its size, or another
   * root at that size): anchoring stops (ANCHOR_LOG_DIVERGED). null once the check passes.
   */
  divergedAnchor: { size: number; root: string; logSize: number } | null;
  consecutiveFailures: number;
  lastError: AnchorerError | null;
  lastSuccessAt: Date | null;
}

export function initialStatus(chain: string, contract: string, deployBlock: number | null): AnchorerStatus {
  return {
    chain,
    contract,
    deployBlock,
    origin: null,
    logId: null,
    checkpointSize: null,
    lastAnchoredSize: null,
    lastAnchoredAt: null,
    lastFinalSize: null,
    lastFinalAt: null,
    pendingSize: null,
    unanchoredEntries: 0,
    unfinalizedEntries: 0,
    reorgs: 0,
    divergedAnchor: null,
    consecutiveFailures: 0,
    lastError: null,
    lastSuccessAt: null,
  };
}

/** Copies the table's summary of the log into `state`, with the lags behind the newest checkpoint. */
export function applySummary(state: AnchorerStatus, summary: LogSummary): void {
  Object.assign(state, {
    lastAnchoredSize: summary.lastAnchoredSize,
    lastAnchoredAt: summary.lastAnchoredAt,
    lastFinalSize: summary.lastFinalSize,
    lastFinalAt: summary.lastFinalAt,
    pendingSize: summary.pendingSize,
    reorgs: summary.reorgs,
  });
  updateLags(state);
}

/**
 * The lags behind the newest checkpoint, from the sizes last known on chain: after a failed pass
 * too, so a chain that cannot be reached (or was never reached) shows as entries waiting, which is
 * what the anchor-lag alerts watch.
 */
export function updateLags(state: AnchorerStatus): void {
  const size = state.checkpointSize ?? 0;
  state.unanchoredEntries = Math.max(0, size - (state.lastAnchoredSize ?? 0));
  state.unfinalizedEntries = Math.max(0, size - (state.lastFinalSize ?? 0));
}

/** A copy safe to hand out (the objects in it included). */
export function snapshot(state: AnchorerStatus): AnchorerStatus {
  return {
    ...state,
    divergedAnchor: state.divergedAnchor ? { ...state.divergedAnchor } : null,
    lastError: state.lastError ? { ...state.lastError } : null,
  };
}

export function toReference(row: AnchorRow, contract: string): AnchorReference {
  return {
    chain: row.chain,
    contract,
    tx: row.txHash!,
    block: row.blockNumber!,
    blockHash: row.blockHash!,
    logIndex: row.logIndex!,
    logId: row.logId,
    origin: row.origin,
    size: row.treeSize,
    root: row.root,
    final: row.status === 'final',
  };
}
