import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditLog,
  eventLeafHash,
  generateSignerKey,
  openAuditLog,
  openCheckpoint,
  perfectSubtrees,
  verifyInclusion,
  verifyReceipt,
} from '../../audit/index.js';
import { storedLevelUnder } from '../../audit/schema.js';
import { openTestDatabase, realPostgres, type TestDatabase } from './db.js';
import { errorCodeAsync as code } from './error-code.js';
import { expectConsistentTree } from './tree-check.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ORIGIN = 'pavilion.test/audit';

describe('audit log under failure, tampering and several writers', () => {
  let db: TestDatabase;
  let log: AuditLog;
  const signerKey = generateSignerKey(ORIGIN);

  beforeAll(async () => {
    db = await openTestDatabase();
    log = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey });
  });
  afterAll(async () => {
    await log?.close();
    await db?.close();
  });

  it('two AuditLog instances appending concurrently get no duplicate or skipped index', async () => {
    // Real Postgres: each instance has its own client (own connections), as two
    // broker processes would. Embedded PGlite: the server serves one driver
    // connection safely (storage/postgres.ts), so both share it; the instances
    // still interleave transactions and must each re-read the tree edge the
    // other moved.
    const otherSql = db.embedded ? db.sql : db.connect(4);
    const a = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey, maxBatch: 64 });
    const b = await openAuditLog({ sql: otherSql, origin: ORIGIN, signerKey, maxBatch: 64 });
    const before = await a.size();
    const jobs: Promise<{ index: number; leafHash: Uint8Array }>[] = [];
    for (let i = 0; i < 1500; i++) {
      jobs.push(a.append({ type: 'writer-test', writer: 'a', i }));
      jobs.push(b.append({ type: 'writer-test', writer: 'b', i }));
    }
    const results = await Promise.all(jobs);
    const indices = results.map((r) => r.index).sort((x, y) => x - y);
    expect(indices).toEqual(Array.from({ length: 3000 }, (_, i) => before + i));
    expect(a.recentBatchSizes.length).toBeGreaterThan(1);
    expect(b.recentBatchSizes.length).toBeGreaterThan(1);
    await a.close();
    await b.close();
    await expectConsistentTree(db.sql, log);
  });

  it('a transaction failing mid-batch loses only its batch; acknowledged appends stay, tree consistent', async () => {
    const acked = await Promise.all(
      Array.from({ length: 300 }, (_, i) => log.append({ type: 'fail-test', phase: 'before', i })),
    );
    const size = await log.size();
    // Make the head's move (the last statement of the batch, after its leaves and nodes were inserted) fail.
    await db.sql.unsafe(`
      create or replace function audit_test_fail() returns trigger language plpgsql as $$
      begin raise exception 'injected failure'; end $$;
      create trigger audit_test_fail before update on audit_head for each row execute function audit_test_fail();`);
    const failing = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => log.append({ type: 'fail-test', phase: 'during', i })),
    );
    expect(failing.every((r) => r.status === 'rejected')).toBe(true);
    for (const r of failing) expect((r as PromiseRejectedResult).reason.code).toBe('AUDIT_UNAVAILABLE');
    // No secrets or event text in the message.
    expect(String((failing[0] as PromiseRejectedResult).reason.message)).not.toContain('fail-test');
    await db.sql.unsafe(`drop trigger audit_test_fail on audit_head; drop function audit_test_fail();`);
    expect(await log.size()).toBe(size);
    for (const r of acked) expect(hex((await log.entry(r.index)).leafHash)).toBe(hex(r.leafHash));
    // The writer recovers: it drops its cached edge and re-reads it under the lock.
    const after = await Promise.all(
      Array.from({ length: 100 }, (_, i) => log.append({ type: 'fail-test', phase: 'after', i })),
    );
    expect(Math.min(...after.map((r) => r.index))).toBe(size);
    await expectConsistentTree(db.sql, log);
  });

  it('tampering with a stored node or leaf makes proofs fail against the signed checkpoint', async () => {
    const cp = await log.checkpoint();
    const { checkpoint } = openCheckpoint(cp.note, [log.verifierKey], { origin: ORIGIN });
    const index = 5;
    const entry = await log.entry(index);
    const receipt = await log.receipt(index);
    verifyReceipt(receipt, [log.verifierKey], { event: entry.event });

    // `log` holds the committed hashes in memory and keeps serving them; a
    // process that reads the rows (a restart, another replica) serves what
    // the operator wrote, and that is what auditors must catch.
    const reader = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey, cacheBytes: 0 });
    try {
      // 1. An interior node on the leaf's path is rewritten: node 8/1 (leaves 256..511), a stored level.
      expect(checkpoint.size).toBeGreaterThanOrEqual(512);
      const [node] = await db.sql`select level, idx::text as idx, hash from audit_nodes where level = 8 and idx = 1`;
      await db.sql`update audit_nodes set hash = ${Buffer.alloc(32, 0xaa)} where level = 8 and idx = 1`;
      const forged = await reader.inclusionProof(index, checkpoint.size);
      expect(await code(() => verifyInclusion(index, checkpoint.size, entry.leafHash, forged, checkpoint.root))).toBe(
        'ROOT_MISMATCH',
      );
      verifyInclusion(
        index,
        checkpoint.size,
        entry.leafHash,
        await log.inclusionProof(index, checkpoint.size),
        checkpoint.root,
      );
      await db.sql`update audit_nodes set hash = ${node!.hash as Buffer} where level = 8 and idx = 1`;
      verifyInclusion(
        index,
        checkpoint.size,
        entry.leafHash,
        await reader.inclusionProof(index, checkpoint.size),
        checkpoint.root,
      );

      // 2. The stored event text is rewritten: its leaf hash no longer proves.
      const rewritten = entry.event.replace('"fail-test"', '"tampered"').replace('"writer-test"', '"tampered"');
      expect(rewritten).not.toBe(entry.event);
      await db.sql`update audit_leaves set event = ${rewritten} where idx = ${index}::bigint`;
      const stored = await log.entry(index);
      expect(await code(() => verifyReceipt(receipt, [log.verifierKey], { event: stored.event }))).toBe(
        'ROOT_MISMATCH',
      );
      expect(await code(log.verifyReceipt(receipt))).toBe('ROOT_MISMATCH');
      expect(
        await code(() => verifyInclusion(index, checkpoint.size, eventLeafHash(stored.event), forged, checkpoint.root)),
      ).toBe('ROOT_MISMATCH');

      // 3. A leaf hash is rewritten to match the tampered text: the neighbour's proof breaks.
      await db.sql`update audit_leaves set leaf_hash = ${Buffer.from(eventLeafHash(rewritten))}
        where idx = ${index}::bigint`;
      const neighbour = await log.entry(index - 1);
      const neighbourProof = await reader.inclusionProof(index - 1, checkpoint.size);
      expect(
        await code(() =>
          verifyInclusion(index - 1, checkpoint.size, neighbour.leafHash, neighbourProof, checkpoint.root),
        ),
      ).toBe('ROOT_MISMATCH');
      await db.sql`update audit_leaves set event = ${entry.event}, leaf_hash = ${Buffer.from(entry.leafHash)}
        where idx = ${index}::bigint`;
    } finally {
      await reader.close();
    }
    await expectConsistentTree(db.sql, log);
  });

  it('refuses to extend, or sign a checkpoint over, a tampered right edge', async () => {
    const signed = await log.checkpoint();
    const size = await log.size();
    expect(signed.size).toBe(size);
    // The first stored node under the largest perfect subtree on the right edge of the current tree.
    const top = perfectSubtrees(0, size).find((id) => id.level >= 8)!;
    const level = storedLevelUnder(top.level, 4);
    const index = top.index * 2 ** (top.level - level);
    const [orig] = await db.sql`select hash from audit_nodes where level = ${level} and idx = ${index}::bigint`;
    await db.sql`update audit_nodes set hash = ${Buffer.alloc(32, 0x55)}
      where level = ${level} and idx = ${index}::bigint`;

    // A writer that must read the edge from the database (a new process) refuses.
    const fresh = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey });
    expect(await code(fresh.append({ type: 'on-top-of-tampering' }))).toBe('LOG_CORRUPT');
    await fresh.close();
    expect(await log.size()).toBe(size);

    // This process still knows the true edge and appends correctly, but the
    // log will not sign the new head: the stored consistency proof fails.
    await log.append({ type: 'after-tampering' });
    expect(await code(log.checkpoint())).toBe('LOG_CORRUPT');

    await db.sql`update audit_nodes set hash = ${orig!.hash as Buffer}
      where level = ${level} and idx = ${index}::bigint`;
    const cp = await log.checkpoint();
    expect(cp.size).toBe(size + 1);
    await expectConsistentTree(db.sql, log);
  });

  it.skipIf(!realPostgres)(
    'a writer process SIGKILLed mid-stream: every acknowledged append is present, the tree is consistent',
    async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'append-child.ts')], {
        env: { ...process.env, CHILD_DATABASE_URL: db.url, CHILD_SEARCH_PATH: db.schema!, CHILD_SIGNER_KEY: signerKey },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const acks = new Map<number, string>();
      let buffered = '';
      const killed = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            const m = /^ack (\d+) ([0-9a-f]{64})$/.exec(line);
            if (m) acks.set(Number(m[1]), m[2]!);
            if (acks.size >= 3000 && !child.killed) child.kill('SIGKILL');
          }
        });
        child.on('exit', (_code, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited without SIGKILL (${signal})`)),
        );
      });
      await killed;
      expect(acks.size).toBeGreaterThanOrEqual(3000);
      // Postgres rolls back the killed backend's open transaction once it notices the socket closed.
      await new Promise((r) => setTimeout(r, 300));
      for (const [index, leaf] of acks) {
        const e = await log.entry(index);
        expect(hex(e.leafHash)).toBe(leaf);
      }
      // The surviving writer continues on the same tree.
      const more = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ type: 'after-crash', i })));
      expect(Math.min(...more.map((r) => r.index))).toBeGreaterThan(Math.max(...acks.keys()));
      await expectConsistentTree(db.sql, log);
    },
  );
});
