/**
 * SQL of the anchoring module (tables in schema.ts). Every write that decides
 * whether to send runs under a per-sender advisory transaction lock, so
 * anchorers sharing a database (restarts, or two instances) serialise there.
 */
import type postgres from 'postgres';
import type { Sql } from '../storage/postgres.js';

export type AnchorStatus = 'pending' | 'included' | 'final' | 'superseded' | 'failed';

export interface AnchorKey extends ChainScope {
  contract: string;
  logId: string;
  treeSize: number;
}

export interface AnchorRow extends AnchorKey {
  origin: string;
  root: string;
  note: string;
  sender: string;
  status: AnchorStatus;
  nonce: number | null;
  txHash: string | null;
  blockNumber: number | null;
  blockHash: string | null;
  logIndex: number | null;
  reorgs: number;
  error: string | null;
  createdAt: Date;
  includedAt: Date | null;
  finalAt: Date | null;
}

/** A signed transaction of an anchor, as stored. */
export interface TransactionRow extends ChainScope, SignedAnchorTx {
  treeSize: number;
  logId: string;
  createdAt: Date;
  broadcastAt: Date | null;
  broadcastError: string | null;
}

export interface SignedAnchorTx {
  txHash: string;
  nonce: number;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  gasLimit: bigint;
  raw: string;
}

export interface LogSummary {
  lastAnchoredSize: number | null;
  lastAnchoredAt: Date | null;
  lastFinalSize: number | null;
  lastFinalAt: Date | null;
  pendingSize: number | null;
  /** created_at of the newest intent (any status but failed): the time trigger's reference. */
  lastIntentAt: Date | null;
  reorgs: number;
}

/** Which chain: CAIP-2 id plus genesis block hash. */
export interface ChainScope {
  chain: string;
  /** Genesis block hash: tells a restarted dev chain from the one before. */
  genesis: string;
}

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toAnchor(r: Row): AnchorRow {
  return {
    chain: r.chain as string,
    genesis: r.genesis as string,
    contract: r.contract as string,
    logId: r.log_id as string,
    treeSize: Number(r.tree_size),
    origin: r.origin as string,
    root: r.root as string,
    note: r.note as string,
    sender: r.sender as string,
    status: r.status as AnchorStatus,
    nonce: num(r.nonce),
    txHash: (r.tx_hash as string | null) ?? null,
    blockNumber: num(r.block_number),
    blockHash: (r.block_hash as string | null) ?? null,
    logIndex: num(r.log_index),
    reorgs: Number(r.reorgs),
    error: (r.error as string | null) ?? null,
    createdAt: r.created_at as Date,
    includedAt: (r.included_at as Date | null) ?? null,
    finalAt: (r.final_at as Date | null) ?? null,
  };
}

function toTransaction(r: Row): TransactionRow {
  return {
    chain: r.chain as string,
    genesis: r.genesis as string,
    txHash: r.tx_hash as string,
    treeSize: Number(r.tree_size),
    logId: r.log_id as string,
    nonce: Number(r.nonce),
    maxFeePerGas: BigInt(r.max_fee_per_gas as string),
    maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas as string),
    gasLimit: BigInt(r.gas_limit as string),
    raw: r.raw as string,
    createdAt: r.created_at as Date,
    broadcastAt: (r.broadcast_at as Date | null) ?? null,
    broadcastError: (r.broadcast_error as string | null) ?? null,
  };
}

export class AnchorStore {
  constructor(private readonly sql: Sql) {}

  /** Anchors of this sender that still need watching, oldest nonce first. */
  async openAnchors(scope: ChainScope, contract: string, sender: string): Promise<AnchorRow[]> {
    const rows = await this.sql`
      select * from anchoring_anchors
      where chain = ${scope.chain} and genesis = ${scope.genesis} and contract = ${contract} and sender = ${sender}
        and status in ('pending', 'included')
      order by nonce nulls last, tree_size`;
    return rows.map(toAnchor);
  }

  async transactionsFor(key: AnchorKey): Promise<TransactionRow[]> {
    const rows = await this.sql`
      select * from anchoring_transactions
      where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract} and log_id = ${key.logId}
        and tree_size = ${key.treeSize}
      order by created_at, tx_hash`;
    return rows.map(toTransaction);
  }

  async summary(scope: ChainScope, contract: string, logId: string): Promise<LogSummary> {
    const [r] = await this.sql`
      select
        max(tree_size) filter (where status in ('included', 'final')) as last_anchored_size,
        max(included_at) filter (where status in ('included', 'final')) as last_anchored_at,
        max(tree_size) filter (where status = 'final') as last_final_size,
        max(final_at) filter (where status = 'final') as last_final_at,
        max(tree_size) filter (where status = 'pending') as pending_size,
        max(created_at) filter (where status <> 'failed') as last_intent_at,
        coalesce(sum(reorgs), 0) as reorgs
      from anchoring_anchors
      where chain = ${scope.chain} and genesis = ${scope.genesis} and contract = ${contract} and log_id = ${logId}`;
    return {
      lastAnchoredSize: num(r!.last_anchored_size),
      lastAnchoredAt: (r!.last_anchored_at as Date | null) ?? null,
      lastFinalSize: num(r!.last_final_size),
      lastFinalAt: (r!.last_final_at as Date | null) ?? null,
      pendingSize: num(r!.pending_size),
      lastIntentAt: (r!.last_intent_at as Date | null) ?? null,
      reorgs: Number(r!.reorgs),
    };
  }

  /**
   * Records the intent to anchor (log, size) and its first signed transaction,
   * unless the log already has an anchor in flight or one at this size or
   * above. `sign(nonce)` runs under the lock once the nonce is chosen: the
   * larger of the chain's pending count and one past the nonces of this
   * sender's open anchors (a recorded transaction may not have reached the
   * node yet; closed anchors' nonces are already counted by the chain).
   */
  async recordIntent(
    anchor: Omit<
      AnchorRow,
      | 'status'
      | 'nonce'
      | 'txHash'
      | 'blockNumber'
      | 'blockHash'
      | 'logIndex'
      | 'reorgs'
      | 'error'
      | 'createdAt'
      | 'includedAt'
      | 'finalAt'
    >,
    chainPendingNonce: number,
    sign: (nonce: number) => Promise<SignedAnchorTx>,
  ): Promise<{ recorded: true; tx: SignedAnchorTx } | { recorded: false; reason: string }> {
    return this.sql.begin(async (tx) => {
      await lockSender(tx, anchor, anchor.sender);
      const blocking = await tx`
        select tree_size, status from anchoring_anchors
        where chain = ${anchor.chain} and genesis = ${anchor.genesis} and contract = ${anchor.contract}
          and log_id = ${anchor.logId}
          and (status = 'pending' or (tree_size >= ${anchor.treeSize} and status <> 'failed'))
        limit 1`;
      if (blocking.length > 0) {
        return { recorded: false as const, reason: `${blocking[0]!.status} anchor at size ${blocking[0]!.tree_size}` };
      }
      const n = await maxOpenNonce(tx, anchor, anchor.sender);
      const nextRecorded = n === null ? 0 : n + 1;
      const nonce = Math.max(chainPendingNonce, nextRecorded);
      const signed = await sign(nonce);
      await tx`
        insert into anchoring_anchors (chain, genesis, contract, log_id, tree_size, origin, root, note, sender, status,
          nonce)
        values (${anchor.chain}, ${anchor.genesis}, ${anchor.contract}, ${anchor.logId}, ${anchor.treeSize},
          ${anchor.origin}, ${anchor.root},
                ${anchor.note}, ${anchor.sender}, 'pending', ${nonce})
        on conflict (chain, genesis, contract, log_id, tree_size) do update
          set status = 'pending', nonce = excluded.nonce, error = null, updated_at = now()`;
      await insertTransaction(tx, anchor, signed);
      return { recorded: true as const, tx: signed };
    }) as Promise<{ recorded: true; tx: SignedAnchorTx } | { recorded: false; reason: string }>;
  }

  /**
   * Records another signed transaction for a pending anchor (a fee-bumped
   * replacement or a re-post after a reorg), unless another process recorded
   * one for it within `minAgeMs` (two anchorers watching the same anchor).
   */
  async recordReplacement(
    key: AnchorKey & { sender: string },
    minAgeMs: number,
    /** null: keep the anchor's nonce (replacement); a number: take a fresh nonce, at least this. */
    freshNonceFloor: number | null,
    sign: (nonce: number) => Promise<SignedAnchorTx>,
  ): Promise<SignedAnchorTx | undefined> {
    return this.sql.begin(async (tx) => {
      await lockSender(tx, key, key.sender);
      const [row] = await tx`
        select a.status, a.nonce, (select max(t.created_at) from anchoring_transactions t
                          where t.chain = a.chain and t.genesis = a.genesis and t.contract = a.contract
                            and t.log_id = a.log_id and t.tree_size = a.tree_size) as newest,
               now() as now
        from anchoring_anchors a
        where a.chain = ${key.chain} and a.genesis = ${key.genesis} and a.contract = ${key.contract}
          and a.log_id = ${key.logId} and a.tree_size = ${key.treeSize}`;
      if (row?.status !== 'pending') return undefined;
      if (row.newest && (row.now as Date).getTime() - (row.newest as Date).getTime() < minAgeMs) return undefined;
      let nonce = Number(row.nonce);
      if (freshNonceFloor !== null) {
        const n = await maxOpenNonce(tx, key, key.sender);
        nonce = Math.max(freshNonceFloor, n === null ? 0 : n + 1);
      }
      const signed = await sign(nonce);
      await tx`update anchoring_anchors set nonce = ${signed.nonce}, updated_at = now()
               where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract}
                 and log_id = ${key.logId} and tree_size = ${key.treeSize}`;
      await insertTransaction(tx, key, signed);
      return signed;
    }) as Promise<SignedAnchorTx | undefined>;
  }

  async markBroadcast(scope: ChainScope, txHash: string, error: string | null): Promise<void> {
    if (error === null) {
      await this.sql`update anchoring_transactions set broadcast_at = now(), broadcast_error = null
                     where chain = ${scope.chain} and genesis = ${scope.genesis} and tx_hash = ${txHash}`;
    } else {
      await this.sql`update anchoring_transactions set broadcast_error = ${error}
                     where chain = ${scope.chain} and genesis = ${scope.genesis} and tx_hash = ${txHash}`;
    }
  }

  async markIncluded(
    key: AnchorKey,
    at: { txHash: string; blockNumber: number; blockHash: string; logIndex: number },
    moved: boolean,
  ): Promise<void> {
    await this.sql`
      update anchoring_anchors
      set status = 'included', tx_hash = ${at.txHash}, block_number = ${at.blockNumber}, block_hash = ${at.blockHash},
          log_index = ${at.logIndex}, reorgs = reorgs + ${moved ? 1 : 0}, error = null,
          included_at = coalesce(included_at, now()), updated_at = now()
      where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract} and log_id = ${key.logId}
        and tree_size = ${key.treeSize}
        and status in ('pending', 'included')`;
  }

  /** The receipt left the canonical chain: back to pending, to be re-posted. */
  async markReorged(key: AnchorKey): Promise<void> {
    await this.sql`
      update anchoring_anchors
      set status = 'pending', tx_hash = null, block_number = null, block_hash = null, log_index = null,
          reorgs = reorgs + 1, included_at = null, updated_at = now()
      where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract} and log_id = ${key.logId}
        and tree_size = ${key.treeSize}
        and status = 'included'`;
  }

  async markFinal(key: AnchorKey, blockHash: string): Promise<void> {
    await this.sql`
      update anchoring_anchors set status = 'final', final_at = now(), updated_at = now()
      where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract} and log_id = ${key.logId}
        and tree_size = ${key.treeSize}
        and status = 'included' and block_hash = ${blockHash}`;
  }

  async markClosed(key: AnchorKey, status: 'superseded' | 'failed', error: string): Promise<void> {
    await this.sql`
      update anchoring_anchors set status = ${status}, error = ${error}, updated_at = now()
      where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract} and log_id = ${key.logId}
        and tree_size = ${key.treeSize}
        and status in ('pending', 'included')`;
  }

  async noteError(key: AnchorKey, error: string): Promise<void> {
    await this.sql`
      update anchoring_anchors set error = ${error}, updated_at = now()
      where chain = ${key.chain} and genesis = ${key.genesis} and contract = ${key.contract} and log_id = ${key.logId}
        and tree_size = ${key.treeSize}`;
  }

  /** The smallest included or final anchor of the log with size ≥ `size`. */
  async findAnchor(scope: ChainScope, contract: string, logId: string, size: number): Promise<AnchorRow | undefined> {
    const [row] = await this.sql`
      select * from anchoring_anchors
      where chain = ${scope.chain} and genesis = ${scope.genesis} and contract = ${contract} and log_id = ${logId}
        and tree_size >= ${size}
        and status in ('included', 'final')
      order by tree_size limit 1`;
    return row ? toAnchor(row) : undefined;
  }
}

/** The per-sender lock every send decision runs under, held until the transaction ends. */
async function lockSender(tx: postgres.TransactionSql, scope: ChainScope, sender: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtext(${`pavilion_anchoring:${scope.chain}:${scope.genesis}:${sender}`}))`;
}

async function insertTransaction(
  tx: postgres.TransactionSql,
  key: AnchorKey & { sender: string },
  signed: SignedAnchorTx,
): Promise<void> {
  await tx`
    insert into anchoring_transactions (chain, genesis, tx_hash, contract, log_id, tree_size, sender, nonce,
                                        max_fee_per_gas, max_priority_fee_per_gas, gas_limit, raw)
    values (${key.chain}, ${key.genesis}, ${signed.txHash}, ${key.contract}, ${key.logId}, ${key.treeSize},
      ${key.sender}, ${signed.nonce},
            ${signed.maxFeePerGas.toString()}, ${signed.maxPriorityFeePerGas.toString()},
              ${signed.gasLimit.toString()}, ${signed.raw})
    on conflict (chain, genesis, tx_hash) do nothing`;
}

/** Highest nonce recorded for the sender's still-pending anchors, or null. */
async function maxOpenNonce(tx: postgres.TransactionSql, scope: ChainScope, sender: string): Promise<number | null> {
  const [r] = await tx`
    select max(t.nonce) as nonce
    from anchoring_transactions t
    join anchoring_anchors a using (chain, genesis, contract, log_id, tree_size)
    where t.chain = ${scope.chain} and t.genesis = ${scope.genesis} and t.sender = ${sender} and a.status = 'pending'`;
  return r!.nonce === null ? null : Number(r!.nonce);
}
