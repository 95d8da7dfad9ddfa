/**
 * DELETE /v1/datasets/{id}: a data provider withdraws its data. Rows, the
 * sealed secret and cached answers go at once; the id stays the owner's and
 * a re-created dataset never shares version numbers (cache keys) with the old.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { encodeBinaryDataset } from '../../../server/datasets/upload.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 55_000 + i));

async function upload(token: string, rows: Uint8Array[], prefix: string) {
  const r = await api(t.url, 'POST', '/v1/datasets/gone/versions', {
    token,
    raw: encodeBinaryDataset(
      1024,
      rows.map((clk, i) => ({ ref: `${prefix}${i}`, clk })),
      rows.map(() => ({ over_18: true })),
    ),
    contentType: 'application/vnd.pavilion.dataset',
  });
  expect(r.status, r.text).toBe(201);
  return r.json.version as number;
}

const verify = (clk: Uint8Array) =>
  api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'gone', clk: b64(clk), claims: ['over_18'], purpose: 'age_verification' },
  });

beforeAll(async () => {
  t = await startTestBroker();
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('DELETE /v1/datasets/{id}', () => {
  it('only the owner (or an admin) deletes; unknown ids are 404', async () => {
    expect(
      (
        await api(t.url, 'PUT', '/v1/datasets/gone', {
          token: t.tokens.dp,
          body: { schema: loadDemoSchema(), claims: ['over_18'], allow_broker_encoding: true },
        })
      ).status,
    ).toBe(201);
    await upload(t.tokens.dp, clks.slice(0, 30), 'a');
    expectProblem(await api(t.url, 'DELETE', '/v1/datasets/gone', { token: t.tokens.dp2 }), 403, 'DATASET_NOT_OWNER');
    expectProblem(await api(t.url, 'DELETE', '/v1/datasets/gone', { token: t.tokens.rp }), 403);
    expectProblem(await api(t.url, 'DELETE', '/v1/datasets/gone', { token: t.tokens.auditor }), 403);
    expectProblem(await api(t.url, 'DELETE', '/v1/datasets/gone'), 401);
    expectProblem(
      await api(t.url, 'DELETE', '/v1/datasets/never-defined', { token: t.tokens.dp }),
      404,
      'DATASET_NOT_FOUND',
    );
    expect((await verify(clks[3]!)).json.decision).toBe('match');
  });

  it('removes the rows, the secret and the cached answers at once, and says so in the audit log', async () => {
    expect(
      (
        await api(t.url, 'PUT', '/v1/datasets/gone/secret', {
          token: t.tokens.dp,
          body: { secret: 'a linkage secret 123' },
        })
      ).status,
    ).toBe(204);
    // A cached answer that would otherwise outlive the data.
    expect((await verify(clks[4]!)).json).toMatchObject({ decision: 'match', claims: { over_18: true } });
    expect((await verify(clks[4]!)).json.cached).toBe(true);

    const del = await api(t.url, 'DELETE', '/v1/datasets/gone', { token: t.tokens.dp });
    expect(del.status, del.text).toBe(204);
    expectProblem(await api(t.url, 'GET', '/v1/datasets/gone', { token: t.tokens.rp }), 404, 'DATASET_NOT_FOUND');
    expectProblem(await verify(clks[4]!), 404, 'DATASET_NOT_FOUND');
    expectProblem(await api(t.url, 'DELETE', '/v1/datasets/gone', { token: t.tokens.dp }), 404, 'DATASET_NOT_FOUND');

    // Nothing left to purge: the delete already removed the cached answers (LRU and Redis).
    expect(await t.broker.cache.invalidateDataset('gone')).toMatchObject({ lruRemoved: 0, redisRemoved: 0 });

    const sql = t.broker.db.sql;
    expect((await sql`select count(*)::int as n from dataset_chunks where dataset_id = 'gone'`)[0]!.n).toBe(0);
    expect((await sql`select count(*)::int as n from dataset_secrets where dataset_id = 'gone'`)[0]!.n).toBe(0);
    expect(
      (await sql`select status from dataset_versions where dataset_id = 'gone' order by version`).map((r) => r.status),
    ).toEqual(['deleted']);

    const size = await t.broker.audit.size();
    const last = JSON.parse((await t.broker.audit.entry(size - 1)).event);
    expect(last).toMatchObject({ type: 'dataset_deleted', dataset: 'gone', versions: 1 });
  });

  it("the id stays the owner's; re-created, its versions continue and no old answer is served", async () => {
    expectProblem(
      await api(t.url, 'PUT', '/v1/datasets/gone', {
        token: t.tokens.dp2,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      }),
      403,
      'DATASET_NOT_OWNER',
    );
    const again = await api(t.url, 'PUT', '/v1/datasets/gone', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    expect(again.status, again.text).toBe(201);
    expect(again.json).toMatchObject({ active_version: null, rows: 0, owner: 'registry' });
    expectProblem(await verify(clks[4]!), 409, 'DATASET_NOT_READY');
    // The secret went with the data: broker-side encoding needs a new one.
    expect(await t.broker.datasetStore.hasSecret('gone')).toBe(false);
    const version = await upload(t.tokens.dp, clks.slice(30), 'b');
    expect(version).toBe(2);
    const old = await verify(clks[4]!);
    expect(old.json).toMatchObject({ decision: 'no_match', dataset_version: 2 });
    expect(old.json.cached).not.toBe(true);
    expect((await verify(clks[35]!)).json).toMatchObject({ decision: 'match', dataset_version: 2 });
  });
});
