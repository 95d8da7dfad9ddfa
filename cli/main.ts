/**
 * The `pavilion` command line. Errors with a code print `pavilion: CODE: message`
 * and exit 1 (2 for usage errors, as commander does); no stack traces for
 * expected failures, and never a secret or a record value.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isPavilionError } from '../common/errors.js';
import { encodeCommand } from './encode.js';
import { linkCommand } from './link.js';
import { demoCommand } from './demo.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function unitInterval(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number in [0, 1]');
  return n;
}

const program = new Command('pavilion').description('Pavilion Trust Broker').showHelpAfterError();

program
  .command('encode')
  .description('encode CSV records (header row, columns in schema order) into CLKs, clkhash-compatible')
  .requiredOption('--schema <file>', 'clkhash linkage schema v3 (JSON)')
  .requiredOption('--secret-file <file>', 'file holding the linkage secret')
  .option('--in <file>', 'CSV input (default: stdin)')
  .option('--out <file>', 'output (default: stdout)')
  .addOption(new Option('--format <format>', 'one base64 CLK per line, or clkhash JSON {"clks": [...]}').choices(['lines', 'json']).default('lines'))
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .action(async (o) => {
    await encodeCommand({ schema: o.schema, secretFile: o.secretFile, in: o.in, out: o.out, format: o.format, threads: o.threads });
  });

program
  .command('link')
  .description('N:M Dice linkage of two CLK files; prints query_index,dataset_index,score')
  .requiredOption('--dataset <file>', 'CLKs as written by `pavilion encode`')
  .requiredOption('--queries <file>', 'CLKs as written by `pavilion encode`')
  .requiredOption('--threshold <t>', 'minimum Dice similarity, 0..1', unitInterval)
  .option('--top-k <k>', 'keep at most k candidates per query', positiveInt)
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .action(async (o) => {
    await linkCommand({ dataset: o.dataset, queries: o.queries, threshold: o.threshold, topK: o.topK, threads: o.threads });
  });

program
  .command('demo')
  .description('encode synthetic people, load them, and match a re-typed person')
  .option('--records <n>', 'dataset size', positiveInt, 100_000)
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .action(async (o) => {
    await demoCommand({ records: o.records, threads: o.threads });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (isPavilionError(err)) {
    console.error(`pavilion: ${err.code}: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
