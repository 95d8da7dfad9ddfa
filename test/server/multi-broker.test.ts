/**
 * Two broker processes on one Postgres database (real server only: LISTEN
 * needs a connection of its own, which the embedded server does not offer).
 * What a data provider changes through one broker — a new version, the
 * linkage secret, a deletion — the other serves too, without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import {
  type ApiResponse,
  api,
  b64,
  dropTestDatabase,
  randomClk,
  startTestBroker,
  type TestBroker,
} from './helpers.js';

const serverUrl = process.env.DATABASE_URL;
const clks = Array.from({ length: 40 }, (_, i) => randomClk(1024, 77_000 + i));
const person = { given_name: 'ada', surname: 'lovelace', dob: '1990-12-10', postcode: '2000' };

/** Asks until `done` holds (the other broker follows within milliseconds; bounded at 10 s). */
async function eventually(ask: () => Promise<ApiResponse>, done: (r: ApiResponse) => boolean): Promise<ApiResponse> {
  let last: ApiResponse | undefined;
  for (let i = 0; i < 200; i++) {
    last = await ask();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never reached: last answer ${last?.status} ${last?.text.slice(0, 200)}`);
}

describe.skipIf(!serverUrl)('two brokers on one database', () => {
  let a: TestBroker;
  let b: TestBroker;

  beforeAll(async () => {
    a = await startTestBroker({}, true);
    // Same database and state folder (master key, development token issuer).
    b = await startTestBroker({ DATABASE_URL: a.databaseUrl!, STATE_DIR: a.stateDir });
  }, 60_000);

  afterAll(async () => {
    await b?.broker.close();
    await a?.broker.close();
    if (a?.databaseUrl) await dropTestDatabase(a.databaseUrl);
  });

  const verifyOn = (t: TestBroker, body: object) => () =>
    api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'shared', claims: ['over_18'], purpose: 'age_verification', ...body },
    });

  const upload = async (rows: Uint8Array[], prefix: string) => {
    const r = await api(a.url, 'POST', '/v1/datasets/shared/versions', {
      token: a.tokens.dp,
      raw: encodeBinaryDataset(
        1024,
        rows.map((clk, i) => ({ ref: `${prefix}${i}`, clk })),
        rows.map(() => ({ over_18: true })),
      ),
      contentType: 'application/vnd.pavilion.dataset',
    });
    expect(r.status, r.text).toBe(201);
    return r.json.version as number;
  };

  it('a version uploaded through one broker is served by the other', async () => {
    const defined = await api(a.url, 'PUT', '/v1/datasets/shared', {
      token: a.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'], allow_broker_encoding: true },
    });
    expect(defined.status, defined.text).toBe(201);
    // Defined but empty on the other broker too (409, not 404).
    await eventually(
      verifyOn(b, { clk: b64(clks[1]!) }),
      (r) => r.status === 409 && r.json.code === 'DATASET_NOT_READY',
    );
    expect(await upload(clks.slice(0, 20), 'v1-')).toBe(1);
    const first = await eventually(verifyOn(b, { clk: b64(clks[1]!) }), (r) => r.status === 200);
    expect(first.json).toMatchObject({ decision: 'match', dataset_version: 1 });

    expect(await upload(clks.slice(20), 'v2-')).toBe(2);
    const second = await eventually(verifyOn(b, { clk: b64(clks[25]!) }), (r) => r.json?.dataset_version === 2);
    expect(second.json.decision).toBe('match');
    expect((await verifyOn(b, { clk: b64(clks[1]!) })()).json).toMatchObject({
      decision: 'no_match',
      dataset_version: 2,
    });
  });

  it('a linkage secret registered through one broker is used by the other', async () => {
    const missing = await verifyOn(b, { record: person })();
    expect(missing.status, missing.text).toBe(409);
    expect(missing.json.code).toBe('DATASET_SECRET_MISSING');
    expect(
      (
        await api(a.url, 'PUT', '/v1/datasets/shared/secret', {
          token: a.tokens.dp,
          body: { secret: 'shared secret 0123' },
        })
      ).status,
    ).toBe(204);
    const encoded = await eventually(verifyOn(b, { record: person }), (r) => r.status === 200);
    expect(encoded.json.decision).toBe('no_match'); // random CLKs in the dataset
  });

  it('a dataset deleted through one broker is no longer served by the other', async () => {
    expect((await api(a.url, 'DELETE', '/v1/datasets/shared', { token: a.tokens.dp })).status).toBe(204);
    const gone = await eventually(verifyOn(b, { clk: b64(clks[25]!) }), (r) => r.status === 404);
    expect(gone.json.code).toBe('DATASET_NOT_FOUND');
    expect((await api(b.url, 'GET', '/v1/datasets/shared', { token: b.tokens.rp })).status).toBe(404);
  });

  it('a dataset deleted and defined again while a broker was away is not served from its old version', async () => {
    expect(
      (
        await api(b.url, 'PUT', '/v1/datasets/again', {
          token: b.tokens.dp,
          body: { schema: loadDemoSchema(), claims: ['over_18'] },
        })
      ).status,
    ).toBe(201);
    const up = await api(b.url, 'POST', '/v1/datasets/again/versions', {
      token: b.tokens.dp,
      raw: encodeBinaryDataset(
        1024,
        clks.map((clk, i) => ({ ref: `x${i}`, clk })),
        clks.map(() => ({ over_18: true })),
      ),
      contentType: 'application/vnd.pavilion.dataset',
    });
    expect(up.status, up.text).toBe(201);
    const ask = () =>
      api(b.url, 'POST', '/v1/verifications', {
        token: b.tokens.rp,
        body: { dataset: 'again', clk: b64(clks[2]!), claims: ['over_18'], purpose: 'age_verification' },
      });
    expect((await ask()).json.decision).toBe('match');
    // Another process deletes it and defines it again, empty; the messages reach b only after both commits.
    const store = a.broker.datasetStore;
    const record = (await store.get('again'))!;
    await store.delete('again');
    await store.upsert({
      id: record.id,
      owner: record.owner,
      schema: record.schema,
      claims: record.claims,
      claimTypes: record.claimTypes,
      filterBits: record.filterBits,
      allowBrokerEncoding: false,
      purposes: null,
    });
    const answer = await eventually(ask, (r) => r.status === 409);
    expect(answer.json.code).toBe('DATASET_NOT_READY');
  });
});
