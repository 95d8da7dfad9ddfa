/**
 * What the linkage job tests share: datasets published with one identifying claim per record (so results
 * can be compared with the engine's record numbers although the broker renumbers records per job), jobs
 * submitted and followed over HTTP, and CLKs of the seeded population (demo/population) encoded with
 * clkhash's FEBRL schema.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { fromRoot } from '../../../common/paths.js';
import { loadDemoSchema } from '../../../demo/people.js';
import type { Population } from '../../../demo/population/generator.js';
import type { Engine } from '../../../engine/index.js';
import { encodeBinaryDataset } from '../../../server/datasets/upload.js';
import { type ApiResponse, api, b64, perturb, randomClk, type TestBroker } from '../helpers.js';

/** Releases `license_class`, which these datasets fill with "<dataset>:<row>"; min_score 0.85. */
export const PURPOSE = 'license_check';
export const POLICY_MINIMUM = 0.85;
export const BITS = 1024;
const BYTES = BITS / 8;

export const febrlSchema = JSON.parse(
  readFileSync(fromRoot('test', 'fixtures', 'clkhash', 'febrl_schema_v3_final.json'), 'utf8'),
);

/** Defines dataset `name` and publishes `clks` as its version 1; record i carries license_class "<name>:<i>". */
export async function publish(t: TestBroker, name: string, clks: readonly Uint8Array[]): Promise<void> {
  const defined = await api(t.url, 'PUT', `/v1/datasets/${name}`, {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['license_class'] },
  });
  expect(defined.status, defined.text).toBe(201);
  const up = await api(t.url, 'POST', `/v1/datasets/${name}/versions`, {
    token: t.tokens.dp,
    raw: encodeBinaryDataset(
      BITS,
      clks.map((clk, i) => ({ ref: `${name}-${i}`, clk })),
      clks.map((_, i) => ({ license_class: `${name}:${i}` })),
    ),
    contentType: 'application/vnd.pavilion.dataset',
  });
  expect(up.status, up.text).toBe(201);
}

export function submit(t: TestBroker, body: Record<string, unknown>): Promise<ApiResponse> {
  return api(t.url, 'POST', '/v1/linkage-jobs', {
    token: t.tokens.rp,
    body: { purpose: PURPOSE, claims: ['license_class'], threshold: POLICY_MINIMUM, ...body },
  });
}

/** Polls the job until it ends (bounded): its last view. */
export async function settled(t: TestBroker, id: string, timeoutMs = 240_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(t.url, 'GET', `/v1/linkage-jobs/${id}`, { token: t.tokens.rp });
    expect(r.status, r.text).toBe(200);
    if (r.json.status === 'done' || r.json.status === 'failed') return r.json;
    if (Date.now() > until) throw new Error(`job ${id} still ${r.json.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Submits, waits for the end, and fetches the results of a job that must succeed. */
export async function runJob(t: TestBroker, body: Record<string, unknown>): Promise<{ job: any; results: any }> {
  const r = await submit(t, body);
  expect(r.status, r.text).toBe(202);
  const job = await settled(t, r.json.id);
  expect(job, JSON.stringify(job)).toMatchObject({ status: 'done' });
  const results = await api(t.url, 'GET', `/v1/linkage-jobs/${r.json.id}/results`, { token: t.tokens.rp });
  expect(results.status, results.text).toBe(200);
  return { job, results: results.json };
}

/** A two-party pair as "query|dataset:row|score": comparable with the engine's pairs. */
export const pairKey = (p: { query: number; claims: { license_class?: string }; score: number }): string =>
  `${p.query}|${p.claims.license_class}|${p.score}`;

/** The engine's pairs of `queries` against a dataset loaded in `engine` as `id`, keyed as pairKey does. */
export async function bruteForcePairs(
  engine: Engine,
  id: string,
  queries: Uint8Array,
  threshold: number,
): Promise<string[]> {
  const { pairs } = await engine.link(id, queries, { threshold });
  return pairs.map((p) => `${p.query}|${id}:${p.index}|${p.score}`).sort();
}

export const concat = (clks: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(clks.length * BYTES);
  clks.forEach((c, i) => {
    out.set(c, i * BYTES);
  });
  return out;
};

export const split = (joined: Uint8Array): Uint8Array[] =>
  Array.from({ length: joined.length / BYTES }, (_, i) => joined.subarray(i * BYTES, (i + 1) * BYTES));

/** Each party's CLKs of a seeded population, encoded with the FEBRL schema. */
export async function encodePopulation(engine: Engine, pop: Population, parties: number): Promise<Uint8Array[][]> {
  const out: Uint8Array[][] = [];
  for (let p = 0; p < parties; p++) out.push(split(await engine.encode(febrlSchema, 'jobs-test', pop.records(p))));
  return out;
}

/**
 * Random CLKs for jobs sized by their work (brute force): a dataset of `size` and `queries` queries, of which
 * every 50th is a slightly changed copy of a dataset record (a match at about 0.98).
 */
export function randomParties(
  size: number,
  queries: number,
  seed: number,
): { dataset: Uint8Array[]; queries: Uint8Array[] } {
  const dataset = Array.from({ length: size }, (_, i) => randomClk(BITS, seed + i));
  const q = Array.from({ length: queries }, (_, i) =>
    i % 50 === 0 ? perturb(dataset[(i * 7) % size]!, 6, i + 1) : randomClk(BITS, seed + size + i),
  );
  return { dataset, queries: q };
}

export const clksOf = (clks: readonly Uint8Array[]): string[] => clks.map(b64);

/** The broker's Dice comparisons so far (/metrics): which broker did work. */
export async function comparisonsOf(t: TestBroker): Promise<number> {
  const r = await api(t.url, 'GET', '/metrics');
  const m = /^pavilion_dice_comparisons_total (\S+)$/m.exec(r.text);
  return Number(m?.[1] ?? 0);
}
