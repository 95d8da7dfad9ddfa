/**
 * Cost of the cache's parts, for the numbers quoted in cache/ comments.
 * Run: `npx tsx test/cache/measure.ts` (starts its own redis-server; needs it installed).
 * Bounded to a few seconds; numbers are noisy on a shared 2-core box, so each
 * is the best of three rounds.
 */
import { Redis } from 'ioredis';
import { cacheKey, createCache } from '../../cache/index.js';
import { startRedis } from './redis-server.js';

const ROUNDS = 3;
const secret = Buffer.alloc(32, 5);
const clk = new Uint8Array(128).fill(0x5a);
const answer = { decision: 'match', score: 0.93, claims: { over_21: true, license_valid: true } };
const keys = Array.from({ length: 5000 }, (_, i) =>
  cacheKey(secret, {
    datasetId: 'bench',
    datasetVersion: 1,
    clk: clk.map((b, j) => (j < 4 ? (i >> (8 * j)) & 0xff : b)),
    claims: ['over_21', 'license_valid'],
    threshold: 0.85,
    policyVersion: 'p1',
    party: 'rp',
  }),
);

async function best(label: string, ops: number, run: () => Promise<void> | void): Promise<void> {
  let bestUs = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    await run();
    bestUs = Math.min(bestUs, ((performance.now() - t) * 1000) / ops);
  }
  console.log(
    `${label.padEnd(58)} ${bestUs.toFixed(2).padStart(8)} µs/op  (${Math.round(1e6 / bestUs).toLocaleString('en')} ` +
      `ops/s)`,
  );
}

await best('cacheKey (128-byte CLK, 2 claims)', 50_000, () => {
  for (let i = 0; i < 50_000; i++)
    cacheKey(secret, {
      datasetId: 'bench',
      datasetVersion: i,
      clk,
      claims: ['over_21', 'license_valid'],
      threshold: 0.85,
      policyVersion: 'p1',
      party: 'rp',
    });
});

const lruOnly = await createCache({ lruEntries: 10_000 });
for (const k of keys) await lruOnly.set(k, answer, 600);
await best('LRU hit (await cache.get)', 200_000, async () => {
  for (let i = 0; i < 200_000; i++) await lruOnly.get(keys[i % keys.length]!);
});
await lruOnly.close();

const server = await startRedis();
try {
  const writer = await createCache({ redisUrl: server.url });
  await Promise.all(keys.map((k) => writer.set(k, answer, 600)));
  // lruEntries 1: every lookup of a cycling key set misses the LRU and goes to Redis.
  const reader = await createCache({ redisUrl: server.url, lruEntries: 1 });
  const SEQ = 5000;
  await best('Redis hit through cache, sequential (one get per turn)', SEQ, async () => {
    for (let i = 0; i < SEQ; i++) await reader.get(keys[i % keys.length]!);
  });
  for (const batch of [16, 64, 256]) {
    const n = 20_000;
    await best(`Redis hit through cache, ${batch} gets per turn (one MGET)`, n, async () => {
      for (let i = 0; i < n; i += batch)
        await Promise.all(keys.slice(i % keys.length, (i % keys.length) + batch).map((k) => reader.get(k)));
    });
  }
  const st = reader.stats();
  if (st.redisHits !== st.hits || st.misses !== 0) throw new Error(`measurement invalid: ${JSON.stringify(st)}`);
  await writer.close();
  await reader.close();

  const plain = new Redis(server.url);
  const auto = new Redis(server.url, { enableAutoPipelining: true });
  await best('ioredis GET sequential', SEQ, async () => {
    for (let i = 0; i < SEQ; i++) await plain.get(keys[i % keys.length]!);
  });
  for (const batch of [16, 64, 256]) {
    const n = 20_000;
    await best(`ioredis GET x${batch} per turn, enableAutoPipelining`, n, async () => {
      for (let i = 0; i < n; i += batch)
        await Promise.all(keys.slice(i % keys.length, (i % keys.length) + batch).map((k) => auto.get(k)));
    });
    await best(`ioredis MGET of ${batch}`, n, async () => {
      for (let i = 0; i < n; i += batch) await plain.mget(keys.slice(i % keys.length, (i % keys.length) + batch));
    });
  }
  plain.disconnect();
  auto.disconnect();
} finally {
  await server.stop();
}
