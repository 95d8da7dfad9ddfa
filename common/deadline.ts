/**
 * Settles as `promise` does, or rejects with `onTimeout()` once `ms` have
 * passed: for waits on a peer that may stop answering without closing the
 * connection (an object store), which would otherwise hang forever. The
 * late promise is left to settle on its own; its outcome is ignored.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  promise.catch(() => {}); // a rejection after the deadline is not unhandled
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
