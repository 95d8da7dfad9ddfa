/**
 * server/support/outage-log.ts: the first failure of an outage, then at most one line a minute with the count, then
 * one line when it works again; a database that does not answer is logged without a stack. A real pino logger
 * writing to an array, and the clock handed in (the minute is not waited for).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PavilionError } from '../../../common/errors.js';
import { OutageLog } from '../../../server/support/outage-log.js';

function logger() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

const down = () =>
  new PavilionError('DATABASE_UNAVAILABLE', 'checkpoint signing: the database is unreachable (ECONNREFUSED)');

describe('OutageLog', () => {
  it('logs the first failure, then once a minute with the count, then the recovery with the total', () => {
    const { log, lines } = logger();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const outage = new OutageLog(log, 'audit checkpoint', 60_000, () => now);
    outage.succeeded(); // nothing failed: nothing to say
    for (let s = 0; s < 150; s++) {
      outage.failed(down());
      now += 1000;
    }
    expect(lines.map((l) => l.msg)).toEqual([
      'audit checkpoint failed',
      'audit checkpoint still failing (61 failures since the first)',
      'audit checkpoint still failing (121 failures since the first)',
    ]);
    expect(lines[0]).toMatchObject({
      level: 50,
      code: 'DATABASE_UNAVAILABLE',
      reason: 'checkpoint signing: the database is unreachable (ECONNREFUSED)',
    });
    expect(lines[0]).not.toHaveProperty('err'); // no stack for a known outage
    expect(lines[1]).toMatchObject({ failures: 61, since: '2026-01-01T00:00:00.000Z' });
    outage.succeeded();
    outage.succeeded();
    expect(lines.slice(3)).toEqual([
      expect.objectContaining({ level: 30, msg: 'audit checkpoint works again after 150 failure(s)', failures: 150 }),
    ]);
    // The next outage starts over.
    outage.failed(down());
    expect(lines.at(-1)).toMatchObject({ msg: 'audit checkpoint failed' });
  });

  it('any other error keeps err and its stack', () => {
    const { log, lines } = logger();
    new OutageLog(log, 'audit checkpoint').failed(new PavilionError('LOG_CORRUPT', 'stored tree edge does not match'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'audit checkpoint failed',
      err: { message: 'stored tree edge does not match' },
    });
    expect((lines[0]!.err as { stack: string }).stack).toMatch(/\n\s+at /);
  });
});
