import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIT_MIGRATIONS,
  type AuditLog,
  canonicalEvent,
  DEFAULT_MAX_BATCH,
  eventLeafHash,
  generateSignerKey,
  MAX_EVENT_BYTES,
  type MemoryMerkleTree,
  openAuditLog,
  openCheckpoint,
  PreparedEvent,
  parseReceipt,
  verifierKeyFor,
  verifyConsistency,
  verifyInclusion,
  verifyReceipt,
} from '../../audit/index.js';
import { migrate } from '../../storage/postgres.js';
import { openTestDatabase, type TestDatabase } from './db.js';
import { errorCodeAsync as code } from './error-code.js';
import { expectConsistentTree } from './tree-check.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Text that could break a batch's encoding: array-literal and JSON metacharacters, line ends, NUL. */
const awkwardLines = [
  'NULL',
  'null',
  '{a,b}"\\"\'',
  'line\nbreak\r\ncr\ttab\u0000nul\u001f',
  '😀 é 中文 \u2028\u2029',
  '',
  ' leading and trailing  ',
];

/** An event shaped like the broker's verification events (server/support/audit-events.ts). */
function event(i: number) {
  return {
    type: 'verification',
    v: 1,
    request_id: `req-${i}`,
    relying_party: 'rp-bank-1',
    dataset: 'licences',
    dataset_version: '2026-11-01',
    query_hash: (i.toString(16) + 'ab'.repeat(32)).slice(0, 64),
    decision: i % 3 === 0 ? 'match' : 'no_match',
    score: (i % 100) / 100,
    released_claims: i % 3 === 0 ? ['license_valid', 'over_21'] : [],
    purpose: 'kyc',
    policy_decision_id: `pd-${i}`,
    actor: 'svc:broker',
    time: '2026-11-26T07:00:00.000Z',
  };
}

describe('AuditLog on Postgres', () => {
  let db: TestDatabase;
  let log: AuditLog;
  const signerKey = generateSignerKey('pavilion.test/audit');
  const N = 5000;
  let tree: MemoryMerkleTree;

  beforeAll(async () => {
    db = await openTestDatabase();
    log = await openAuditLog({
      sql: db.sql,
      origin: 'pavilion.test/audit',
      signerKey,
      checkpointEvery: { leaves: 1000 },
    });
  });
  afterAll(async () => {
    await log?.close();
    await db?.close();
  });

  it(`appends ${N} events concurrently with gapless indices, group-committed`, async () => {
    const results = await Promise.all(Array.from({ length: N }, (_, i) => log.append(event(i))));
    const indices = results.map((r) => r.index).sort((a, b) => a - b);
    expect(indices).toEqual(Array.from({ length: N }, (_, i) => i));
    // Each caller got its own event's leaf hash.
    results.forEach((r, i) => {
      expect(hex(r.leafHash)).toBe(hex(eventLeafHash(canonicalEvent(event(i)))));
    });
    // Group commit really batched (N appends in far fewer transactions), within the cap.
    const batches = log.recentBatchSizes;
    expect(batches.reduce((a, b) => a + b, 0)).toBe(N);
    expect(batches.length).toBeLessThan(N / 20);
    expect(Math.max(...batches)).toBeLessThanOrEqual(DEFAULT_MAX_BATCH);
    tree = await expectConsistentTree(db.sql, log);
  });

  it('entries return the canonical event text', async () => {
    const e = await log.entry(42);
    expect(e.event).toBe(canonicalEvent(event(results42Index())));
    function results42Index() {
      // Index 42 holds whichever event committed at 42: find it by leaf hash.
      for (let i = 0; i < N; i++) if (hex(eventLeafHash(canonicalEvent(event(i)))) === hex(e.leafHash)) return i;
      throw new Error('not found');
    }
  });

  it('roots and proofs match the in-memory recomputation', async () => {
    for (const size of [1, 2, 3, 7, 8, 255, 256, 257, 1000, 4095, 4096, 4097, N]) {
      expect(hex(await log.root(size))).toBe(hex(tree.root(size)));
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        const proof = await log.inclusionProof(index, size);
        expect(proof.map(hex)).toEqual(tree.inclusionProof(index, size).map(hex));
        verifyInclusion(index, size, tree.leafHashAt(index), proof, tree.root(size));
      }
    }
    for (const [m, n] of [
      [1, N],
      [7, 8],
      [100, 4097],
      [4096, N],
      [N - 1, N],
      [N, N],
      [1234, 3333],
    ] as const) {
      const proof = await log.consistencyProof(m, n);
      expect(proof.map(hex)).toEqual(tree.consistencyProof(m, n).map(hex));
      verifyConsistency(m, n, proof, tree.root(m), tree.root(n));
    }
  });

  it('differential: every inclusion and consistency proof for sizes 1..70 equals the in-memory tree', async () => {
    const jobs: Promise<void>[] = [];
    for (let n = 1; n <= 70; n++) {
      for (let m = 0; m < n; m++) {
        jobs.push(log.inclusionProof(m, n).then((p) => expect(p.map(hex)).toEqual(tree.inclusionProof(m, n).map(hex))));
        jobs.push(
          log
            .consistencyProof(m + 1, n)
            .then((p) => expect(p.map(hex)).toEqual(tree.consistencyProof(m + 1, n).map(hex))),
        );
      }
      jobs.push(log.root(n).then((r) => expect(hex(r)).toBe(hex(tree.root(n)))));
    }
    await Promise.all(jobs);
    expect(jobs.length).toBe(70 * 71 + 70);
  });

  it('proofs are the same from memory, from the database, and from upper levels held with the rest read', async () => {
    const opts = { sql: db.sql, origin: 'pavilion.test/audit', signerKey };
    const fromDatabase = await openAuditLog({ ...opts, cacheBytes: 0 });
    const warm = await openAuditLog(opts);
    // 13 chunks of 256 hashes hold levels 3..12 of a 5000-leaf tree, not level 2 (5 more).
    const upperOnly = await openAuditLog({ ...opts, cacheBytes: 13 * 8192 });
    const popcount = (x: number) => x.toString(2).replace(/0/g, '').length;
    expect(await warm.warmCache()).toBe(2 * N - popcount(N)); // every leaf and complete subtree
    expect(warm.cachedBytes).toBeGreaterThan(0);
    expect(await upperOnly.warmCache()).toBe(
      [3, 4, 5, 6, 7, 8, 9, 10, 11, 12].reduce((sum, l) => sum + Math.floor(N / 2 ** l), 0),
    );
    expect(upperOnly.cachedBytes).toBeLessThanOrEqual(13 * 8192);
    expect(await fromDatabase.warmCache()).toBe(0);
    const pairs = Array.from({ length: 200 }, (_, i) => [(i * 7919) % N, N - ((i * 104_729) % 3000)] as const).filter(
      ([m, n]) => m < n,
    );
    for (const reader of [fromDatabase, warm, upperOnly]) {
      for (const [m, n] of pairs) {
        expect(hex(await reader.leafHashAt(m))).toBe(hex(tree.leafHashAt(m)));
        expect((await reader.inclusionProof(m, n)).map(hex)).toEqual(tree.inclusionProof(m, n).map(hex));
        expect((await reader.consistencyProof(m + 1, n)).map(hex)).toEqual(tree.consistencyProof(m + 1, n).map(hex));
      }
      // Sizes above the committed head are refused whether or not the hashes are held.
      expect(await code(reader.inclusionProof(0, N + 1))).toBe('SIZE_BEYOND_TREE');
      expect(await code(reader.leafHashAt(N))).toBe('ENTRY_NOT_FOUND');
      await reader.close();
    }
  });

  it('finds a proof by leaf hash', async () => {
    const lh = tree.leafHashAt(777);
    const { index, proof } = await log.inclusionProofByLeafHash(lh, N);
    expect(index).toBe(777);
    verifyInclusion(index, N, lh, proof, tree.root(N));
    expect(await code(log.inclusionProofByLeafHash(lh, 777))).toBe('ENTRY_NOT_FOUND');
  });

  it('signed checkpoints on the size trigger verify against the log key', async () => {
    await log.close(); // waits for pending work, including a triggered checkpoint
    log = await openAuditLog({
      sql: db.sql,
      origin: 'pavilion.test/audit',
      signerKey,
      checkpointEvery: { leaves: 1000 },
    });
    const latest = (await log.latestCheckpoint()) ?? (await log.checkpoint());
    expect(latest.size).toBeGreaterThanOrEqual(1000);
    const { checkpoint } = openCheckpoint(latest.note, [log.verifierKey], { origin: 'pavilion.test/audit' });
    expect(checkpoint.size).toBe(latest.size);
    expect(hex(checkpoint.root)).toBe(hex(tree.root(latest.size)));
    const full = await log.checkpoint();
    expect(full.size).toBe(N);
    expect(hex(openCheckpoint(full.note, [log.verifierKey]).checkpoint.root)).toBe(hex(tree.root(N)));
    expect((await log.checkpointAt(N))!.note).toBe(full.note);
    expect(await log.checkpointAt(N + 1)).toBeUndefined();
    // Structurally an anchoring CheckpointSource: { origin, size, root, note } | undefined.
    const source: {
      latestCheckpoint(): Promise<{ origin: string; size: number; root: Uint8Array; note: string } | undefined>;
    } = log;
    expect((await source.latestCheckpoint())!.origin).toBe('pavilion.test/audit');
  });

  it('receipts round trip (with and without anchor) and detect tampering', async () => {
    const index = 1234;
    const text = await log.receipt(index);
    expect(text.startsWith('c2sp.org/tlog-proof@v1\nindex 1234\n')).toBe(true);
    const entry = await log.entry(index);
    const ok = verifyReceipt(text, [log.verifierKey], { event: entry.event }, { origin: 'pavilion.test/audit' });
    expect(ok.checkpoint.size).toBe(N);
    verifyReceipt(text, [log.verifierKey], { event: JSON.parse(entry.event) as object });
    verifyReceipt(text, [log.verifierKey], { leafHash: entry.leafHash });
    expect((await log.verifyReceipt(text, { leafHash: entry.leafHash })).index).toBe(index);
    expect((await log.verifyReceipt(text)).index).toBe(index); // leaf taken from the stored entry

    const anchor = {
      chain: 'eip155:80002',
      contract: `0x${'ab'.repeat(20)}`,
      tx: `0x${'cd'.repeat(32)}`,
      block: 123,
      logIndex: 2,
      size: N,
    };
    const anchored = await log.receipt(index, { anchor });
    expect(anchored.split('\n')[1]).toMatch(/^extra [A-Za-z0-9+/=]+$/);
    const v = verifyReceipt(anchored, [log.verifierKey], { leafHash: entry.leafHash });
    expect(v.anchor).toEqual(anchor);
    expect(Buffer.from(v.extra!).toString('utf8')).toBe(
      `{"block":123,"chain":"eip155:80002","contract":"0x${'ab'.repeat(20)}","logIndex":2,"size":${N},` +
        `"tx":"0x${'cd'.repeat(32)}"}`,
    );
    expect(parseReceipt(anchored).index).toBe(index);
    // anchoring/ hands in its richer record (blockHash, logId, final, …): only the six fields are carried.
    const rich = {
      ...anchor,
      blockHash: `0x${'ee'.repeat(32)}`,
      logId: `0x${'00'.repeat(32)}`,
      origin: 'pavilion.test/audit',
      root: '0x',
      final: true,
    };
    expect(await log.receipt(index, { anchor: rich })).toBe(anchored);

    const other = await log.entry(index + 1);
    expect(await code(() => verifyReceipt(text, [log.verifierKey], { leafHash: other.leafHash }))).toBe(
      'ROOT_MISMATCH',
    );
    expect(
      await code(() =>
        verifyReceipt(text.replace('index 1234', 'index 1235'), [log.verifierKey], { leafHash: entry.leafHash }),
      ),
    ).toBe('ROOT_MISMATCH');
    const lines = text.split('\n');
    const dropped = [...lines.slice(0, 2), ...lines.slice(3)].join('\n');
    expect(await code(() => verifyReceipt(dropped, [log.verifierKey], { leafHash: entry.leafHash }))).toBe(
      'PROOF_LENGTH',
    );
    expect(
      await code(() =>
        verifyReceipt(text, [generateSignerKey('x.example').replace(/^PRIVATE\+KEY\+/, '')], {
          leafHash: entry.leafHash,
        }),
      ),
    ).not.toBeNull();
    expect(await code(() => verifyReceipt(text, [log.verifierKey], {}))).toBe('RECEIPT_SUBJECT_REQUIRED');
    expect(
      await code(() =>
        verifyReceipt(text.replace('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2'), [log.verifierKey], {
          leafHash: entry.leafHash,
        }),
      ),
    ).toBe('RECEIPT_MALFORMED');
    expect(await code(log.receipt(index, { anchor: { ...anchor, size: N + 5 } }))).toBe('CHECKPOINT_NOT_FOUND');
    expect(await code(log.receipt(index, { anchor: { ...anchor, chain: 'polygon' } }))).toBe('ANCHOR_INVALID');
  });

  it('a receipt is not ready until a checkpoint covers the entry', async () => {
    const { index } = await log.append(event(N + 1));
    expect(await code(log.receipt(index))).toBe('RECEIPT_NOT_READY');
    await log.checkpoint();
    verifyReceipt(await log.receipt(index), [log.verifierKey], { event: event(N + 1) });
  });

  it('bad inputs give typed errors', async () => {
    class Thing {
      a = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [
      null,
      [1, 2],
      'text',
      { when: new Date() },
      { n: Number.NaN },
      { n: Infinity },
      { b: 10n },
      { u: undefined },
      { f: () => 1 },
      new Thing(),
      cyclic,
      { s: 'lone \uD800 surrogate' },
      { big: 'x'.repeat(70_000) },
      { toJSON: () => ({}) },
    ]) {
      expect(await code(log.append(bad as object)), String(bad)).toBe('EVENT_INVALID');
    }
    const size = await log.size();
    expect(await code(log.entry(size + 10))).toBe('ENTRY_NOT_FOUND');
    expect(await code(log.entry(-1))).toBe('SIZE_INVALID');
    expect(await code(log.inclusionProof(size, size))).toBe('INDEX_OUT_OF_RANGE');
    expect(await code(log.inclusionProof(0, size + 1))).toBe('SIZE_BEYOND_TREE');
    expect(await code(log.consistencyProof(0, size))).toBe('SIZE_INVALID');
    expect(await code(log.consistencyProof(5, 4))).toBe('SIZE_INVALID');
    expect(await code(log.root(1.5))).toBe('SIZE_INVALID');
    expect(await code(log.inclusionProofByLeafHash(new Uint8Array(3), size))).toBe('HASH_LENGTH');
    expect(await code(openAuditLog({ sql: db.sql, maxBatch: 0 }))).toBe('CONFIG_INVALID');
    expect(await code(openAuditLog({ sql: db.sql, signerKey: 'PRIVATE+KEY+nope' }))).toBe('KEY_INVALID');
  });

  it('accepts a bare Ed25519 seed (hex or base64) as the signer key', async () => {
    const seed = Buffer.alloc(32, 3);
    const a = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/audit', signerKey: seed.toString('hex') });
    const b = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/audit', signerKey: seed.toString('base64') });
    expect(a.verifierKey).toBe(b.verifierKey);
    expect(a.verifierKey.startsWith('pavilion.test/audit+')).toBe(true);
    await a.close();
    await b.close();
    expect(await code(openAuditLog({ sql: db.sql, signerKey: 'abcd' }))).toBe('KEY_INVALID');
  });

  it('generates and persists a signer key when none is configured', async () => {
    const a = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/audit' });
    const b = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/audit' });
    expect(a.verifierKey).toBe(b.verifierKey);
    expect(a.verifierKey).not.toBe(log.verifierKey);
    expect(a.verifierKey.startsWith('pavilion.test/audit+')).toBe(true);
    const [row] = await db.sql`select signer_key from audit_signing_keys where origin = 'pavilion.test/audit'`;
    expect(verifierKeyFor(row!.signer_key as string)).toBe(a.verifierKey);
    await a.close();
    await b.close();
  });

  it('a database holds one log: opening it under another origin is refused', async () => {
    expect(await code(openAuditLog({ sql: db.sql, origin: 'other.test/log', signerKey }))).toBe('CONFIG_INVALID');
    expect(await code(openAuditLog({ sql: db.sql, origin: 'bad\norigin' }))).toBe('CONFIG_INVALID');
  });

  it('time trigger signs a checkpoint once the tree grew', async () => {
    const timed = await openAuditLog({
      sql: db.sql,
      origin: 'pavilion.test/audit',
      signerKey,
      checkpointEvery: { ms: 30 },
    });
    const { index } = await timed.append(event(N + 2));
    const deadline = Date.now() + 5000;
    let cp = await timed.latestCheckpoint();
    while ((!cp || cp.size <= index) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      cp = await timed.latestCheckpoint();
    }
    expect(cp!.size).toBe(index + 1);
    await timed.close();
  });

  it('stores awkward text byte-exactly (array-literal metacharacters, escapes, NULL-looking values)', async () => {
    const awkward = awkwardLines.map((s) => ({ type: 'x', s }));
    const results = await Promise.all(awkward.map((e) => log.append(e)));
    for (const [i, r] of results.entries()) {
      const e = await log.entry(r.index);
      expect(e.event).toBe(canonicalEvent(awkward[i]!));
      expect(hex(eventLeafHash(e.event))).toBe(hex(r.leafHash));
    }
    await expectConsistentTree(db.sql, log);
  });

  it('prepared events are stored as their builder wrote them, in one batch with generic ones, in order', async () => {
    const generic = awkwardLines.map((s) => ({ type: 'x', s }));
    const prepared = Array.from({ length: 40 }, (_, i) => new PreparedEvent(canonicalEvent(event(N + 100 + i))));
    // Interleaved in one turn: one group commit carries both kinds, one event per line.
    const mixed: (object | PreparedEvent)[] = prepared.flatMap((p, i) => (i < generic.length ? [p, generic[i]!] : [p]));
    const results = await Promise.all(mixed.map((e) => log.append(e)));
    for (const [i, r] of results.entries()) {
      const e = await log.entry(r.index);
      const m = mixed[i]!;
      expect(e.event).toBe(m instanceof PreparedEvent ? m.canonical : canonicalEvent(m));
      expect(hex(eventLeafHash(e.event))).toBe(hex(r.leafHash));
    }
    expect(results.map((r) => r.index)).toEqual(results.map((_, i) => results[0]!.index + i));
    await expectConsistentTree(db.sql, log);
  });

  it('a prepared event holding a raw line feed, or beyond the entry size, is refused', async () => {
    expect(await code(log.append(new PreparedEvent('{"a":"x\ny"}')))).toBe('EVENT_INVALID');
    expect(await code(log.append(new PreparedEvent(`{"a":"${'é'.repeat(MAX_EVENT_BYTES / 2)}"}`)))).toBe(
      'EVENT_INVALID',
    );
  });

  it('close() flushes pending appends, later appends are refused', async () => {
    const l = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/audit', signerKey });
    const before = await l.size();
    const pending = Array.from({ length: 50 }, (_, i) => l.append(event(N + 10 + i)));
    await l.close();
    const results = await Promise.all(pending);
    expect(Math.max(...results.map((r) => r.index))).toBe(before + 49);
    expect(await code(l.append(event(1)))).toBe('AUDIT_CLOSED');
    await expectConsistentTree(db.sql, log);
  });
});

describe('which tree levels have node rows (audit_head.node_step)', () => {
  const origin = 'pavilion.test/audit';
  const signerKey = generateSignerKey(origin);

  it('a log begun on this version stores every fourth level; one with entries before keeps every level', async () => {
    const fresh = await openTestDatabase();
    const older = await openTestDatabase();
    try {
      await migrate(fresh.sql, 'audit', AUDIT_MIGRATIONS);
      expect((await fresh.sql`select node_step from audit_head`)[0]!.node_step).toBe(4);
      // The migrations of the version before, then an entry, then this version's.
      await migrate(older.sql, 'audit', AUDIT_MIGRATIONS.slice(0, -1));
      await older.sql`update audit_head set size = 1`;
      await migrate(older.sql, 'audit', AUDIT_MIGRATIONS);
      expect((await older.sql`select node_step from audit_head`)[0]!.node_step).toBe(1);
    } finally {
      await fresh.close();
      await older.close();
    }
  });

  it('a log with step 1 writes a row for every level, and proofs read from them equal the memory tree', async () => {
    const db = await openTestDatabase();
    try {
      await migrate(db.sql, 'audit', AUDIT_MIGRATIONS);
      await db.sql`update audit_head set node_step = 1`;
      const log = await openAuditLog({ sql: db.sql, origin, signerKey });
      await Promise.all(Array.from({ length: 700 }, (_, i) => log.append(event(i))));
      const tree = await expectConsistentTree(db.sql, log); // counts n − popcount(n) node rows for step 1
      expect((await db.sql`select count(distinct level)::int as n from audit_nodes`)[0]!.n).toBe(9);
      const cold = await openAuditLog({ sql: db.sql, origin, signerKey, cacheBytes: 0 });
      const warm = await openAuditLog({ sql: db.sql, origin, signerKey });
      expect(await warm.warmCache()).toBe(2 * 700 - 6); // every leaf and complete subtree (popcount(700) = 6)
      for (const [m, n] of [
        [5, 700],
        [300, 513],
        [0, 1],
        [699, 700],
      ] as const) {
        for (const l of [cold, warm]) {
          expect((await l.inclusionProof(m, n)).map(hex)).toEqual(tree.inclusionProof(m, n).map(hex));
          expect((await l.consistencyProof(m + 1, n)).map(hex)).toEqual(tree.consistencyProof(m + 1, n).map(hex));
        }
      }
      await Promise.all([cold.close(), warm.close(), log.close()]);
    } finally {
      await db.close();
    }
  });
});
