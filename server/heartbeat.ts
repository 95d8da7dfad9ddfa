/**
 * Rows a broker process is working on (linkage jobs, dataset pulls) carry a
 * heartbeat that process refreshes. A row whose heartbeat stopped belongs to
 * a process that died, and any broker marks it failed (…_INTERRUPTED).
 * With several brokers on one database, a starting broker must not fail the
 * rows the others are still working on, which "fail everything running at
 * start" would do.
 */
export const HEARTBEAT_MS = 5_000;
/** Six missed heartbeats: a process stalled by GC or a slow database is not declared dead. */
export const STALE_AFTER_MS = 30_000;

export interface HeartbeatStore {
  /** Refreshes the heartbeat of these running rows. */
  heartbeat(ids: string[]): Promise<void>;
  /** Fails running rows whose heartbeat is older than `ms`; returns how many. */
  failStale(ms: number): Promise<number>;
}

export interface Heartbeat {
  stop(): void;
}

/** Beats for `runningIds()` and sweeps stale rows now and every HEARTBEAT_MS. */
export function startHeartbeat(store: HeartbeatStore, runningIds: () => string[], onSwept: (rows: number) => void, onError: (err: unknown) => void): Heartbeat {
  const tick = async () => {
    const ids = runningIds();
    if (ids.length > 0) await store.heartbeat(ids);
    const swept = await store.failStale(STALE_AFTER_MS);
    if (swept > 0) onSwept(swept);
  };
  const run = () => void tick().catch(onError);
  run();
  const timer = setInterval(run, HEARTBEAT_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
