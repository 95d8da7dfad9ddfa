/**
 * `pavilion link`: N:M Dice linkage of two files written by `pavilion encode` (either format).
 * Prints CSV `query_index,dataset_index,score`, ordered like anonlink:
 * score descending, then query index, then dataset index.
 *
 * With `--blocking` (blocklib's lambda-fold config on CLKs: Hamming LSH) or
 * `--dataset-blocks` and `--queries-blocks` (anonlink-client block files, e.g.
 * from `pavilion block`), only candidates sharing a block are compared.
 * `--guidance` writes the threshold guidance (engine/linkage/threshold-guidance.ts)
 * as JSON.
 */

import { isPavilionError, PavilionError } from '../common/errors.js';
import {
  createEngine,
  estimateThresholds,
  type PartyBlocking,
  parseLambdaFold,
  parseRecordBlocks,
} from '../engine/index.js';
import { engineSettings } from '../server/config.js';
import { readClkFile } from './clk-lines.js';
import { readJson } from './encode.js';
import { writeOutputFile } from './output.js';

export interface LinkOptions {
  dataset: string;
  queries: string;
  threshold: number;
  topK?: number;
  threads?: number;
  blocking?: string;
  datasetBlocks?: string;
  queriesBlocks?: string;
  guidance?: string;
}

function blockingFrom(opts: LinkOptions, datasetCount: number, queryCount: number): PartyBlocking | undefined {
  if (opts.blocking && (opts.datasetBlocks || opts.queriesBlocks)) {
    throw new PavilionError('BLOCKING_CONFIG_INVALID', 'use --blocking or block files, not both');
  }
  if (opts.blocking)
    return { type: 'lsh', config: parseLambdaFold(readJson(opts.blocking, 'BLOCKING_CONFIG_INVALID')) };
  if (!opts.datasetBlocks && !opts.queriesBlocks) return undefined;
  if (!opts.datasetBlocks || !opts.queriesBlocks) {
    throw new PavilionError('BLOCKS_INVALID', '--dataset-blocks and --queries-blocks go together');
  }
  return {
    type: 'blocks',
    parties: [
      parseRecordBlocks(readJson(opts.datasetBlocks, 'BLOCKS_INVALID'), datasetCount, opts.datasetBlocks),
      parseRecordBlocks(readJson(opts.queriesBlocks, 'BLOCKS_INVALID'), queryCount, opts.queriesBlocks),
    ],
  };
}

export async function linkCommand(opts: LinkOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [dataset, queries] = await Promise.all([readClkFile(opts.dataset), readClkFile(opts.queries)]);
  if (dataset.filterBits !== queries.filterBits) {
    throw new PavilionError(
      'CLK_LENGTH_MISMATCH',
      `dataset CLKs have ${dataset.filterBits} bits, queries ${queries.filterBits}`,
    );
  }
  const blocking = blockingFrom(opts, dataset.count, queries.count);
  const engine = await createEngine({ ...engineSettings(), ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    const refs = Array.from({ length: dataset.count }, (_, i) => String(i));
    await engine.loadDataset('cli', { refs, clks: dataset.clks, filterBits: dataset.filterBits });
    const { pairs } = await engine.link('cli', queries.clks, { threshold: opts.threshold, topK: opts.topK, blocking });
    // guidance before any output, so a run that cannot give it prints nothing
    if (opts.guidance) {
      const guidance = await estimateThresholds(engine, 'cli', queries.clks, {
        filterBits: dataset.filterBits,
        floor: Math.min(opts.threshold, 0.7),
        policyMinimum: opts.threshold,
      }).catch((err: unknown) => {
        if (!isPavilionError(err) || err.code !== 'GUIDANCE_TOO_FEW_SCORES') throw err;
        throw new PavilionError(err.code, `${err.message}: link more queries, or leave out --guidance for the pairs`);
      });
      await writeOutputFile(opts.guidance, JSON.stringify(guidance, null, 2), {
        '--dataset': opts.dataset,
        '--queries': opts.queries,
        '--dataset-blocks': opts.datasetBlocks,
        '--queries-blocks': opts.queriesBlocks,
      });
    }
    const lines = ['query_index,dataset_index,score'];
    // Number#toString gives the shortest round-trip form, the same digits as Python's repr(float).
    for (const p of pairs) lines.push(`${p.query},${p.index},${p.score}`);
    out.write(`${lines.join('\n')}\n`);
    return pairs.length;
  } finally {
    await engine.close();
  }
}
