/**
 * Scratch-slot allocation for one dataset version, owned by the main thread.
 *
 * Every task writes its queries and reads its results in a slot of the
 * dataset's shared memory; giving each in-flight task its own slot is what
 * keeps concurrent tasks (on any worker) from overwriting each other. When
 * all slots are busy, callers wait in FIFO order; this also bounds how many
 * tasks sit in Piscina's queue.
 */
import { PavilionError } from '../common/errors.js';

export class SlotAllocator {
  private readonly free: number[];
  private readonly waiters: { resolve: (slot: number) => void; reject: (err: unknown) => void }[] = [];
  private closed = false;

  constructor(readonly count: number) {
    this.free = Array.from({ length: count }, (_, i) => count - 1 - i);
  }

  acquire(): Promise<number> {
    if (this.closed) return Promise.reject(new PavilionError('ENGINE_CLOSED', 'the engine is closed'));
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  release(slot: number): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }

  /** Slots not currently handed out (for tests and metrics). */
  get available(): number {
    return this.free.length;
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new PavilionError('ENGINE_CLOSED', 'the engine is closed'));
  }
}
