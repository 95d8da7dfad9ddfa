/**
 * `pavilion link`: N:M Dice linkage of two files written by `pavilion encode`.
 * Prints CSV `query_index,dataset_index,score`, ordered like anonlink:
 * score descending, then query index, then dataset index.
 */

import { PavilionError } from '../common/errors.js';
import { createEngine } from '../engine/index.js';
import { engineSettings } from '../server/config.js';
import { readClkLines } from './clk-lines.js';

export interface LinkOptions {
  dataset: string;
  queries: string;
  threshold: number;
  topK?: number;
  threads?: number;
}

export async function linkCommand(opts: LinkOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [dataset, queries] = await Promise.all([readClkLines(opts.dataset), readClkLines(opts.queries)]);
  if (dataset.filterBits !== queries.filterBits) {
    throw new PavilionError(
      'CLK_LENGTH_MISMATCH',
      `dataset CLKs have ${dataset.filterBits} bits, queries ${queries.filterBits}`,
    );
  }
  const engine = await createEngine({ ...engineSettings(), ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    const refs = Array.from({ length: dataset.count }, (_, i) => String(i));
    await engine.loadDataset('cli', { refs, clks: dataset.clks, filterBits: dataset.filterBits });
    const { pairs } = await engine.link('cli', queries.clks, { threshold: opts.threshold, topK: opts.topK });
    const lines = ['query_index,dataset_index,score'];
    // Number#toString gives the shortest round-trip form, the same digits as Python's repr(float).
    for (const p of pairs) lines.push(`${p.query},${p.index},${p.score}`);
    out.write(`${lines.join('\n')}\n`);
    return pairs.length;
  } finally {
    await engine.close();
  }
}
