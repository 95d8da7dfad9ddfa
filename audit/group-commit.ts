/**
 * Adaptive group commit: callers submit items one at a time, a single flush
 * runs at a time, and whatever queued up while it ran becomes the next batch
 * (capped at `maxBatch`). The batch is flushed the moment the previous flush
 * finishes, not on a timer: on these machines a fixed 2 ms timer halved the
 * throughput of the durable append path (docs/decisions.md, "Audit appends"),
 * while adaptive batches rise with load and stay at one item when idle.
 *
 * `maxWaitMs` (default 0) optionally lingers for more items when the
 * connection is free and the batch is not full; with 0 a batch leaves on the
 * next turn of the event loop (collecting everything submitted in this turn).
 *
 * Each item's promise settles only after its own batch's flush settles: a
 * caller is told "durable" only once its transaction committed.
 */
import { PavilionError } from '../common/errors.js';

export interface GroupCommitOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Queue bound: beyond it submissions fail fast with AUDIT_OVERLOADED. */
  maxQueued: number;
}

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
  queuedAt: number;
}

export class GroupCommitter<T, R> {
  private queue: Pending<T, R>[] = [];
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** Sizes of the last flushed batches, for metrics and the benchmark. */
  readonly batchSizes: number[] = [];

  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly opts: GroupCommitOptions,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  submit(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new PavilionError('AUDIT_CLOSED', 'the audit log is closed'));
    if (this.queue.length >= this.opts.maxQueued) {
      return Promise.reject(new PavilionError('AUDIT_OVERLOADED', 'too many audit appends waiting'));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject, queuedAt: Date.now() });
      this.schedule();
    });
  }

  /** Flushes everything queued and waits for it; later submissions are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  /** Resolves once the queue is empty and no flush is running. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return Promise.resolve();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.scheduled = false;
      this.schedule(true);
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(now = false): void {
    if (this.inFlight || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    const full = this.queue.length >= this.opts.maxBatch;
    const linger =
      now || full || this.closed ? 0 : Math.max(0, this.opts.maxWaitMs - (Date.now() - this.queue[0]!.queuedAt));
    if (linger > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.scheduled = false;
        this.start();
      }, linger);
    } else {
      // setImmediate, not a microtask: every append issued in this turn of
      // the event loop joins the batch.
      setImmediate(() => {
        this.scheduled = false;
        this.start();
      });
    }
  }

  private start(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    this.batchSizes.push(batch.length);
    if (this.batchSizes.length > 4096) this.batchSizes.splice(0, 2048);
    this.inFlight = this.run(batch).finally(() => {
      this.inFlight = null;
      if (this.queue.length > 0) {
        // The connection is free: the batch that grew meanwhile goes now.
        this.schedule(this.queue.length >= this.opts.maxBatch);
      } else {
        const waiters = this.idleWaiters.splice(0);
        for (const w of waiters) w();
      }
    });
  }

  private async run(batch: Pending<T, R>[]): Promise<void> {
    try {
      const results = await this.flush(batch.map((p) => p.item));
      batch.forEach((p, i) => {
        p.resolve(results[i]!);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
