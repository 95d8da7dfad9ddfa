import { describe, expect, it } from 'vitest';
import { cacheKey, createCache } from '../../cache/index.js';
import { PavilionError } from '../../common/errors.js';

interface Answer {
  decision: 'match' | 'no_match' | 'ambiguous';
  score: number;
  claims: Record<string, boolean>;
}
const answer: Answer = { decision: 'match', score: 0.93, claims: { over_21: true } };
const secret = Buffer.alloc(32, 7);
const clk = new Uint8Array(128).fill(3);
const keyFor = (datasetId: string, datasetVersion: number, claim = 'over_21') =>
  cacheKey(secret, {
    datasetId,
    datasetVersion,
    clk,
    claims: [claim],
    threshold: 0.8,
    policyVersion: 'p1',
    party: 'rp',
  });

function clock() {
  let t = Date.UTC(2026, 10, 26);
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function pavilionCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof PavilionError ? err.code : 'not-a-PavilionError';
  }
  return undefined;
}

describe('createCache without Redis (LRU only)', () => {
  it('misses, then hits after set, and counts both', async () => {
    const statuses: boolean[] = [];
    const cache = await createCache<Answer>({ onStatus: (s) => statuses.push(s.redisUp) });
    const k = keyFor('ds', 1);
    expect(await cache.get(k)).toBeUndefined();
    await cache.set(k, answer, 60);
    expect(await cache.get(k)).toEqual(answer);
    expect(cache.stats()).toMatchObject({
      hits: 1,
      misses: 1,
      lruHits: 1,
      redisHits: 0,
      degradedMisses: 0,
      redisUp: false,
      redisConfigured: false,
      lruEntries: 1,
    });
    expect(statuses).toEqual([false]);
    await cache.close();
  });

  it('respects the TTL', async () => {
    const c = clock();
    const cache = await createCache<Answer>({ now: c.now });
    const k = keyFor('ds', 1);
    await cache.set(k, answer, 2);
    c.advance(1999);
    expect(await cache.get(k)).toEqual(answer);
    c.advance(1);
    expect(await cache.get(k)).toBeUndefined();
    await cache.set(k, answer, 0); // policy TTL 0 = do not cache
    expect(await cache.get(k)).toBeUndefined();
    await cache.close();
  });

  it("hands out frozen copies, so one caller cannot alter another caller's answer", async () => {
    const cache = await createCache<Answer>();
    const k = keyFor('ds', 1);
    const mine = { ...answer, claims: { ...answer.claims } };
    await cache.set(k, mine, 60);
    mine.claims.over_21 = false; // the caller's object stays its own
    const got = (await cache.get(k))!;
    expect(got.claims.over_21).toBe(true);
    expect(Object.isFrozen(got) && Object.isFrozen(got.claims)).toBe(true);
    expect(() => {
      (got as { score: number }).score = 0;
    }).toThrow(TypeError);
    expect({ ...got, receipt: 'r' }).toMatchObject({ score: 0.93, receipt: 'r' });
    await cache.close();
  });

  it('bounds the LRU by entries', async () => {
    const cache = await createCache<Answer>({ lruEntries: 5 });
    for (let v = 0; v < 8; v++) await cache.set(keyFor('ds', v), answer, 60);
    expect(cache.stats().lruEntries).toBe(5);
    expect(await cache.get(keyFor('ds', 0))).toBeUndefined();
    expect(await cache.get(keyFor('ds', 7))).toEqual(answer);
    await cache.close();
  });

  it('drops answers over the size cap instead of failing the request', async () => {
    const cache = await createCache<Record<string, string>>({ maxValueBytes: 100 });
    const k = keyFor('ds', 1);
    await cache.set(k, { big: 'x'.repeat(200) }, 60);
    expect(await cache.get(k)).toBeUndefined();
    expect(cache.stats().setsDropped).toBe(1);
    await cache.close();
  });

  it("invalidates a dataset's older versions and leaves others alone", async () => {
    const cache = await createCache<Answer>();
    const keys = {
      v1: keyFor('ds', 1),
      v2: keyFor('ds', 2),
      v3: keyFor('ds', 3),
      v4: keyFor('ds', 4),
      other: keyFor('ds-other', 1),
      colon: keyFor('ds:1', 1),
    };
    for (const k of Object.values(keys)) await cache.set(k, answer, 60);
    const r = await cache.invalidateDataset('ds', 3);
    expect(r).toEqual({ lruRemoved: 2, redisRemoved: 0, redisComplete: true });
    const present = async (k: string) => (await cache.get(k)) !== undefined;
    expect(await Promise.all(Object.values(keys).map(present))).toEqual([false, false, true, true, true, true]);
    expect((await cache.invalidateDataset('ds')).lruRemoved).toBe(2);
    expect(await present(keys.v4)).toBe(false);
    expect(await present(keys.colon)).toBe(true);
    await cache.close();
  });

  it('rejects programming errors synchronously with stable codes', async () => {
    const cache = await createCache<Answer>();
    const k = keyFor('ds', 1);
    expect(pavilionCode(() => cache.set(k, answer, -1))).toBe('CACHE_TTL_INVALID');
    expect(pavilionCode(() => cache.set(k, answer, Number.NaN))).toBe('CACHE_TTL_INVALID');
    expect(pavilionCode(() => cache.set(k, answer, 31 * 24 * 3600))).toBe('CACHE_TTL_INVALID');
    expect(pavilionCode(() => cache.set('', answer, 1))).toBe('CACHE_KEY_INVALID');
    expect(pavilionCode(() => cache.set(k, null as unknown as Answer, 1))).toBe('CACHE_VALUE_INVALID');
    expect(pavilionCode(() => cache.set(k, { n: 1n } as unknown as Answer, 1))).toBe('CACHE_VALUE_INVALID');
    await expect(cache.invalidateDataset('ds', -1)).rejects.toMatchObject({ code: 'CACHE_KEY_INVALID' });
    await expect(createCache({ lruEntries: 0 })).rejects.toMatchObject({ code: 'CACHE_CONFIG_INVALID' });
    await expect(createCache({ redisUrl: 'http://user:hunter2@example' })).rejects.toSatisfy(
      (e: unknown) => e instanceof PavilionError && e.code === 'CACHE_CONFIG_INVALID' && !e.message.includes('hunter2'),
    );
    await cache.close();
  });

  it('treats a non-string key as a miss rather than throwing', async () => {
    const cache = await createCache<Answer>();
    expect(await cache.get(42 as unknown as string)).toBeUndefined();
    expect(await cache.get(undefined as unknown as string)).toBeUndefined();
    await cache.close();
  });

  it('answers misses after close without throwing', async () => {
    const cache = await createCache<Answer>();
    const k = keyFor('ds', 1);
    await cache.set(k, answer, 60);
    await cache.close();
    expect(await cache.get(k)).toBeUndefined();
    await cache.set(k, answer, 60);
    await cache.close();
  });

  it('serves an LRU hit in about a microsecond or less', async () => {
    const cache = await createCache<Answer>();
    const keys = Array.from({ length: 1000 }, (_, i) => keyFor('ds', i));
    for (const k of keys) await cache.set(k, answer, 600);
    const n = 200_000;
    const t = performance.now();
    let found = 0;
    for (let i = 0; i < n; i++) if ((await cache.get(keys[i % 1000]!)) !== undefined) found++;
    const us = ((performance.now() - t) * 1000) / n;
    console.log(`LRU hit (awaited get): ${us.toFixed(3)} µs`);
    expect(found).toBe(n);
    expect(us).toBeLessThan(10);
    await cache.close();
  });
});
