/**
 * `node --import tsx bench/audit.ts [--json] [--quick]`: the audit log's
 * durable append rate with group commit vs one transaction per event, proof
 * generation at 1M leaves vs naive recomputation, receipt verification,
 * witness cosignatures (Ed25519 vs ML-DSA-44), and gas per on-chain anchor
 * (event-only contract vs the stored-root one, bench/anchor-gas.ts).
 *
 * Database: DATABASE_URL → that Postgres (a scratch schema, dropped at the
 * end); unset → embedded PGlite (a temporary folder). Bounded to about two minutes.
 *
 * The 1M-leaf tree is built by a bulk-load path, not by 1M appends: leaf and
 * node hashes are computed in memory level by level (flat buffers), then
 * written with multi-row `INSERT … SELECT FROM unnest(...)` statements of 20k
 * rows, the leaf-hash index built afterwards, and the head row set. The log's
 * own root() must then equal the in-memory root, so the load is checked.
 */
import { createHash, randomBytes } from 'node:crypto';
import postgres from 'postgres';
import {
  AUDIT_MIGRATIONS,
  type AuditLog,
  generateCosignerKey,
  generateSignerKey,
  openAuditLog,
  parseCosignatureVerifierKey,
  parseCosignerKey,
  verifyInclusion,
  verifyReceipt,
} from '../audit/index.js';
import { isStoredLevel, type NodeStep } from '../audit/schema.js';
import { migrate, openDatabase, type Sql } from '../storage/postgres.js';
import { anchorGasSection } from './anchor-gas.js';
import { flag, parseBenchArgs } from './options.js';
import { type BenchRow, type BenchSection, describeMachine, machineLine, printSection as print } from './report.js';

const { values } = parseBenchArgs({
  name: 'bench:audit',
  run: 'npm run bench:audit --',
  about:
    'Audit log append rate, proofs at 1M leaves, receipts, cosignatures and anchor gas.\n' +
    'DATABASE_URL set: a scratch schema on that Postgres; unset: embedded PGlite.',
  options: {
    quick: flag('smaller sizes and shorter runs, for a smoke run'),
    json: flag('one JSON object on stdout instead of the tables'),
  },
});
const { json, quick } = values;
const ORIGIN = 'bench.pavilion.local/audit';

const machine = describeMachine();

// ----------------------------------------------------------------- database

interface BenchDb {
  sql: Sql;
  kind: string;
  close(): Promise<void>;
}

async function openBenchDb(): Promise<BenchDb> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openDatabase({});
    return { sql: db.sql, kind: 'embedded PGlite (DATABASE_URL unset)', close: () => db.close() };
  }
  const schema = `audit_bench_${randomBytes(4).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema ${schema}`);
  const sql = postgres(url, { max: 10, onnotice: () => {}, connection: { search_path: schema } });
  const [v] = await admin`show server_version`;
  return {
    sql,
    kind: `PostgreSQL ${v!.server_version} (DATABASE_URL)`,
    async close() {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop schema ${schema} cascade`);
      await admin.end({ timeout: 5 });
    },
  };
}

async function resetTables(sql: Sql): Promise<void> {
  await sql`truncate audit_leaves, audit_nodes, audit_checkpoints`;
  await sql`update audit_head set size = 0, root = ${Buffer.from(createHash('sha256').digest())}`;
}

// ----------------------------------------------------------------- helpers

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function benchEvent(i: number): object {
  return {
    type: 'verification',
    v: 1,
    request_id: `bench-${i}`,
    relying_party: 'rp-bench',
    dataset: 'licences',
    dataset_version: '2026-11-01',
    query_hash: createHash('sha256').update(String(i)).digest('hex'),
    decision: i % 3 === 0 ? 'match' : 'no_match',
    score: (i % 1000) / 1000,
    released_claims: i % 3 === 0 ? ['license_valid', 'over_21'] : [],
    purpose: 'kyc',
    policy_decision_id: `pd-${i}`,
    actor: 'svc:bench',
    time: '2026-11-26T08:00:00.000Z',
  };
}

/** Closed loop: `concurrency` callers each appending back to back until the deadline. */
async function appendRate(
  log: AuditLog,
  concurrency: number,
  seconds: number,
  offset: number,
): Promise<{ perSecond: number; count: number }> {
  let next = offset;
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await log.append(benchEvent(next++));
        done++;
      }
    }),
  );
  return { perSecond: done / ((performance.now() - started) / 1000), count: done };
}

// ----------------------------------------------------------------- bulk load

interface FlatTree {
  size: number;
  /** levels[L] = concatenated 32-byte hashes of perfect subtrees at level L. */
  levels: Buffer[];
  events: string[];
}

function buildFlatTree(n: number): FlatTree {
  const events = Array.from({ length: n }, (_, i) => `{"i":${i},"type":"bench-bulk"}`);
  const leaves = Buffer.allocUnsafe(n * 32);
  const prefix0 = Buffer.from([0]);
  const prefix1 = Buffer.from([1]);
  events.forEach((e, i) => {
    createHash('sha256')
      .update(prefix0)
      .update(e, 'utf8')
      .digest()
      .copy(leaves, i * 32);
  });
  const levels = [leaves];
  for (let count = n; count >= 2; ) {
    const below = levels[levels.length - 1]!;
    const parents = Math.floor(count / 2);
    const row = Buffer.allocUnsafe(parents * 32);
    for (let i = 0; i < parents; i++) {
      createHash('sha256')
        .update(prefix1)
        .update(below.subarray(i * 64, i * 64 + 64))
        .digest()
        .copy(row, i * 32);
    }
    levels.push(row);
    count = parents;
  }
  return { size: n, levels, events };
}

function flatRoot(t: FlatTree): Buffer {
  // Fold the perfect subtrees of [0, n) right to left.
  const pieces: Buffer[] = [];
  let at = 0;
  for (let level = t.levels.length - 1; level >= 0; level--) {
    const width = 2 ** level;
    if (at + width <= t.size) {
      pieces.push(t.levels[level]!.subarray((at / width) * 32, (at / width) * 32 + 32));
      at += width;
    }
  }
  let acc = pieces[pieces.length - 1]!;
  for (let i = pieces.length - 2; i >= 0; i--)
    acc = createHash('sha256')
      .update(Buffer.from([1]))
      .update(pieces[i]!)
      .update(acc)
      .digest();
  return acc;
}

async function bulkLoad(sql: Sql, t: FlatTree): Promise<void> {
  const CHUNK = 20_000;
  await sql`drop index if exists audit_leaves_leaf_hash`;
  for (let s = 0; s < t.size; s += CHUNK) {
    const e = Math.min(t.size, s + CHUNK);
    await sql`
      insert into audit_leaves (idx, leaf_hash, event)
      select ${s}::bigint + o - 1,
        substring(${t.levels[0]!.subarray(s * 32, e * 32)}::bytea from ((o - 1) * 32 + 1)::int for 32), ev
      from unnest(${t.events.slice(s, e)}::text[]) with ordinality as x(ev, o)`;
  }
  const [head] = await sql`select node_step from audit_head where id`;
  for (let level = 1; level < t.levels.length; level++) {
    if (!isStoredLevel(level, head!.node_step as NodeStep)) continue;
    const row = t.levels[level]!;
    const count = row.length / 32;
    for (let s = 0; s < count; s += CHUNK) {
      const e = Math.min(count, s + CHUNK);
      await sql`
        insert into audit_nodes (level, idx, hash)
        select ${level}::int2, ${s}::bigint + o - 1,
          substring(${row.subarray(s * 32, e * 32)}::bytea from ((o - 1) * 32 + 1)::int for 32)
        from generate_series(1, ${e - s}::int) as o`;
    }
  }
  await sql`create index audit_leaves_leaf_hash on audit_leaves using hash (leaf_hash)`;
  await sql`update audit_head set size = ${t.size}::bigint, root = ${flatRoot(t)}`;
  await sql`analyze audit_leaves`;
  await sql`analyze audit_nodes`;
}

// Naive baseline: RFC 9162 PATH(m, D[n]) recomputed from all n leaf hashes.
function naiveMth(leaves: Buffer[], lo: number, hi: number): Buffer {
  if (hi - lo === 1) return leaves[lo]!;
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return createHash('sha256')
    .update(Buffer.from([1]))
    .update(naiveMth(leaves, lo, lo + k))
    .update(naiveMth(leaves, lo + k, hi))
    .digest();
}
function naivePath(m: number, leaves: Buffer[], lo: number, hi: number): Buffer[] {
  if (hi - lo <= 1) return [];
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  if (m < lo + k) return [...naivePath(m, leaves, lo, lo + k), naiveMth(leaves, lo + k, hi)];
  return [...naivePath(m, leaves, lo + k, hi), naiveMth(leaves, lo, lo + k)];
}

async function timeMany(
  iterations: number,
  fn: (i: number) => Promise<unknown> | unknown,
): Promise<{ p50: number; p90: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p90: percentile(times, 90), p99: percentile(times, 99) };
}

// ----------------------------------------------------------------- main

const started = performance.now();
const db = await openBenchDb();
// A reader that stops early (| head) must not abort the run before the
// scratch schema is dropped; Ctrl-C drops it too.
process.stdout.on('error', () => {});
process.once('SIGINT', () => {
  void db.close().finally(() => process.exit(130));
});
const sections: BenchSection[] = [];
try {
  await migrate(db.sql, 'audit', AUDIT_MIGRATIONS);
  const signerKey = generateSignerKey(ORIGIN);

  // 1. Durable appends: adaptive group commit at three caps, then the same
  // log with maxBatch 1 (one transaction per event) as the baseline.
  const appendSeconds = quick ? 1.5 : 4;
  const single = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey, maxBatch: 1 });
  await appendRate(single, 16, 0.3, 0); // warm up JIT, plans, connections
  const s = await appendRate(single, 64, quick ? 1.5 : 3, 10_000);
  await single.close();
  const appendRows: BenchRow[] = [];
  let offset = 1_000_000;
  for (const cap of [256, 512, 1024]) {
    await resetTables(db.sql);
    const grouped = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey, maxBatch: cap });
    await appendRate(grouped, 256, 0.3, offset);
    offset += 1_000_000;
    const g = await appendRate(grouped, 4 * cap, appendSeconds, offset);
    const batches = grouped.recentBatchSizes.slice(-200);
    await grouped.close();
    appendRows.push({
      name: `append, group commit (cap ${cap}, ${4 * cap} callers)`,
      value: g.perSecond,
      unit: 'events/s',
      baseline: 'one transaction per event',
      ratio: g.perSecond / s.perSecond,
      note:
        `${g.count} durable appends; mean batch ` +
        `${(batches.reduce((a, b) => a + b, 0) / Math.max(1, batches.length)).toFixed(0)}`,
    });
  }
  await resetTables(db.sql);
  appendRows.push({
    name: 'append, one transaction per event',
    value: s.perSecond,
    unit: 'events/s',
    note: `${s.count} appends, 64 callers, maxBatch 1`,
  });
  // The database's own ceiling for unbatched durable writes: one autocommit
  // single-row INSERT per event into a bare table, no tree, no lock.
  await db.sql`create table bench_plain_insert (id bigserial primary key, event text not null)`;
  const plain = await (async () => {
    let next = 0;
    let done = 0;
    const deadline = performance.now() + (quick ? 1500 : 3000);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() < deadline) {
          await db.sql`insert into bench_plain_insert (event) values (${JSON.stringify(benchEvent(next++))})`;
          done++;
        }
      }),
    );
    return { perSecond: done / ((performance.now() - t0) / 1000), count: done };
  })();
  await db.sql`drop table bench_plain_insert`;
  appendRows.push({
    name: 'plain single-row INSERT per event (no tree)',
    value: plain.perSecond,
    unit: 'events/s',
    note:
      `${plain.count} rows, 64 callers, autocommit, ` +
      `${db.kind.startsWith('embedded') ? '1 connection' : 'pool of 10'}`,
  });
  sections.push({ title: `Durable audit appends into ${db.kind}`, rows: appendRows });
  if (!json) print(sections[sections.length - 1]!);

  // 2. Proofs at 1M leaves.
  const n = quick ? 1 << 17 : 1_000_000;
  let t0 = performance.now();
  const flat = buildFlatTree(n);
  const hashMs = performance.now() - t0;
  t0 = performance.now();
  await bulkLoad(db.sql, flat);
  const loadMs = performance.now() - t0;
  const log = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey });
  const storedRoot = Buffer.from(await log.root(n));
  if (!storedRoot.equals(flatRoot(flat))) throw new Error('bulk-loaded tree root differs from the in-memory root');
  const cp = await log.checkpoint();
  const root = Buffer.from(flatRoot(flat));
  // Keep only the leaf hashes (for checking proofs): the events and upper
  // levels are ~100 MB the garbage collector would otherwise keep scanning.
  flat.events.length = 0;
  flat.levels.length = 1;
  t0 = performance.now();
  const warmed = await log.warmCache();
  const warmMs = performance.now() - t0;
  // The same tree through a log that holds nothing in memory: every proof
  // reads its nodes and the head in one round trip (the path before the cache,
  // and what a proof at a size above the process's view still takes).
  const dbLog = await openAuditLog({ sql: db.sql, origin: ORIGIN, signerKey, cacheBytes: 0 });
  for (let i = 0; i < 100; i++) {
    await log.inclusionProof(i * 997, n); // JIT
    await dbLog.inclusionProof(i * 997, n); // plans and JIT
  }
  const samples = quick ? 300 : 2000;
  const rnd = (i: number, mod: number) => Number((BigInt(i + 1) * 2654435761n) % BigInt(mod));
  const checkedInclusion = (from: AuditLog) => async (i: number) => {
    const index = rnd(i, n);
    const proof = await from.inclusionProof(index, n);
    if (i < 50) verifyInclusion(index, n, flat.levels[0]!.subarray(index * 32, index * 32 + 32), proof, root);
  };
  const incl = await timeMany(samples, checkedInclusion(log));
  const cons = await timeMany(samples, (i) => log.consistencyProof(1 + rnd(i, n - 1), n));
  const inclDb = await timeMany(samples, checkedInclusion(dbLog));
  const consDb = await timeMany(samples, (i) => dbLog.consistencyProof(1 + rnd(i, n - 1), n));
  await dbLog.close();
  // Naive baseline at a smaller size: read every leaf hash, recompute PATH.
  const naiveN = quick ? 1 << 14 : 1 << 16;
  const naive = await timeMany(quick ? 3 : 5, async (i) => {
    const rows =
      await db.sql`select leaf_hash from audit_leaves where idx < ${naiveN}::bigint order by audit_leaves.idx`;
    naivePath(
      rnd(i, naiveN),
      rows.map((r) => r.leaf_hash as Buffer),
      0,
      naiveN,
    );
  });
  const us = (s: number) => s * 1000;
  sections.push({
    title: `Proofs from stored subtrees, ${n.toLocaleString('en-US')} leaves (${db.kind})`,
    rows: [
      {
        name: 'inclusion proof p50',
        value: us(incl.p50),
        unit: 'µs',
        note: `${samples} random leaves, hashes held in memory`,
      },
      { name: 'inclusion proof p90', value: us(incl.p90), unit: 'µs' },
      {
        name: 'inclusion proof p99',
        value: us(incl.p99),
        unit: 'µs',
        baseline: 'read from the database p99',
        ratio: inclDb.p99 / incl.p99,
      },
      { name: 'consistency proof p50', value: us(cons.p50), unit: 'µs', note: `${samples} random old sizes → ${n}` },
      { name: 'consistency proof p90', value: us(cons.p90), unit: 'µs' },
      {
        name: 'consistency proof p99',
        value: us(cons.p99),
        unit: 'µs',
        baseline: 'read from the database p99',
        ratio: consDb.p99 / cons.p99,
      },
      {
        name: 'inclusion, read from the database p50',
        value: us(inclDb.p50),
        unit: 'µs',
        note: 'cacheBytes 0: head + ~20 nodes, one round trip',
      },
      { name: 'inclusion, read from the database p99', value: us(inclDb.p99), unit: 'µs' },
      { name: 'consistency, read from the database p50', value: us(consDb.p50), unit: 'µs' },
      { name: 'consistency, read from the database p99', value: us(consDb.p99), unit: 'µs' },
      {
        name: 'naive recomputation p50',
        value: us(naive.p50),
        unit: 'µs',
        note:
          `read ${naiveN.toLocaleString('en-US')} leaf hashes + RFC PATH recursion (O(n)), at ` +
          `1/${Math.round(n / naiveN)} the size`,
      },
      {
        name: 'cache warm-up',
        value: warmMs,
        unit: 'ms',
        note: `${warmed.toLocaleString('en-US')} hashes, ${(log.cachedBytes / 2 ** 20).toFixed(0)} MiB held`,
      },
      {
        name: 'tree hashing in memory (bulk path)',
        value: hashMs,
        unit: 'ms',
        note: `${(2 * n).toLocaleString('en-US')} SHA-256 (leaves + nodes)`,
      },
      {
        name: 'bulk load into the database',
        value: loadMs,
        unit: 'ms',
        note: `${(2 * n - 1).toLocaleString('en-US')} rows via 20k-row unnest inserts`,
      },
    ],
  });
  if (!json) print(sections[sections.length - 1]!);

  // 3. Receipt verification (parse, Ed25519 signature, inclusion at 1M).
  const receipts = await Promise.all(
    Array.from({ length: 64 }, (_, i) => log.receipt(rnd(i, n)).then((text) => ({ text, index: rnd(i, n) }))),
  );
  const leafOf = (index: number) => flat.levels[0]!.subarray(index * 32, index * 32 + 32);
  const verifyTimes = await timeMany(quick ? 500 : 3000, (i) => {
    const r = receipts[i % receipts.length]!;
    verifyReceipt(r.text, [log.verifierKey], { leafHash: leafOf(r.index) }, { origin: ORIGIN });
  });
  const proofOnly = await timeMany(quick ? 500 : 3000, (i) => {
    const r = receipts[i % receipts.length]!;
    const index = r.index;
    const lines = r.text.split('\n');
    const proof = lines.slice(2, lines.indexOf('')).map((l) => Buffer.from(l, 'base64'));
    verifyInclusion(index, n, leafOf(index), proof, root);
  });
  sections.push({
    title: `Receipt verification (C2SP tlog-proof, Ed25519 checkpoint, ${n.toLocaleString('en-US')}-leaf tree)`,
    rows: [
      { name: 'verifyReceipt p50', value: verifyTimes.p50 * 1000, unit: 'µs', note: 'parse + signature + inclusion' },
      { name: 'verifyReceipt p90', value: verifyTimes.p90 * 1000, unit: 'µs' },
      {
        name: 'verifyReceipt p99',
        value: verifyTimes.p99 * 1000,
        unit: 'µs',
        note: 'no I/O: its tail shows CPU contention (see load average)',
      },
      { name: 'inclusion check only p50', value: proofOnly.p50 * 1000, unit: 'µs', note: '20 node hashes' },
      { name: 'receipt size', value: receipts[0]!.text.length, unit: 'bytes', note: `checkpoint size ${cp.size}` },
    ],
  });
  if (!json) print(sections[sections.length - 1]!);

  // 4. Witness cosignatures on that checkpoint: Ed25519 (the baseline) and ML-DSA-44.
  const body = cp.note.slice(0, cp.note.indexOf('\n\n') + 1);
  const cosignRows: BenchRow[] = [];
  const edTimes = { sign: 0, verify: 0 };
  for (const alg of ['ed25519', 'ml-dsa-44'] as const) {
    const cosigner = parseCosignerKey(generateCosignerKey('bench.witness.example/w', alg));
    const verifier = parseCosignatureVerifierKey(cosigner.verifierKey);
    const sig = cosigner.cosign(body);
    const sign = await timeMany(quick ? 50 : 300, () => {
      cosigner.cosign(body);
    });
    const check = await timeMany(quick ? 50 : 300, () => {
      if (verifier.verifiedTime(body, sig) === undefined) throw new Error('cosignature does not verify');
    });
    if (alg === 'ed25519') Object.assign(edTimes, { sign: sign.p50, verify: check.p50 });
    const vs = alg === 'ed25519' ? {} : { baseline: 'Ed25519' };
    cosignRows.push(
      {
        name: `${alg} cosign p50`,
        value: sign.p50 * 1000,
        unit: 'µs',
        ...vs,
        ...(alg === 'ed25519' ? {} : { ratio: sign.p50 / edTimes.sign }),
      },
      {
        name: `${alg} verify p50`,
        value: check.p50 * 1000,
        unit: 'µs',
        ...vs,
        ...(alg === 'ed25519' ? {} : { ratio: check.p50 / edTimes.verify }),
        note: `signature line ${Math.ceil(((4 + sig.length) * 4) / 3) + cosigner.name.length + 3} bytes`,
      },
    );
  }
  sections.push({ title: 'Witness cosignatures (C2SP tlog-cosignature) on that checkpoint', rows: cosignRows });
  if (!json) print(sections[sections.length - 1]!);
  await log.close();

  // 5. Gas per anchor, before and after the event-only contract.
  sections.push(await anchorGasSection());
  if (!json) print(sections[sections.length - 1]!);
} finally {
  await db.close();
}
const seconds = (performance.now() - started) / 1000;
if (json) {
  console.log(
    JSON.stringify({ machine, database: db.kind, quick, seconds: Number(seconds.toFixed(1)), sections }, null, 2),
  );
} else {
  console.log(`\n${machineLine(machine)}; database: ${db.kind}; ${seconds.toFixed(1)} s`);
}
