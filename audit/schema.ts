/**
 * The audit log's tables, applied through storage/postgres.ts `migrate`
 * (component 'audit'). Append-only by contract: nothing here updates or
 * deletes a leaf or node row; only the head row moves forward.
 */
/**
 * Which tree levels have rows, per log (audit_head.node_step): the leaves (level 0, audit_leaves) and every
 * `step`-th level above them (audit_nodes). A log begun on this version has step 4 (levels 4, 8, 12, …, which
 * include every C2SP tile level, merkle/tiles.ts); a node of any other level is hashed up from the 2, 4 or 8
 * stored ones under it when read (tree-reader.ts), and the writer still computes every node, for the root.
 * Step 1, every level, was the only layout before: about one node row per leaf, a quarter of the database's
 * work per appended leaf. A step of 8 would store fewer still, but a proof read from the database then needs
 * up to 254 rows and as many hashes for its seven lowest levels (1.4 ms against 0.2 ms at 131k leaves), where
 * a step of 4 needs 14 per four levels (docs/decisions.md, "Audit appends"). A log begun before keeps step 1:
 * brokers of the version before read every level's rows, and one may still run beside a newer one during a
 * rolling update (docs/operations.md, "Scaling replicas", says how to move such a log to step 4).
 */
export type NodeStep = 1 | 4;

export function isStoredLevel(level: number, step: NodeStep): boolean {
  return level % step === 0;
}

/** The highest stored level at or below `level`: the rows a node of `level` is hashed up from. */
export function storedLevelUnder(level: number, step: NodeStep): number {
  return level - (level % step);
}

export const AUDIT_MIGRATIONS: readonly string[] = [
  `
  -- One row: the committed tree size and root. Writers lock it (SELECT ... FOR
  -- UPDATE) to assign indices, so several broker processes can append to one
  -- database without duplicate or skipped indices.
  create table audit_head (
    id boolean primary key default true check (id),
    size bigint not null check (size >= 0),
    root bytea not null check (length(root) = 32),
    updated_at timestamptz not null default now()
  );
  insert into audit_head (id, size, root)
    values (true, 0, decode('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex'));

  -- Leaves: gapless 0-based index, RFC 9162 leaf hash, and the exact RFC 8785
  -- bytes that were hashed (kept as text, not jsonb, which would reorder keys).
  create table audit_leaves (
    idx bigint primary key check (idx >= 0),
    leaf_hash bytea not null check (length(leaf_hash) = 32),
    event text not null,
    created_at timestamptz not null default now()
  );
  create index audit_leaves_leaf_hash on audit_leaves (leaf_hash);

  -- Perfect-subtree hashes above the leaves: (level L >= 1, index i) covers
  -- leaves [i * 2^L, (i + 1) * 2^L). Written once, when the subtree completes,
  -- so any proof or root reads O(log n) rows.
  create table audit_nodes (
    level smallint not null check (level between 1 and 63),
    idx bigint not null check (idx >= 0),
    hash bytea not null check (length(hash) = 32),
    primary key (level, idx)
  );

  -- Signed C2SP checkpoints, one per tree size.
  create table audit_checkpoints (
    size bigint primary key check (size >= 0),
    root bytea not null check (length(root) = 32),
    note text not null,
    created_at timestamptz not null default now()
  );

  -- The log's Ed25519 signer key (Go note PRIVATE+KEY+... string) when none is
  -- configured: generated on first start, shared by every process of the log.
  create table audit_signing_keys (
    origin text primary key,
    signer_key text not null,
    created_at timestamptz not null default now()
  );
  `,
  `
  -- The whole write of one group commit, so a batch costs one statement (one
  -- round trip) in autocommit. Locks the head row, and writes only if the
  -- tree still has the size the caller computed its nodes from; returns the
  -- size it found. Leaf i gets index expected_size + i (gapless under the lock).
  create function audit_append(
    expected_size bigint,
    leaf_hashes bytea,
    events text[],
    node_levels int2[],
    node_idx int8[],
    node_hashes bytea,
    new_size bigint,
    new_root bytea
  ) returns bigint language plpgsql as $fn$
  declare
    current_size bigint;
  begin
    select size into current_size from audit_head where id for update;
    if current_size is distinct from expected_size then
      return current_size;
    end if;
    if new_size <> expected_size + cardinality(events)
       or length(leaf_hashes) <> 32 * cardinality(events)
       or length(node_hashes) <> 32 * coalesce(cardinality(node_levels), 0)
       or coalesce(cardinality(node_levels), 0) <> coalesce(cardinality(node_idx), 0) then
      raise exception 'audit_append: inconsistent batch' using errcode = '22023';
    end if;
    insert into audit_leaves (idx, leaf_hash, event)
      select expected_size + t.ord - 1, substring(leaf_hashes from ((t.ord - 1) * 32 + 1)::int for 32), t.ev
      from unnest(events) with ordinality as t(ev, ord);
    insert into audit_nodes (level, idx, hash)
      select t.lvl, t.i, substring(node_hashes from ((t.ord - 1) * 32 + 1)::int for 32)
      from unnest(node_levels, node_idx) with ordinality as t(lvl, i, ord);
    update audit_head set size = new_size, root = new_root, updated_at = now() where id;
    return expected_size;
  end
  $fn$;
  `,
  `
  -- The log identity this database holds: bound by the first process to open
  -- it, so a broker configured with another origin cannot sign checkpoints
  -- over this tree under a different name.
  alter table audit_head add column origin text;
  `,
  `
  -- audit_append with the batch's events as one text, one canonical event per line: RFC 8785 text never
  -- holds a raw line feed (JSON escapes control characters), so the split is exact, and the driver sends
  -- the batch as it is instead of escaping every quote of every event into an array literal (about 3% of
  -- the broker's main thread on the cache-hit path; docs/decisions.md, "The cache-hit path").
  create function audit_append_lines(
    expected_size bigint,
    leaf_hashes bytea,
    events text,
    node_levels int2[],
    node_idx int8[],
    node_hashes bytea,
    new_size bigint,
    new_root bytea
  ) returns bigint language plpgsql as $fn$
  declare
    current_size bigint;
    count bigint := length(leaf_hashes) / 32;
    inserted bigint;
  begin
    select size into current_size from audit_head where id for update;
    if current_size is distinct from expected_size then
      return current_size;
    end if;
    if new_size <> expected_size + count
       or length(leaf_hashes) % 32 <> 0
       or length(node_hashes) <> 32 * coalesce(cardinality(node_levels), 0)
       or coalesce(cardinality(node_levels), 0) <> coalesce(cardinality(node_idx), 0) then
      raise exception 'audit_append_lines: inconsistent batch' using errcode = '22023';
    end if;
    insert into audit_leaves (idx, leaf_hash, event)
      select expected_size + t.ord - 1, substring(leaf_hashes from ((t.ord - 1) * 32 + 1)::int for 32), t.ev
      from string_to_table(events, E'\\n') with ordinality as t(ev, ord);
    get diagnostics inserted = row_count;
    if inserted <> count then
      raise exception 'audit_append_lines: % events for % leaf hashes', inserted, count using errcode = '22023';
    end if;
    insert into audit_nodes (level, idx, hash)
      select t.lvl, t.i, substring(node_hashes from ((t.ord - 1) * 32 + 1)::int for 32)
      from unnest(node_levels, node_idx) with ordinality as t(lvl, i, ord);
    update audit_head set size = new_size, root = new_root, updated_at = now() where id;
    return expected_size;
  end
  $fn$;
  `,
  `
  -- audit_append_lines replaced it: nothing calls the array form any more.
  drop function audit_append(bigint, bytea, text[], int2[], int8[], bytea, bigint, bytea);
  `,
  `
  -- Leaf hashes looked up through a hash index: the one question asked of it is equality (RFC 9162
  -- get-proof-by-hash), and a hash index costs an append less than a B-tree over random 32-byte keys
  -- (docs/decisions.md, "Audit appends").
  drop index audit_leaves_leaf_hash;
  create index audit_leaves_leaf_hash on audit_leaves using hash (leaf_hash);
  `,
  `
  -- Node rows at every node_step-th level only (isStoredLevel above): 4 for a log begun now, 1 (every level)
  -- for one that already has entries, which brokers of the version before may still be appending to.
  alter table audit_head add column node_step smallint not null default 1 check (node_step in (1, 4));
  update audit_head set node_step = 4 where id and size = 0;
  `,
];
