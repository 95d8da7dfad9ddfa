/**
 * Recomputes the whole tree from the stored canonical events, independently
 * of the log's incremental code, and checks every stored row against it.
 */
import { expect } from 'vitest';
import { type AuditLog, eventLeafHash, MemoryMerkleTree } from '../../audit/index.js';
import { isStoredLevel, type NodeStep } from '../../audit/schema.js';
import type { Sql } from '../../storage/postgres.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function expectConsistentTree(sql: Sql, log: AuditLog): Promise<MemoryMerkleTree> {
  const leaves = await sql`select idx::text as idx, leaf_hash, event from audit_leaves order by audit_leaves.idx`;
  const tree = new MemoryMerkleTree();
  leaves.forEach((row, i) => {
    expect(Number(row.idx)).toBe(i); // gapless, no duplicates (primary key)
    const recomputed = eventLeafHash(row.event as string);
    expect(hex(row.leaf_hash as Buffer)).toBe(hex(recomputed));
    tree.appendLeafHash(recomputed);
  });
  const n = tree.size;
  expect(await log.size()).toBe(n);
  expect(hex(await log.root())).toBe(hex(tree.root()));
  const nodes = await sql`select level, idx::text as idx, hash from audit_nodes`;
  // Rows exist for the complete subtrees of the stored levels above the leaves, and only for them.
  const [head] = await sql`select node_step from audit_head where id`;
  let stored = 0;
  for (let level = 1; 2 ** level <= n; level++)
    if (isStoredLevel(level, head!.node_step as NodeStep)) stored += Math.floor(n / 2 ** level);
  expect(nodes.length).toBe(stored);
  for (const row of nodes) expect(hex(row.hash as Buffer)).toBe(hex(tree.source(Number(row.level), Number(row.idx))));
  return tree;
}
