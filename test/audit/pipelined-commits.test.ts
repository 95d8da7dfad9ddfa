/**
 * Pipelined commits (audit/log.ts flush, audit/group-commit.ts maxInFlight): a batch is sent while the one
 * before it is still committing, both commit in order, and a batch built on the edge of one that then fails
 * writes nothing on that edge but commits on the slow path; every acknowledged event is in the log and the
 * stored tree is consistent. audit_append_after refuses a batch whose size matches but not its root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditLog, generateSignerKey, openAuditLog } from '../../audit/index.js';
import { openTestDatabase, type TestDatabase } from './db.js';
import { expectConsistentTree } from './tree-check.js';

const ORIGIN = 'pavilion.test/audit-pipelined';
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('pipelined audit commits', () => {
  let db: TestDatabase;
  let log: AuditLog;

  beforeAll(async () => {
    db = await openTestDatabase();
    log = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey: generateSignerKey(ORIGIN) });
    // The first flush reads the edge on the slow path; what follows is on the fast (pipelined) one.
    await log.append({ type: 'pipeline-test', phase: 'warm-up' });
  });
  afterAll(async () => {
    await log?.close();
    await db?.close();
  });

  it('sends the next batch while one commits, and both commit in order', async () => {
    // A slow first batch: its leaf insert sleeps, so its commit is still pending a while.
    await db.sql.unsafe(`
      create or replace function audit_test_slow() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.3); return new; end $$;
      create trigger audit_test_slow before insert on audit_leaves for each row
        when (new.event like '%"slow"%') execute function audit_test_slow();`);
    try {
      const start = await log.size();
      const batches = log.recentBatchSizes.length;
      let slowDone = false;
      const slow = log.append({ type: 'pipeline-test', phase: 'slow' }).then((r) => {
        slowDone = true;
        return r;
      });
      await nextTurn();
      const fast = Array.from({ length: 5 }, (_, i) => log.append({ type: 'pipeline-test', phase: 'fast', i }));
      await nextTurn();
      await nextTurn();
      // The second batch started while the first had not committed (with one flush at a time it waits).
      expect(slowDone).toBe(false);
      expect(log.recentBatchSizes.length - batches).toBe(2);
      expect((await slow).index).toBe(start);
      expect((await Promise.all(fast)).map((r) => r.index)).toEqual([1, 2, 3, 4, 5].map((i) => start + i));
    } finally {
      await db.sql.unsafe(`drop trigger audit_test_slow on audit_leaves; drop function audit_test_slow();`);
    }
    await expectConsistentTree(db.sql, log);
  });

  it('a batch sent on the edge of one that fails writes nothing there and commits on the slow path', async () => {
    await db.sql.unsafe(`
      create or replace function audit_test_doomed() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.2); raise exception 'injected failure'; end $$;
      create trigger audit_test_doomed before insert on audit_leaves for each row
        when (new.event like '%"doomed"%') execute function audit_test_doomed();`);
    try {
      const start = await log.size();
      const doomed = log.append({ type: 'pipeline-test', phase: 'doomed' });
      doomed.catch(() => {});
      await nextTurn();
      const next = Array.from({ length: 5 }, (_, i) => log.append({ type: 'pipeline-test', phase: 'next', i }));
      await expect(doomed).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
      // Not at start + 1.., where the doomed batch's edge would have put them: the doomed event is not there.
      expect((await Promise.all(next)).map((r) => r.index)).toEqual([0, 1, 2, 3, 4].map((i) => start + i));
      expect(await log.size()).toBe(start + 5);
    } finally {
      await db.sql.unsafe(`drop trigger audit_test_doomed on audit_leaves; drop function audit_test_doomed();`);
    }
    const after = await Promise.all(
      Array.from({ length: 50 }, (_, i) => log.append({ type: 'pipeline-test', phase: 'after', i })),
    );
    expect(after.map((r) => r.index)).toEqual(after.map((_, i) => after[0]!.index + i));
    await expectConsistentTree(db.sql, log);
  });

  it('audit_append_after writes nothing when the size matches but the root does not', async () => {
    const [head] = await db.sql`select size::text as size, root from audit_head where id`;
    const wrongRoot = Buffer.alloc(32, 0x5a);
    const [row] = await db.sql`
      select audit_append_after(${head!.size}::bigint, ${wrongRoot}::bytea, ${Buffer.alloc(32, 1)}::bytea,
        ${'{"type":"forged"}'}::text, '{}'::int2[], '{}'::int8[], ''::bytea,
        ${Number(head!.size) + 1}::bigint, ${Buffer.alloc(32, 2)}::bytea)::text as seen`;
    expect(row!.seen).toBe('-1');
    expect(Number((await db.sql`select size::text as size from audit_head where id`)[0]!.size)).toBe(
      Number(head!.size),
    );
    await expectConsistentTree(db.sql, log);
  });
});
