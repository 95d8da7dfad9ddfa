/**
 * The `pavilion` command line. Errors with a code print `pavilion: CODE: message`
 * and exit 1 (2 for usage errors, as commander does); no stack traces for
 * expected failures, and never a secret or a record value.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isPavilionError } from '../common/errors.js';
import { auditMonitor, auditVerify } from './audit.js';
import { blockCommand } from './block.js';
import { demoCommand } from './demo.js';
import { encodeCommand } from './encode.js';
import { linkCommand } from './link.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function unitInterval(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('expected a number in [0, 1]');
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
  .addOption(
    new Option('--format <format>', 'one base64 CLK per line, or clkhash JSON {"clks": [...]}')
      .choices(['lines', 'json'])
      .default('lines'),
  )
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .action(async (o) => {
    await encodeCommand({
      schema: o.schema,
      secretFile: o.secretFile,
      in: o.in,
      out: o.out,
      format: o.format,
      threads: o.threads,
    });
  });

program
  .command('link')
  .description('N:M Dice linkage of two CLK files; prints query_index,dataset_index,score')
  .requiredOption('--dataset <file>', 'CLKs as written by `pavilion encode`')
  .requiredOption('--queries <file>', 'CLKs as written by `pavilion encode`')
  .requiredOption('--threshold <t>', 'minimum Dice similarity, 0..1', unitInterval)
  .option('--top-k <k>', 'keep at most k candidates per query', positiveInt)
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .option('--blocking <file>', "Hamming LSH on the CLKs: blocklib's lambda-fold config (JSON, input-clks true)")
  .option('--dataset-blocks <file>', "the dataset's blocks, anonlink-client's form (e.g. from pavilion block)")
  .option('--queries-blocks <file>', "the queries' blocks, anonlink-client's form")
  .option(
    '--guidance <file>',
    'write threshold guidance (score histograms, precision and recall per threshold) as JSON',
  )
  .action(async (o) => {
    await linkCommand({
      dataset: o.dataset,
      queries: o.queries,
      threshold: o.threshold,
      topK: o.topK,
      threads: o.threads,
      blocking: o.blocking,
      datasetBlocks: o.datasetBlocks,
      queriesBlocks: o.queriesBlocks,
      guidance: o.guidance,
    });
  });

program
  .command('block')
  .description("p-sig blocks of a CSV of records (header row), anonlink-client's block form, for pavilion link")
  .requiredOption('--config <file>', "blocklib's p-sig config (JSON)")
  .requiredOption('--in <file>', 'CSV with a header row')
  .option('--out <file>', 'output (default: stdout)')
  .action(async (o) => {
    await blockCommand({ config: o.config, in: o.in, out: o.out });
  });

program
  .command('demo')
  .description('encode synthetic people, load them, and match a re-typed person')
  .option('--records <n>', 'dataset size', positiveInt, 100_000)
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .action(async (o) => {
    await demoCommand({ records: o.records, threads: o.threads });
  });

program
  .command('serve')
  .description('run the broker (settings from environment variables; see the README)')
  .action(async () => {
    await import('../server/main.js');
  });

program
  .command('token')
  .description('mint a development access token the local broker accepts (no OIDC issuer configured)')
  .addOption(new Option('--role <role...>', 'role(s)').choices(['rp', 'dp', 'auditor', 'admin']).makeOptionMandatory())
  .requiredOption('--sub <subject>', 'subject, e.g. the party id')
  .option('--ttl <seconds>', 'lifetime in seconds', positiveInt, 3600)
  .action(async (o) => {
    const { loadConfig } = await import('../server/config.js');
    const { mintDevToken } = await import('../identity/index.js');
    const { join } = await import('node:path');
    const config = loadConfig();
    const token = await mintDevToken({
      role: o.role,
      sub: o.sub,
      ttlSec: o.ttl,
      keyFile: join(config.stateDir, 'identity-key.json'),
      issuer: config.identity.localIssuer,
      audience: config.identity.audience,
    });
    console.log(token);
  });

const audit = program.command('audit').description("auditor's tools: verify receipts, monitor the log");
const tokenOption = () =>
  new Option('--token <jwt>', 'access token for the broker (default: $PAVILION_TOKEN)').env('PAVILION_TOKEN');

audit
  .command('verify')
  .description(
    'check a receipt: checkpoint signature, inclusion, consistency with the latest checkpoint, anchor on chain',
  )
  .argument('<receipt>', 'receipt file (C2SP tlog-proof text), or - for stdin')
  .option('--server <url>', 'broker URL, to fetch the entry, the latest checkpoint and proofs')
  .option('--rpc <url>', 'chain RPC URL, to check the anchor')
  .option('--log-key <key>', 'the log verifier key (note format); otherwise fetched from the server')
  .option('--leaf-hash <base64>', 'leaf hash from the verification answer')
  .option('--event <file>', 'the audit event (JSON) the receipt is for')
  .addOption(tokenOption())
  .action(async (receipt, o) => {
    const failed = await auditVerify({
      receiptFile: receipt,
      server: o.server,
      rpc: o.rpc,
      logKey: o.logKey,
      leafHash: o.leafHash,
      eventFile: o.event,
      token: o.token,
    });
    console.log(failed.length === 0 ? 'receipt verified' : `receipt NOT verified: ${failed.join('; ')}`);
    if (failed.length > 0) process.exitCode = 1;
  });

audit
  .command('monitor')
  .description('check the latest checkpoint is consistent with the last one seen, and each new anchor on chain')
  .requiredOption('--server <url>', 'broker URL')
  .requiredOption('--state <file>', 'where the last verified checkpoint is remembered')
  .option('--rpc <url>', 'chain RPC URL, to check anchors')
  .option('--log-key <key>', 'the log verifier key; otherwise pinned from the server on first run')
  .addOption(tokenOption())
  .action(async (o) => {
    const failed = await auditMonitor({
      server: o.server,
      stateFile: o.state,
      rpc: o.rpc,
      logKey: o.logKey,
      token: o.token,
    });
    console.log(failed.length === 0 ? 'log consistent' : `DIVERGENCE: ${failed.join('; ')}`);
    if (failed.length > 0) process.exitCode = 1;
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
