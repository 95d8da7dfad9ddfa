/**
 * Rows a broker process is working on (linkage jobs, dataset pulls) carry a
 * heartbeat that process refreshes. A row whose heartbeat stopped belongs to
 * a process that died (or handed it back while stopping), and any broker
 * then deals with it: runs it again where it can, fails it (…_INTERRUPTED)
 * where it cannot. With several brokers on one database, a starting broker
 * must not touch the rows the others are still working on, which "fail
 * everything running at start" would do.
 */
export const HEARTBEAT_MS = 5_000;
/** Six missed heartbeats: a process stalled by GC or a slow database is not declared dead. */
export const STALE_AFTER_MS = 30_000;

export interface HeartbeatOptions {
  /** Ids of the rows this process is working on now. */
  runningIds(): string[];
  /** Refreshes their heartbeat. */
  beat(ids: string[]): Promise<void>;
  /** Deals with rows whose heartbeat is older than STALE_AFTER_MS. */
  sweep(): Promise<void>;
  onError(err: unknown): void;
}

export interface Heartbeat {
  stop(): void;
}

/** Beats and sweeps now, then every HEARTBEAT_MS; one tick at a time. */
export function startHeartbeat(o: HeartbeatOptions): Heartbeat {
  let ticking = false;
  const tick = async () => {
    const ids = o.runningIds();
    if (ids.length > 0) await o.beat(ids);
    await o.sweep();
  };
  const run = () => {
    if (ticking) return;
    ticking = true;
    void tick()
      .catch(o.onError)
      .finally(() => {
        ticking = false;
      });
  };
  run();
  const timer = setInterval(run, HEARTBEAT_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
