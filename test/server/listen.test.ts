/**
 * The broker listens on exactly what it says (server/app.ts): loopback by default, and a port another
 * process already holds is a startup error (uWS would otherwise bind with SO_REUSEPORT and the two would
 * share the traffic).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isPavilionError } from '../../common/errors.js';
import { loadConfig } from '../../server/config.js';
import { startTestBroker, type TestBroker } from './helpers.js';

describe('listening', () => {
  const brokers: TestBroker[] = [];
  afterAll(async () => {
    for (const b of brokers) await b.broker.close();
  });

  it('defaults to loopback, and says where it listens', async () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    const a = await startTestBroker();
    brokers.push(a);
    expect(a.broker.listenAddress).toBe(`127.0.0.1:${a.broker.port}`);
    expect(a.url).toBe(`http://127.0.0.1:${a.broker.port}`);
  });

  it('a second broker on a taken port fails to start with LISTEN_FAILED; the first keeps every request', async () => {
    const first = brokers[0]!;
    const err = await startTestBroker({ PORT: String(first.broker.port) }).then(
      (b) => {
        brokers.push(b);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isPavilionError(err) && err.code).toBe('LISTEN_FAILED');
    expect((err as Error).message).toContain(`127.0.0.1:${first.broker.port}`);
    // Every answer comes from the first broker: its own JWKS, ten times.
    const jwks = await (await fetch(`${first.url}/.well-known/jwks.json`)).text();
    for (let i = 0; i < 10; i++) expect(await (await fetch(`${first.url}/.well-known/jwks.json`)).text()).toBe(jwks);
  });

  it('a taken port is refused before the start-up work: before the database is even reached', async () => {
    const first = brokers[0]!;
    // Nothing answers on port 9: a start that got as far as the database would fail DATABASE_UNAVAILABLE.
    const err = await startTestBroker({
      PORT: String(first.broker.port),
      DATABASE_URL: 'postgres://nobody:x@127.0.0.1:9/none',
    }).then(
      (b) => {
        brokers.push(b);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isPavilionError(err) && err.code).toBe('LISTEN_FAILED');
  });
});
