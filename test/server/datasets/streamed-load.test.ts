/**
 * A stored version read chunk by chunk straight into the engine (DatasetStore.readVersionInto →
 * ActiveDatasets.stage → Engine.beginDataset), as a broker loads versions at start and on a change: every
 * record keeps its ref, claims and filter across chunk boundaries, answers match those of the same rows loaded
 * whole, and a reader that breaks off serves nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { ActiveDatasets } from '../../../server/datasets/active-datasets.js';
import type { Claims, VersionSink } from '../../../server/datasets/store.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

const BYTES = 128;
const N = 2000;
const CHUNKS = [700, 1, 1299];
const clks = Array.from({ length: N }, (_, i) => randomClk(1024, 900_000 + i));
const refs = Array.from({ length: N }, (_, i) => `ü-${i}-${'x'.repeat(i % 5)}`);
const claims: Claims[] = Array.from({ length: N }, (_, i) => (i % 7 === 0 ? null : { over_18: i % 3 === 0 }));

/** The rows as DatasetStore.readVersionInto hands them over, chunk by chunk. */
async function readInChunks(sink: VersionSink): Promise<number> {
  const filters = sink.begin(N);
  let at = 0;
  for (const n of CHUNKS) {
    for (let i = at; i < at + n; i++) filters.set(clks[i]!, i * BYTES);
    sink.rows(refs.slice(at, at + n), claims.slice(at, at + n));
    at += n;
  }
  return at;
}

let t: TestBroker;
beforeAll(async () => {
  t = await startTestBroker();
}, 60_000);
afterAll(async () => {
  await t?.broker.close();
});

describe('versions loaded chunk by chunk', () => {
  it('keep every ref and claim in place, and answer as the same rows loaded whole', async () => {
    const active = new ActiveDatasets(t.broker.engine);
    const streamed = await active.activate('s', 1, 1024, readInChunks);
    const whole = await active.activate('w', 1, 1024, {
      refs,
      clks: Buffer.concat(clks),
      claims,
    });
    expect(streamed.size).toBe(N);
    for (let i = 0; i < N; i++) {
      expect(streamed.refs.at(i)).toBe(refs[i]);
      expect(streamed.claims.at(i)).toEqual(claims[i]);
      expect(whole.refs.at(i)).toBe(refs[i]);
    }
    for (const i of [0, 699, 700, 701, 1999]) {
      const a = await t.broker.engine.match(streamed.engineId, clks[i]!, { threshold: 0.8, topK: 3 });
      const b = await t.broker.engine.match(whole.engineId, clks[i]!, { threshold: 0.8, topK: 3 });
      expect(a.candidates).toEqual(b.candidates);
      expect(a.candidates[0]).toMatchObject({ index: i, ref: refs[i], score: 1 });
    }
    active.remove('s');
    active.remove('w');
  });

  it('a reader that breaks off, or hands over fewer rows than it announced, serves nothing', async () => {
    const active = new ActiveDatasets(t.broker.engine);
    const broken = (sink: VersionSink) => {
      sink.begin(N);
      sink.rows(refs.slice(0, 10), claims.slice(0, 10));
      return Promise.reject(new Error('connection lost'));
    };
    await expect(active.activate('b', 1, 1024, broken)).rejects.toThrow('connection lost');
    const short = async (sink: VersionSink) => {
      sink.begin(N);
      sink.rows(refs.slice(0, 10), claims.slice(0, 10));
      return 10;
    };
    await expect(active.activate('b', 1, 1024, short)).rejects.toMatchObject({ code: 'DATASET_INVALID' });
    await expect(active.activate('b', 1, 1024, async () => 0)).rejects.toMatchObject({ code: 'DATASET_EMPTY' });
    expect(active.current('b')).toBeUndefined();
  });

  it('a broker loads a stored multi-chunk version (refresh) with each record’s claims', async () => {
    const dp = { subject: 'dp-stream', roles: new Set(['dp'] as const), expiresAt: Number.MAX_SAFE_INTEGER };
    await t.broker.datasets.define(dp as never, 'stored', { schema: loadDemoSchema(), claims: ['over_18'] });
    const store = t.broker.datasetStore;
    const version = await store.beginVersion('stored', 1024, 'dp-stream');
    let at = 0;
    for (const [chunk, n] of CHUNKS.entries()) {
      await store.writeChunk('stored', version, chunk, {
        refs: refs.slice(at, at + n),
        clks: Buffer.concat(clks.slice(at, at + n)),
        claims: claims.slice(at, at + n),
      });
      at += n;
    }
    await store.activateVersion('stored', version, { from: ['loading'], rows: N });
    await t.broker.datasets.refresh('stored');
    for (const i of [1, 699, 700, 701, 702, 1998]) {
      const r = await api(t.url, 'POST', '/v1/verifications', {
        token: t.tokens.rp,
        body: { dataset: 'stored', clk: b64(clks[i]!), claims: ['over_18'], purpose: 'age_verification' },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ decision: 'match', score: 1, dataset_version: version });
      expect(r.json.claims).toEqual(claims[i] ?? {});
    }
  });
});
