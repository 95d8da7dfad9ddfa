/**
 * The Postgres connection every module shares, and per-module migrations.
 *
 * A URL (the DATABASE_URL setting) → a real PostgreSQL server through `postgres` (porsager).
 * None → an embedded PGlite (real Postgres compiled to wasm) served over the
 * wire protocol on a loopback port by @electric-sql/pglite-socket, so the same
 * driver and the same SQL run in both cases.
 *
 * Each module owns its SQL: it calls `migrate(db.sql, 'audit', [...])` with its
 * own ordered list of steps; this file knows nothing of their tables.
 */
import postgres from 'postgres';
import { withDeadline } from '../common/deadline.js';
import { invalidSettings, PavilionError } from '../common/errors.js';
import { startEmbeddedServer } from './embedded-server.js';

export type Sql = postgres.Sql;
export type ReservedSql = postgres.ReservedSql;

/**
 * Failures that mean "the database is out of reach for now" rather than "this statement is wrong": the
 * driver's and Node's connection errors, SQLSTATE class 08 (connection exception), 57P01–57P03 (the
 * server is shutting down, crashed, or not yet accepting), 53300 (too many connections). Classified
 * here once; every caller maps them to 503 DATABASE_UNAVAILABLE (server/http/problem.ts, audit/db.ts,
 * anchoring/) so a Postgres outage answers the same everywhere.
 */
const UNREACHABLE = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (UNREACHABLE.has(code) || /^08[0-9A-Z]{3}$/.test(code));
}

/**
 * DATABASE_UNAVAILABLE for an unreachable database, naming only the driver's code (its messages can
 * quote hosts or row values); undefined for anything else.
 */
export function databaseUnavailable(err: unknown, what: string): PavilionError | undefined {
  if (!isDatabaseUnavailable(err)) return undefined;
  const code = (err as { code: string }).code;
  return new PavilionError('DATABASE_UNAVAILABLE', `${what}: the database is unreachable (${code})`, { cause: err });
}

/**
 * The fields of a Postgres error that never quote data: the SQLSTATE, where in Postgres it failed, and the
 * names of the schema objects involved. Everything else can: `detail` ("Failing row contains (…)"), `where`
 * ("JSON data, line 1: …" with the text before the error), `hint`, `internal_query`, the statement and its
 * parameters, and the message itself ("invalid input syntax for type integer: "…"").
 */
const LOGGABLE_DATABASE_FIELDS = [
  'code',
  'severity',
  'routine',
  'file',
  'line',
  'schema_name',
  'table_name',
  'column_name',
  'data_type',
  'constraint_name',
] as const;

/** What is logged in place of a Postgres error (see `loggableError`). */
export class LoggedDatabaseError extends Error {
  override name = 'PostgresError';
}

/**
 * `err` as it may be logged: a Postgres error becomes a LoggedDatabaseError holding only the fields above and
 * its stack frames; an error whose `cause` chain holds one is copied with that cause replaced (the thrown
 * error is left as it is); anything else is returned unchanged. The broker's logger runs every `err` it
 * logs through here (server/app.ts), since pino's error serialiser logs every field of an error and the
 * message of every cause.
 */
export function loggableError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) || err instanceof LoggedDatabaseError || depth > 8) return err;
  // By name: postgres.js ships an ESM and a CJS build, each with its own PostgresError class.
  if (err.name === 'PostgresError') {
    const from = err as unknown as Record<string, unknown>;
    const routine = typeof from.routine === 'string' ? ` in ${from.routine}` : '';
    const safe = new LoggedDatabaseError(`Postgres error ${String(from.code)}${routine}`);
    for (const field of LOGGABLE_DATABASE_FIELDS)
      if (from[field] !== undefined) Object.assign(safe, { [field]: from[field] });
    // Only the frames: the stack begins with the message, which may run over several lines.
    const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
    safe.stack = [`${safe.name}: ${safe.message}`, ...frames].join('\n');
    return safe;
  }
  const cause = err.cause;
  const safeCause = loggableError(cause, depth + 1);
  if (safeCause === cause) return err;
  const copy = Object.create(Object.getPrototypeOf(err), Object.getOwnPropertyDescriptors(err)) as Error;
  Object.defineProperty(copy, 'cause', { ...Object.getOwnPropertyDescriptor(err, 'cause'), value: safeCause });
  return copy;
}

export interface Database {
  sql: Sql;
  /** Connection string clients can use (embedded: the loopback PGlite server). */
  url: string;
  embedded: boolean;
  /** Whether the server answered the last reachability probe (see `Reachability`); the embedded one always does. */
  reachable(): boolean;
  close(): Promise<void>;
}

/**
 * How long the broker waits on an unreachable server, so that a request answers 503 DATABASE_UNAVAILABLE
 * within about 2 s of an outage instead of queueing behind the driver's reconnection delays
 * (docs/operations.md, "Database outages").
 */
export const DATABASE_TIMEOUTS = {
  /** A TCP connection plus the startup exchange (postgres.js `connect_timeout`; its default is 30 s). */
  connectMs: 2000,
  /**
   * Longest pause before a pool connection tries again after a failed attempt. postgres.js's default grows
   * to 10-20 s after a few failures, and every query waiting for a connection waits that long; a query
   * only waits for one when it is issued, so a short pause costs an idle broker nothing.
   */
  maxBackoffMs: 250,
  /** Between two probes while the server does not answer. */
  probeEveryMs: 250,
  /** A probe not answered within this counts as a failure. */
  probeTimeoutMs: 1000,
};

export interface OpenDatabaseOptions {
  /** A PostgreSQL URL (the broker's DATABASE_URL setting, server/config.ts); absent → embedded PGlite. */
  url?: string;
  /** Embedded only: a folder to persist PGlite's data in; absent → a temporary one (embedded-server.ts). */
  dataDir?: string;
  /** Pool size for a real server (default 10). The embedded server always gets 1, see below. */
  max?: number;
  /** Told when the server stops or starts answering the reachability probe. */
  onReachability?: (reachable: boolean) => void;
}

/** postgres.js's pause before reconnecting after `retries` failed attempts, in seconds, capped (see above). */
export function reconnectBackoff(retries: number): number {
  return Math.min(0.01 * 2 ** retries, DATABASE_TIMEOUTS.maxBackoffMs / 1000);
}

export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<Database> {
  const url = opts.url;
  if (url) {
    const reachability = new Reachability(url, opts.onReachability);
    const sql = postgres(url, {
      max: opts.max ?? 10,
      onnotice: () => {},
      connect_timeout: DATABASE_TIMEOUTS.connectMs / 1000,
      backoff: reconnectBackoff,
      // Every closed connection (the server ended it, or an attempt failed) asks whether the server is
      // still there; an ordinary close costs one `select 1`.
      onclose: () => reachability.suspect(),
    });
    await probe(sql, 'DATABASE_URL');
    return {
      sql,
      url,
      embedded: false,
      reachable: () => reachability.up,
      async close() {
        reachability.close();
        await sql.end({ timeout: 5 });
        await reachability.end();
      },
    };
  }
  return openEmbedded(opts.dataDir);
}

/**
 * Whether the server answers, known without waiting: while it does not, the broker refuses work that needs
 * it at once (server/http/router.ts) instead of queueing queries that would wait for the pool to
 * reconnect. A closed pool connection starts a probe (`select 1` on a connection of its own, so it never
 * waits behind the pool's queue); a failed probe marks the server unreachable and is repeated every
 * `probeEveryMs` until one succeeds. A single ended session (pg_terminate_backend) is answered by the
 * next probe at once and never marks the server down, nor does a server out of connection slots (53300):
 * it answers, and the pool keeps the connections it holds.
 */
class Reachability {
  up = true;
  private probing = false;
  private closed = false;
  private readonly sql: Sql;
  private pause: NodeJS.Timeout | null = null;

  constructor(
    url: string,
    private readonly onChange?: (reachable: boolean) => void,
  ) {
    this.sql = postgres(url, {
      max: 1,
      onnotice: () => {},
      connect_timeout: DATABASE_TIMEOUTS.connectMs / 1000,
      backoff: () => 0,
      idle_timeout: 5,
      fetch_types: false,
      connection: { application_name: 'pavilion-probe' },
    });
  }

  suspect(): void {
    if (!this.probing && !this.closed) void this.run();
  }

  private async run(): Promise<void> {
    this.probing = true;
    try {
      while (!this.closed) {
        const ok = await withDeadline(
          this.sql`select 1`.execute(),
          DATABASE_TIMEOUTS.probeTimeoutMs,
          () => new Error('probe timed out'),
        ).then(
          () => true,
          // Out of connection slots, the server still answers, and the pool keeps the connections it holds.
          (err: { code?: string }) => err?.code === '53300',
        );
        if (this.closed) return;
        if (ok !== this.up) {
          this.up = ok;
          this.onChange?.(ok);
        }
        if (ok) return;
        await new Promise<void>((resolve) => {
          this.pause = setTimeout(resolve, DATABASE_TIMEOUTS.probeEveryMs);
          this.pause.unref();
        });
      }
    } finally {
      this.probing = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.pause) clearTimeout(this.pause);
  }

  end(): Promise<void> {
    return this.sql.end({ timeout: 1 });
  }
}

async function openEmbedded(dataDir: string | undefined): Promise<Database> {
  // PGlite runs on a thread of its own (storage/embedded-server.ts). It is one session: its socket server
  // multiplexes connections per protocol message, so the broker uses one driver connection (postgres.js
  // pipelines on it) and extended-protocol messages of two clients never interleave between Parse and Sync.
  const server = await startEmbeddedServer(dataDir);
  const url = `postgres://postgres@${server.conn}/postgres`;
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await probe(sql, 'embedded PGlite');
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    sql,
    url,
    embedded: true,
    reachable: () => true,
    async close() {
      await sql.end({ timeout: 5 });
      await server.stop();
    },
  };
}

/**
 * Answers of a server that was reached but refused the connection, with what the operator fixes in the setting
 * (SQLSTATE class 28, invalid authorization; 3D000, no such database). A wrong password was reported as
 * "cannot reach Postgres (DATABASE_URL): 28P01", as if the server were down.
 */
const REFUSED_LOGIN: Record<string, string> = {
  '28P01': 'Postgres answered, password authentication failed (28P01): check the user and password in it',
  '28000': "Postgres answered and refused this user (28000): check the user in it and the server's pg_hba.conf",
  '3D000': 'Postgres answered, it has no database of that name (3D000): check the database name in it',
};

async function probe(sql: Sql, what: string): Promise<void> {
  try {
    await sql`select 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    // The driver's message can include the host but never the password; keep
    // only the error code and a fixed text so no credential leaks.
    const code = (err as { code?: string }).code ?? 'unknown';
    const refused = REFUSED_LOGIN[code];
    if (refused) throw invalidSettings([[what, refused]]);
    throw new PavilionError('DATABASE_UNAVAILABLE', `cannot reach Postgres (${what}): ${code}`, { cause: err });
  }
}

/** The advisory lock key that serialises schema changes of processes sharing a database. */
const MIGRATION_LOCK = 'pavilion_migrations';

/**
 * Applies the steps of `component` not yet applied, each in its own
 * transaction, in order. Safe with several processes starting at once: an
 * advisory transaction lock serialises them, and the version check runs under it.
 */
export async function migrate(sql: Sql, component: string, steps: readonly string[]): Promise<void> {
  await sql`
    create table if not exists schema_migrations (
      component text not null,
      version integer not null,
      applied_at timestamptz not null default now(),
      primary key (component, version)
    )`.catch((err: { code?: string }) => {
    // Two processes racing on the very first create: the loser sees a unique
    // violation on pg_type; the table exists either way.
    if (err.code !== '23505' && err.code !== '42P07') throw err;
  });
  for (let version = 1; version <= steps.length; version++) {
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${MIGRATION_LOCK}))`;
      const done = await tx`select 1 from schema_migrations where component = ${component} and version = ${version}`;
      if (done.length > 0) return;
      await tx.unsafe(steps[version - 1]!);
      await tx`insert into schema_migrations (component, version) values (${component}, ${version})`;
    });
  }
}

/**
 * Runs `fn` under the lock `migrate` takes, for schema changes made by code that is not a list of steps (pg-boss's
 * install, server/linkage/queue.ts). The lock is a session lock on a connection reserved for it, and `fn` gets that
 * connection: it must run its statements there, since statements on the pool could wait for a connection this one
 * holds (a pool of one, as the embedded PGlite has). Unlocked when `fn` ends, failed or not.
 */
export async function withMigrationLock<T>(sql: Sql, fn: (session: ReservedSql) => Promise<T>): Promise<T> {
  const session = await sql.reserve();
  try {
    await session`select pg_advisory_lock(hashtext(${MIGRATION_LOCK}))`;
    return await fn(session);
  } finally {
    // Also after a failed lock: unlocking a lock not held only warns.
    await releaseAfter(session, `select pg_advisory_unlock(hashtext('${MIGRATION_LOCK}'))`);
  }
}

/**
 * Gives a reserved connection back to the pool once `cleanup` (a ROLLBACK, an unlock) has run on it. When `cleanup`
 * fails, the session is gone or in a state not known (an open transaction, a lock held): it is ended instead, and
 * never released. postgres.js has no call that closes one connection of a pool, and one released after its socket
 * closed is put among the open connections, where every later query fails (CONNECTION_CLOSED) and it is never
 * connected again; one not released is connected again by the pool when it needs it.
 */
export async function releaseAfter(session: ReservedSql, cleanup: string): Promise<void> {
  try {
    await session.unsafe(cleanup);
  } catch {
    await session`select pg_terminate_backend(pg_backend_pid())`.catch(() => {});
    return;
  }
  session.release();
}
