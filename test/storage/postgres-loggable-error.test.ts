/**
 * What of a database error may be logged (storage/postgres.ts, `loggableError`), with errors a real
 * Postgres raises (the server of DATABASE_URL, else the embedded PGlite): the fields and messages that quote
 * data are gone, through pino's own error serialiser and through a `cause` chain; the SQLSTATE stays.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { type Database, LoggedDatabaseError, loggableError, openDatabase } from '../../storage/postgres.js';

const SENTINEL = 'SENTINEL-Jane-Doe-DOB-1970-01-01';
let db: Database;

beforeAll(async () => {
  db = await openDatabase(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL, max: 1 } : {});
}, 60_000);

afterAll(async () => {
  await db?.close();
});

/** The error a statement fails with. */
async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('the statement did not fail');
}

/** One log line, as the broker's logger writes it. */
function logLine(err: unknown): string {
  const lines: string[] = [];
  pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }).error({ err }, 'request failed unexpectedly');
  return lines.join('');
}

describe('loggableError', () => {
  it("keeps a jsonb error's SQLSTATE and routine, not the text `where` quotes before a lone surrogate", async () => {
    const json = `{"a":"${SENTINEL}","b":"x\\udc00"}`;
    const err = await failure(() => db.sql`select ${json}::text::jsonb`);
    // What was logged before: the raw error's `where` quotes the JSON before the error position.
    expect(logLine(err)).toContain(SENTINEL.slice(-10));
    const safe = loggableError(err);
    expect(safe).toBeInstanceOf(LoggedDatabaseError);
    const line = logLine(safe);
    expect(line).not.toContain(SENTINEL.slice(-10));
    expect(line).not.toContain('JSON data');
    const logged = JSON.parse(line).err;
    expect(logged).toMatchObject({ code: '22P02', routine: expect.any(String), type: 'LoggedDatabaseError' });
    for (const field of ['detail', 'where', 'query', 'parameters', 'args', 'hint', 'internal_query', 'position'])
      expect(logged).not.toHaveProperty(field);
    expect(logged.stack).toMatch(/^PostgresError: Postgres error 22P02 in \w+\n\s+at /);
  });

  it('drops a message that quotes the value (invalid input syntax for type integer: "…")', async () => {
    const err = await failure(() => db.sql`select ${SENTINEL}::int`);
    expect(err.message).toContain(SENTINEL);
    expect(logLine(loggableError(err))).not.toContain(SENTINEL);
  });

  it('cleans a database error that is the cause of another, leaving the thrown error as it was', async () => {
    const cause = await failure(() => db.sql`select ${SENTINEL}::int`);
    const err = new PavilionError('DATASET_CORRUPT', 'version 3 does not read back', { cause });
    // pino appends every cause's message to the logged one.
    expect(logLine(err)).toContain(SENTINEL);
    const safe = loggableError(err) as PavilionError;
    expect(safe).toBeInstanceOf(PavilionError);
    expect(safe).toMatchObject({ code: 'DATASET_CORRUPT', message: 'version 3 does not read back' });
    expect(safe.cause).toBeInstanceOf(LoggedDatabaseError);
    expect(logLine(safe)).not.toContain(SENTINEL);
    expect(err.cause).toBe(cause);
  });

  it('returns any other error as it is', () => {
    const err = new Error('boom', { cause: new Error('inner') });
    expect(loggableError(err)).toBe(err);
    expect(loggableError('text')).toBe('text');
  });
});
