/**
 * Retries a write that records an outcome (a job or pull that failed) while
 * its database is briefly away: a restart would otherwise find the row still
 * `running` and only then mark it interrupted. Waits 100 ms, 200 ms, 400 ms, …
 * (at most 5 s) between tries, gives up after `forMs` or once `stop()` says
 * so (the broker is closing), and then rethrows the last error.
 */
export async function retryFor<T>(fn: () => Promise<T>, forMs: number, stop: () => boolean = () => false): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const wait = Math.min(100 * 2 ** attempt, 5000);
      if (stop() || Date.now() + wait > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
