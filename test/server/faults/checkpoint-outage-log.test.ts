/**
 * Postgres stopped under a broker (a server of the test's own, test/storage/private-postgres.ts): the checkpoint
 * timer fails every tick, even with nothing to sign, and each failure was logged at error level with a full stack
 * (an outside probe counted 82 lines in 80 s). Now the outage's first failure is one line without a stack, and
 * its end one line with the count (server/support/outage-log.ts; the once-a-minute repeat is its unit test's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../../storage/private-postgres.js';
import { startTestBroker, type TestBroker } from '../helpers.js';

const run = privatePostgresAvailable || Boolean(process.env.CI);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!run)('audit checkpoint failures while Postgres is stopped', () => {
  let pg: PrivatePostgres;
  let t: TestBroker;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    t = await startTestBroker({ DATABASE_URL: pg.url, AUDIT_CHECKPOINT_MS: '50' });
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
    pg?.destroy();
  });

  const lines = (msg: RegExp) => t.logs.map((l) => JSON.parse(l)).filter((l) => msg.test(l.msg));

  it('one line when the outage begins (no stack), one when checkpoints work again', async () => {
    await t.broker.audit.checkpoint(); // the tree size equals the checkpoint size: nothing to sign
    pg.stop('fast');
    try {
      // Many ticks of the 50 ms timer fail meanwhile.
      for (let i = 0; i < 100 && lines(/^audit checkpoint failed/).length === 0; i++) await sleep(50);
      await sleep(1500);
    } finally {
      pg.start();
    }
    for (let i = 0; i < 200 && lines(/^audit checkpoint works again/).length === 0; i++) await sleep(50);

    const failed = lines(/^audit checkpoint (failed|still failing)/);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50, msg: 'audit checkpoint failed', code: 'DATABASE_UNAVAILABLE' });
    expect(failed[0]).not.toHaveProperty('err');
    const back = lines(/^audit checkpoint works again/);
    expect(back).toHaveLength(1);
    expect(back[0].failures).toBeGreaterThan(1);
  }, 60_000);
});
