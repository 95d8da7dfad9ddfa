/**
 * The anchoring module's own tables (applied with storage/postgres.ts migrate).
 *
 * anchoring_anchors: one row per intended anchor (chain, contract, log, size):
 *   pending → included (tx, block, log index) → final; back to pending when a
 *   reorg removes the receipt. `superseded` = a larger size was anchored before
 *   this one could be; `failed` = it can never complete (another root is on
 *   chain at that size, or its receipt holds no matching Anchored event). A
 *   reverted transaction is not a status: the contract decides what follows.
 * anchoring_transactions: every signed transaction ever recorded for an anchor,
 *   written BEFORE it is broadcast (so a crash after sending cannot lose it),
 *   keyed by hash, with its nonce: a replaced transaction can still be the one
 *   that gets mined (shared/vectors/merkle/FORMATS.md).
 * Hashes and addresses are lowercase 0x-hex text; sizes and nonces bigint.
 * Rows are scoped by (CAIP-2 chain, genesis block hash): a dev chain restarted
 * from scratch (anvil) has the same chain id, contract address and nonces as
 * the last one, and must not inherit its anchors.
 */
import { migrate, type Sql } from '../storage/postgres.js';

export const ANCHORING_MIGRATIONS: readonly string[] = [
  `create table anchoring_anchors (
     chain text not null,
     genesis text not null,
     contract text not null,
     log_id text not null,
     tree_size bigint not null check (tree_size > 0),
     origin text not null,
     root text not null,
     note text not null,
     sender text not null,
     status text not null check (status in ('pending', 'included', 'final', 'superseded', 'failed')),
     nonce bigint,
     tx_hash text,
     block_number bigint,
     block_hash text,
     log_index integer,
     reorgs integer not null default 0,
     error text,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now(),
     included_at timestamptz,
     final_at timestamptz,
     primary key (chain, genesis, contract, log_id, tree_size)
   );
   create index anchoring_anchors_open on anchoring_anchors (chain, genesis, contract,
     sender) where status in ('pending', 'included');
   create table anchoring_transactions (
     chain text not null,
     genesis text not null,
     tx_hash text not null,
     contract text not null,
     log_id text not null,
     tree_size bigint not null,
     sender text not null,
     nonce bigint not null,
     max_fee_per_gas numeric(78, 0) not null,
     max_priority_fee_per_gas numeric(78, 0) not null,
     gas_limit numeric(78, 0) not null,
     raw text not null,
     created_at timestamptz not null default now(),
     broadcast_at timestamptz,
     broadcast_error text,
     primary key (chain, genesis, tx_hash),
     foreign key (chain, genesis, contract, log_id, tree_size) references anchoring_anchors (chain, genesis, contract,
       log_id, tree_size)
   );
   create index anchoring_transactions_nonce on anchoring_transactions (chain, genesis, sender, nonce);
   create index anchoring_transactions_anchor on anchoring_transactions (chain, genesis, contract, log_id, tree_size);`,
];

export function migrateAnchoring(sql: Sql): Promise<void> {
  return migrate(sql, 'anchoring', ANCHORING_MIGRATIONS);
}
