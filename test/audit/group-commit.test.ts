import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../audit/group-commit.js';
import { isPavilionError } from '../../common/errors.js';

/** A fake "database" flush: records batches, resolves when told to. */
function harness(opts: { maxBatch?: number; maxWaitMs?: number; maxQueued?: number } = {}) {
  const batches: number[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const gates: (() => void)[] = [];
  let failNext = false;
  const gc = new GroupCommitter<number, string>(
    async (items) => {
      batches.push(items);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => gates.push(r));
      inFlight--;
      if (failNext) {
        failNext = false;
        throw new Error('db down');
      }
      return items.map((i) => `ok ${i}`);
    },
    { maxBatch: opts.maxBatch ?? 4, maxWaitMs: opts.maxWaitMs ?? 0, maxQueued: opts.maxQueued ?? 1000 },
  );
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    gc,
    batches,
    get maxInFlight() {
      return maxInFlight;
    },
    /** Lets the oldest in-flight flush finish, then gives the scheduler two turns to start the next. */
    async release() {
      await tick();
      gates.shift()?.();
      await tick();
      await tick();
    },
    failNextFlush() {
      failNext = true;
    },
    tick,
  };
}

describe('adaptive group commit', () => {
  it('batches what arrives in one turn, grows the next while a flush runs, caps it, one flush at a time', async () => {
    const h = harness({ maxBatch: 4 });
    const results = [1, 2].map((i) => h.gc.submit(i));
    await h.tick();
    expect(h.batches).toEqual([[1, 2]]);
    // While [1,2] is in flight, 7 more arrive: next batches are capped at 4.
    const more = [3, 4, 5, 6, 7, 8, 9].map((i) => h.gc.submit(i));
    await h.tick();
    expect(h.batches).toHaveLength(1);
    await h.release();
    expect(h.batches).toEqual([
      [1, 2],
      [3, 4, 5, 6],
    ]);
    await h.release();
    await h.release();
    expect(h.batches).toEqual([
      [1, 2],
      [3, 4, 5, 6],
      [7, 8, 9],
    ]);
    expect(await Promise.all([...results, ...more])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `ok ${i}`));
    expect(h.maxInFlight).toBe(1);
  });

  it('an item resolves only after its own batch settles; a failed batch rejects only its items', async () => {
    const h = harness();
    let settled = false;
    const first = h.gc.submit(1).then(
      () => (settled = true),
      (err: unknown) => err,
    );
    await h.tick();
    expect(settled).toBe(false);
    h.failNextFlush();
    const second = h.gc.submit(2);
    await h.release(); // batch [1] fails
    expect(String(await first)).toContain('db down');
    expect(settled).toBe(false);
    await h.release(); // batch [2] succeeds
    expect(await second).toBe('ok 2');
  });

  it('close() flushes everything queued, then refuses new items', async () => {
    const h = harness({ maxBatch: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => h.gc.submit(i));
    const closing = h.gc.close();
    for (let i = 0; i < 3; i++) await h.release();
    await closing;
    expect(await Promise.all(all)).toHaveLength(5);
    const refused = await h.gc.submit(6).catch((e: unknown) => e);
    expect(isPavilionError(refused) && refused.code).toBe('AUDIT_CLOSED');
  });

  it('a full queue fails fast with AUDIT_OVERLOADED', async () => {
    const h = harness({ maxBatch: 1, maxQueued: 3 });
    const accepted = [1, 2, 3].map((i) => h.gc.submit(i));
    const refused = await h.gc.submit(4).catch((e: unknown) => e);
    expect(isPavilionError(refused) && refused.code).toBe('AUDIT_OVERLOADED');
    for (let i = 0; i < 3; i++) await h.release();
    expect(await Promise.all(accepted)).toHaveLength(3);
  });

  it('maxWaitMs lingers for a fuller batch when idle', async () => {
    const h = harness({ maxBatch: 10, maxWaitMs: 250 });
    const a = h.gc.submit(1);
    await h.tick();
    expect(h.batches).toHaveLength(0);
    const b = h.gc.submit(2);
    await new Promise((r) => setTimeout(r, 400));
    expect(h.batches).toEqual([[1, 2]]);
    await h.release();
    await Promise.all([a, b]);
  });
});
