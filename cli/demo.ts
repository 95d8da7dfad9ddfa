/**
 * `pavilion demo`: encode a synthetic dataset, load it into the engine and
 * look up one person typed with a typo — the whole compute path in a few
 * seconds, on synthetic data only.
 */
import { randomBytes } from 'node:crypto';
import { loadDemoSchema, syntheticPeople, withTypo } from '../demo/people.js';
import { createEngine } from '../engine/index.js';
import { engineSettings } from '../server/config.js';

export async function demoCommand(opts: { records: number; threads?: number }): Promise<void> {
  const schema = loadDemoSchema();
  // A fresh random linkage secret per run: the demo never needs to reproduce CLKs.
  const secret = randomBytes(32).toString('base64');
  const people = syntheticPeople(opts.records);
  const engine = await createEngine({ ...engineSettings(), ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    let t = performance.now();
    const clks = await engine.encode(schema, secret, people);
    const encodeMs = performance.now() - t;
    const filterBytes = clks.length / people.length;
    const info = await engine.loadDataset('demo', { refs: people.map((p) => p[0]), clks, filterBits: filterBytes * 8 });
    console.log(`engine: ${engine.threads} worker(s), ${engine.kernel} Dice kernel`);
    console.log(
      `encoded ${people.length} synthetic people in ${encodeMs.toFixed(0)} ms ` +
        `(${Math.round(people.length / (encodeMs / 1000))} records/s); dataset v${info.version} loaded, ` +
        `${info.filterBits}-bit CLKs`,
    );

    const target = people[Math.floor(people.length / 2)]!;
    const query = await engine.encode(schema, secret, [withTypo(target)]);
    t = performance.now();
    const { candidates } = await engine.match('demo', query, { threshold: 0.8, topK: 3 });
    const matchMs = performance.now() - t;
    console.log(
      `query: record ${target[0]} re-typed with a surname typo; 1:N search over ${people.length} CLKs took ` +
        `${matchMs.toFixed(2)} ms`,
    );
    for (const c of candidates)
      console.log(
        `  candidate ${c.ref}  dice ${c.score.toFixed(4)}${c.ref === target[0] ? '  <- the same person' : ''}`,
      );
    if (candidates.length === 0) console.log('  no candidate at or above 0.8');
  } finally {
    await engine.close();
  }
}
