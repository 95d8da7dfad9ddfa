/**
 * One job split into chunks across two broker replicas on one database (server/linkage/chunked-jobs.ts, the
 * pg-boss queue of server/linkage/queue.ts): both brokers run chunks of it, and the result is exactly the one
 * broker's result, which is brute force's. Real Postgres only: two brokers need a database both reach.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../../engine/index.js';
import { dropTestDatabase, startTestBroker, type TestBroker } from '../helpers.js';
import {
  bruteForcePairs,
  clksOf,
  comparisonsOf,
  concat,
  POLICY_MINIMUM,
  pairKey,
  publish,
  randomParties,
  runJob,
} from './jobs-helpers.js';

const serverUrl = process.env.DATABASE_URL;
// 60,000 × 12,000 = 720 M comparisons in 24 chunks: long enough that a broker polling once a second joins in.
const { dataset, queries } = randomParties(60_000, 12_000, 910_000);
const CHUNKS = 24;

describe.skipIf(!serverUrl)('a chunked job on two brokers', () => {
  let a: TestBroker;
  let b: TestBroker | undefined;
  let engine: Engine;

  beforeAll(async () => {
    a = await startTestBroker({}, true);
    await publish(a, 'split', dataset);
    engine = await createEngine({ threads: 1 });
    await engine.loadDataset('split', {
      refs: dataset.map((_, i) => `r${i}`),
      clks: concat(dataset),
      filterBits: 1024,
    });
  }, 120_000);

  afterAll(async () => {
    await b?.broker.close();
    await a?.broker.close();
    await engine?.close();
    if (a?.databaseUrl) await dropTestDatabase(a.databaseUrl);
  });

  it('gives exactly the result one broker gives, with chunks run by both', async () => {
    const body = { dataset: 'split', clks: clksOf(queries), chunks: CHUNKS, solution: 'pairs' };
    const alone = await runJob(a, body);
    expect(alone.job.chunks).toEqual({ count: CHUNKS, done: CHUNKS });
    const expected = await bruteForcePairs(engine, 'split', concat(queries), POLICY_MINIMUM);
    expect(expected.length).toBe(queries.length / 50);
    expect(alone.results.pairs.map(pairKey).sort()).toEqual(expected);

    b = await startTestBroker({ DATABASE_URL: a.databaseUrl!, STATE_DIR: a.stateDir });
    const before = [await comparisonsOf(a), await comparisonsOf(b)];
    const shared = await runJob(a, body);
    const ran = [(await comparisonsOf(a)) - before[0]!, (await comparisonsOf(b)) - before[1]!];

    // The same answer, in the same order, numbered the same: the chunks' pairs merge into the unsplit result.
    expect(shared.results.pairs).toEqual(alone.results.pairs);
    expect(shared.results.pair_count).toBe(expected.length);
    // Both brokers compared (ran chunks), and between them exactly the job's comparisons: no chunk ran twice.
    expect(ran[0]).toBeGreaterThan(0);
    expect(ran[1]).toBeGreaterThan(0);
    expect(ran[0]! + ran[1]!).toBe(dataset.length * queries.length);
    expect(shared.job.comparisons).toEqual({
      compared: dataset.length * queries.length,
      full: dataset.length * queries.length,
      avoided: 0,
    });
  }, 600_000);
});
