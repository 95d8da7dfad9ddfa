/**
 * A dataset swapped under load with no failed request, each answer naming
 * the version it was computed on; and a restart that reloads the active
 * version from the database (persistent embedded PGlite).
 */
import { describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import { api, b64, dropTestDatabase, perturb, randomClk, startRestartableBroker, startTestBroker } from './helpers.js';

const N = 8_000;
const v1 = Array.from({ length: N }, (_, i) => randomClk(1024, 100_000 + i));
// Version 2: the same people, re-encoded (a few bits differ) and with flipped claims.
const v2 = v1.map((c, i) => perturb(c, 4, i));

function body(clks: Uint8Array[], over18: boolean) {
  return encodeBinaryDataset(
    1024,
    clks.map((clk, i) => ({ ref: `p${i}`, clk })),
    clks.map(() => ({ over_18: over18 })),
  );
}

describe('dataset swap under load', () => {
  it('serves every request while versions swap, each answer consistent with its version', async () => {
    const t = await startTestBroker();
    try {
      await api(t.url, 'PUT', '/v1/datasets/s', {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      const up1 = await api(t.url, 'POST', '/v1/datasets/s/versions', {
        token: t.tokens.dp,
        raw: body(v1, true),
        contentType: 'application/vnd.pavilion.dataset',
      });
      expect(up1.status, up1.text).toBe(201);

      let stop = false;
      const results: { status: number; version?: number; decision?: string; over18?: boolean; text: string }[] = [];
      const worker = async (w: number) => {
        for (let k = 0; !stop; k++) {
          const i = (w * 7919 + k * 31) % N;
          const r = await api(t.url, 'POST', '/v1/verifications', {
            token: t.tokens.rp,
            body: { dataset: 's', clk: b64(perturb(v1[i]!, 2, k)), claims: ['over_18'], purpose: 'age_verification' },
          });
          results.push({
            status: r.status,
            version: r.json?.dataset_version,
            decision: r.json?.decision,
            over18: r.json?.claims?.over_18,
            text: r.text.slice(0, 200),
          });
        }
      };
      const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      // Three swaps while the load runs: v2, v1 again, v2 again.
      const versions: number[] = [];
      // Let each version serve at least a few requests (however slow the machine) before the next swap.
      const served = async (n: number) => {
        const target = results.length + n;
        for (let i = 0; i < 400 && results.length < target; i++) await new Promise((r) => setTimeout(r, 25));
      };
      for (const [clks, flag] of [
        [v2, false],
        [v1, true],
        [v2, false],
      ] as const) {
        await served(16);
        const up = await api(t.url, 'POST', '/v1/datasets/s/versions', {
          token: t.tokens.dp,
          raw: body(clks as Uint8Array[], flag),
          contentType: 'application/vnd.pavilion.dataset',
        });
        expect(up.status, up.text).toBe(201);
        versions.push(up.json.version);
      }
      await served(16);
      stop = true;
      await load;

      expect(versions).toEqual([2, 3, 4]);
      const failed = results.filter((r) => r.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
      expect(results.length).toBeGreaterThanOrEqual(64);
      const seen = new Set(results.map((r) => r.version));
      expect(seen.size).toBeGreaterThanOrEqual(3);
      // Versions 1 and 3 say over_18 true, 2 and 4 false: the claims always come from the version named.
      for (const r of results) {
        expect(r.decision).toBe('match');
        expect(r.over18).toBe(r.version === 1 || r.version === 3);
      }
    } finally {
      await t.broker.close();
    }
  });
});

describe('restart', () => {
  it('reloads the active version and the linkage secret from the database', async () => {
    const { first: a, again: overrides } = await startRestartableBroker();
    const small = v1.slice(0, 500);
    try {
      await api(a.url, 'PUT', '/v1/datasets/r', {
        token: a.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'], allow_broker_encoding: true },
      });
      expect(
        (
          await api(a.url, 'PUT', '/v1/datasets/r/secret', {
            token: a.tokens.dp,
            body: { secret: 'restart secret 0123' },
          })
        ).status,
      ).toBe(204);
      await api(a.url, 'POST', '/v1/datasets/r/versions', {
        token: a.tokens.dp,
        raw: body(small, true),
        contentType: 'application/vnd.pavilion.dataset',
      });
      const up = await api(a.url, 'POST', '/v1/datasets/r/versions', {
        token: a.tokens.dp,
        raw: body(small, false),
        contentType: 'application/vnd.pavilion.dataset',
      });
      expect(up.json.version).toBe(2);
    } finally {
      await a.broker.close();
    }
    // Same state dir (master key, identity key) and same database.
    const b = await startTestBroker({ ...overrides, STATE_DIR: a.stateDir });
    try {
      const r = await api(b.url, 'POST', '/v1/verifications', {
        token: b.tokens.rp,
        body: { dataset: 'r', clk: b64(small[123]!), claims: ['over_18'], purpose: 'age_verification' },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ decision: 'match', score: 1, dataset_version: 2, claims: { over_18: false } });
      const ds = await api(b.url, 'GET', '/v1/datasets/r', { token: b.tokens.rp });
      expect(ds.json).toMatchObject({ active_version: 2, rows: 500 });
      // The sealed secret survived: broker-side encoding works (random CLKs in the dataset, so no match).
      const enc = await api(b.url, 'POST', '/v1/verifications', {
        token: b.tokens.rp,
        body: {
          dataset: 'r',
          record: { given_name: 'ada', surname: 'lovelace', dob: '1990-12-10', postcode: '2000' },
          claims: ['over_18'],
          purpose: 'age_verification',
        },
      });
      expect(enc.status, enc.text).toBe(200);
      expect(enc.json.decision).toBe('no_match');
    } finally {
      await b.broker.close();
      if (a.databaseUrl) await dropTestDatabase(a.databaseUrl);
    }
  });
});

describe('graceful close', () => {
  it('finishes in-flight requests (each answered once its audit entry is durable), then stops accepting', async () => {
    const t = await startTestBroker();
    let closed = false;
    try {
      await api(t.url, 'PUT', '/v1/datasets/g', {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      await api(t.url, 'POST', '/v1/datasets/g/versions', {
        token: t.tokens.dp,
        raw: body(v1, true),
        contentType: 'application/vnd.pavilion.dataset',
      });
      // Warm the connection pool so the burst below reaches the broker at once.
      await api(t.url, 'GET', '/healthz');
      const inflight = Array.from({ length: 20 }, (_, i) =>
        api(t.url, 'POST', '/v1/verifications', {
          token: t.tokens.rp,
          body: { dataset: 'g', clk: b64(v1[i]!), claims: ['over_18'], purpose: 'age_verification' },
        }).then(
          (r) => r.status,
          () => 'refused' as const,
        ),
      );
      await new Promise((r) => setTimeout(r, 20));
      const closing = t.broker.close();
      const outcomes = await Promise.all(inflight);
      await closing;
      closed = true;
      // Each request either completed (200), was refused as a whole while
      // shutting down (503, or the connection was closed before it was sent):
      // none failed half-way (5xx other than 503).
      for (const o of outcomes) expect([200, 503, 'refused']).toContain(o);
      expect(outcomes.filter((o) => o === 200).length).toBeGreaterThan(0);
      const after = await fetch(`${t.url}/healthz`).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(after).toBe('refused');
    } finally {
      if (!closed) await t.broker.close();
    }
  });
});
