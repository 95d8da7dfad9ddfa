/**
 * A version's activation failing in the database (server/datasets/service.ts `activate`,
 * ActiveDatasets.stage): faults injected with a trigger on the activation update of dataset_versions, on a
 * Postgres of the test's own, the broker in a process of its own.
 * - the activation raises: the upload answers a problem, the database keeps the previous version active,
 *   and the broker keeps answering from it (never from the failed one);
 * - the activation is slow: while it is uncommitted, answers still come from the previous version; once
 *   committed, from the new one;
 * - the session is terminated inside the activation (pg_terminate_backend, as an operator or a failover
 *   does): the upload answers 503, the process stays up, the previous version keeps answering.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../../storage/private-postgres.js';
import { b64, randomClk } from '../helpers.js';
import { type ChildBroker, startChildBroker } from './child-broker.js';
import { timed } from './timed.js';

const run = privatePostgresAvailable || Boolean(process.env.CI);
/** Each version holds its own 50 people: a person of one version is no_match against any other. */
const people = (version: number) => Array.from({ length: 50 }, (_, i) => randomClk(1024, 70_000 + version * 1000 + i));

const FAULTS = `
  create table fault_injection (version int primary key, action text not null);
  create function inject_activation_fault() returns trigger language plpgsql as $$
  declare a text;
  begin
    select action into a from fault_injection where version = new.version;
    if a = 'raise' then raise exception 'injected activation fault'; end if;
    if a like 'sleep %' then perform pg_sleep(split_part(a, ' ', 2)::float8); end if;
    return new;
  end $$;
  create trigger inject_activation_fault before update on dataset_versions
    for each row when (new.status = 'active') execute function inject_activation_fault();`;

describe.skipIf(!run)('a failed activation', () => {
  let pg: PrivatePostgres;
  let b: ChildBroker;
  let admin: postgres.Sql;

  const upload = (version: number) =>
    timed(b.url, 'POST', '/v1/datasets/a/versions', {
      token: b.tokens.dp,
      raw: people(version)
        .map((c, i) => JSON.stringify({ ref: `v${version}-${i}`, clk: b64(c), claims: { over_18: true } }))
        .join('\n'),
      contentType: 'application/x-ndjson',
    });
  /** The decision and the version that answered, for person `i` of `version`. */
  const ask = async (version: number, i = 7) => {
    const r = await timed(b.url, 'POST', '/v1/verifications', {
      token: b.tokens.rp,
      body: { dataset: 'a', clk: b64(people(version)[i]!), claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    return { decision: r.json.decision as string, version: r.json.dataset_version as number };
  };
  const stored = async () => {
    const [ds] = await admin`select active_version from datasets where id = 'a'`;
    const versions = await admin`select version, status from dataset_versions where dataset_id = 'a' order by version`;
    return {
      active: ds!.active_version as number,
      statuses: Object.fromEntries(versions.map((v) => [v.version, v.status])),
    };
  };
  /** Waits until the activation of some version sleeps in the trigger; returns that backend's pid. */
  const sleepingActivation = async (): Promise<number> => {
    for (let i = 0; i < 200; i++) {
      const [row] = await admin`select pid from pg_stat_activity
        where state = 'active' and wait_event = 'PgSleep' and query like '%dataset_versions%'`;
      if (row) return row.pid as number;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('the activation never reached the injected sleep');
  };

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    b = await startChildBroker(pg.url);
    admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(FAULTS);
    const def = await timed(b.url, 'PUT', '/v1/datasets/a', {
      token: b.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    expect(def.status).toBe(201);
    expect((await upload(1)).status).toBe(201);
    expect(await ask(1)).toEqual({ decision: 'match', version: 1 });
  });

  afterAll(async () => {
    await admin?.end();
    await b?.stop();
    pg?.destroy();
  });

  it('raises in the database: the previous version keeps answering, the failed one never does', async () => {
    await admin`insert into fault_injection values (2, 'raise')`;
    const r = await upload(2);
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.contentType).toBe('application/problem+json');
    const s = await stored();
    expect(s.active).toBe(1);
    expect(s.statuses[1]).toBe('active');
    expect(s.statuses[2]).not.toBe('active');
    expect(await ask(1)).toEqual({ decision: 'match', version: 1 });
    expect(await ask(2)).toEqual({ decision: 'no_match', version: 1 });
    const ds = await timed(b.url, 'GET', '/v1/datasets/a', { token: b.tokens.rp });
    expect(ds.json.active_version).toBe(1);
  });

  it('is slow to commit: until it commits, answers come from the previous version', async () => {
    await admin`insert into fault_injection values (3, 'sleep 2')`;
    const pending = upload(3);
    await sleepingActivation();
    expect(await ask(3)).toEqual({ decision: 'no_match', version: 1 });
    expect(await ask(1)).toEqual({ decision: 'match', version: 1 });
    expect((await pending).status).toBe(201);
    expect(await ask(3)).toEqual({ decision: 'match', version: 3 });
    expect((await stored()).active).toBe(3);
  });

  it('loses its session (pg_terminate_backend): 503, the process stays up, the previous version answers', async () => {
    await admin`insert into fault_injection values (4, 'sleep 60')`;
    const pending = upload(4);
    const pid = await sleepingActivation();
    await admin`select pg_terminate_backend(${pid})`;
    const r = await pending;
    expect(r.status, JSON.stringify(r.json)).toBe(503);
    expect(r.json.code).toBe('DATABASE_UNAVAILABLE');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.exitCode(), b.stderr().slice(-2000)).toBeNull();
    expect(b.stderr()).not.toMatch(/Cannot read properties of null/);
    expect(await ask(4)).toEqual({ decision: 'no_match', version: 3 });
    expect(await ask(3)).toEqual({ decision: 'match', version: 3 });
    const after = await stored();
    expect(after.active).toBe(3);
    expect(after.statuses[4]).not.toBe('active');
  });
});
