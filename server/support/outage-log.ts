/**
 * One log line per outage instead of one per attempt, for work the broker retries on a timer while a dependency
 * is down. An outside probe stopped Postgres for 80 s and found 82 "audit checkpoint failed" lines at error level,
 * each with a full stack: the checkpoint timer (AUDIT_CHECKPOINT_MS, 1 s) fails every tick, even with nothing to
 * sign, since it reads the head to learn whether another replica appended.
 *
 * The first failure of an outage is logged; later ones at most once per `everyMs` (a minute), with the count so
 * far; the first success after them logs one line with the total. A database that does not answer
 * (DATABASE_UNAVAILABLE: known, and alerted on by its own rule) is logged by its code and message, without a
 * stack; any other error keeps `err` (and its stack) for the report.
 */
import type { Logger } from 'pino';
import { isPavilionError } from '../../common/errors.js';

export class OutageLog {
  private failures = 0;
  private since = 0;
  private lastLogged = 0;

  constructor(
    private readonly log: Logger,
    /** What failed, as the lines begin: `<what> failed`, `<what> still failing`, `<what> works again`. */
    private readonly what: string,
    private readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  failed(err: unknown): void {
    const at = this.now();
    this.failures++;
    if (this.failures === 1) {
      this.since = at;
      this.lastLogged = at;
      this.log.error(describe(err), `${this.what} failed`);
      return;
    }
    if (at - this.lastLogged < this.everyMs) return;
    this.lastLogged = at;
    this.log.error(
      { ...describe(err), failures: this.failures, since: new Date(this.since).toISOString() },
      `${this.what} still failing (${this.failures} failures since the first)`,
    );
  }

  succeeded(): void {
    if (this.failures === 0) return;
    this.log.info(
      { failures: this.failures, since: new Date(this.since).toISOString() },
      `${this.what} works again after ${this.failures} failure(s)`,
    );
    this.failures = 0;
  }
}

function describe(err: unknown): object {
  return isPavilionError(err) && err.code === 'DATABASE_UNAVAILABLE'
    ? { code: err.code, reason: err.message }
    : { err };
}
