/**
 * The registry of relying parties and data providers that have used the
 * broker (component "parties"): subject, roles, tenant, first and last seen.
 * Written off the request path: a subject is upserted at most once per
 * REFRESH_MS per process, and a failed write is logged, never surfaced.
 */
import type { Logger } from 'pino';
import type { Principal } from '../../identity/index.js';
import type { Sql } from '../../storage/postgres.js';
import { migrate } from '../../storage/postgres.js';

const MIGRATIONS = [
  `create table parties (
     subject text primary key,
     roles text[] not null,
     tenant text,
     first_seen timestamptz not null default now(),
     last_seen timestamptz not null default now()
   );`,
];

const REFRESH_MS = 10 * 60_000;
const MAX_TRACKED = 100_000;

export interface Party {
  subject: string;
  roles: string[];
  tenant: string | null;
  first_seen: string;
  last_seen: string;
}

export class PartyRegistry {
  private readonly seen = new Map<string, number>();

  private constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  static async open(sql: Sql, log: Logger): Promise<PartyRegistry> {
    await migrate(sql, 'parties', MIGRATIONS);
    return new PartyRegistry(sql, log);
  }

  /** Notes that `principal` used the broker; cheap when recently noted. */
  touch(principal: Principal): void {
    const now = Date.now();
    const last = this.seen.get(principal.subject);
    if (last !== undefined && now - last < REFRESH_MS) return;
    if (this.seen.size >= MAX_TRACKED) this.seen.clear();
    this.seen.set(principal.subject, now);
    const roles = [...principal.roles].sort();
    void this.sql`
      insert into parties (subject, roles, tenant)
      values (${principal.subject}, ${this.sql.array(roles)}, ${principal.tenant ?? null})
      on conflict (subject) do update set roles = excluded.roles, tenant = excluded.tenant, last_seen = now()`.catch(
      (err: { code?: string }) => {
        this.seen.delete(principal.subject);
        this.log.warn({ code: err.code ?? 'unknown' }, 'party registry write failed');
      },
    );
  }

  async list(limit = 1000): Promise<Party[]> {
    const rows = await this.sql<
      { subject: string; roles: string[]; tenant: string | null; first_seen: Date; last_seen: Date }[]
    >`
      select subject, roles, tenant, first_seen, last_seen from parties order by subject limit ${limit}`;
    return rows.map((r) => ({
      subject: r.subject,
      roles: r.roles,
      tenant: r.tenant,
      first_seen: r.first_seen.toISOString(),
      last_seen: r.last_seen.toISOString(),
    }));
  }
}
