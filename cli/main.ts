/**
 * The `pavilion` command line. Errors with a code print `pavilion: CODE: message`
 * and exit 1 (`audit verify` and `monitor`: 4 when a check could not be made);
 * usage errors (commander's message and the command's help) exit 2; no stack
 * traces for expected failures, and never a secret or a record value.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isCodedError, PavilionError } from '../common/errors.js';

// Each command's module is imported when it runs: `audit` alone loads ethers
// (~0.2 s of CPU), which `encode` on a small file should not pay for.

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

const collectValues = (v: string, all: string[] = []) => [...all, v];

/** Whether a broker URL is one fetch can ask: http or https, nothing else. */
function isHttpUrl(v: string): boolean {
  return URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol);
}

/**
 * Every --server: refused here, before any work, when it is not an http(s) URL; else a host name
 * without its scheme reached fetch and failed as "the broker did not answer".
 */
function serverUrl(v: string): string {
  if (!isHttpUrl(v)) throw new InvalidArgumentError('expected an http(s) URL, e.g. https://broker.example');
  return v;
}

/** --rpc of `anchor deploy`: an http(s) URL (ethers' JSON-RPC over fetch). */
function rpcUrl(v: string): string {
  if (!isHttpUrl(v)) throw new InvalidArgumentError('expected an http(s) URL of a JSON-RPC node');
  return v;
}

/** `tab` (or a literal `\t`) for a tab; any other value is checked by the CSV reader. */
function delimiterOption(v: string): string {
  return v === 'tab' || v === '\\t' ? '\t' : v;
}

/** How a CSV is read, the same for every command that reads one (cli/encode.ts inputColumns). */
const csvDelimiter = () =>
  new Option('--delimiter <char>', "field delimiter: one character, or 'tab'").argParser(delimiterOption).default(',');
/** encode and verify; publish needs its header row (the ref and claim columns are found by name). */
const csvNoHeader = () =>
  new Option(
    '--no-header',
    "the input has no header row: columns in the schema's feature order, ignored ones included",
  );

/**
 * A usage error (unknown command or option, missing or invalid argument) exits 2, help and version 0.
 * Commander's own exit code for a usage error is 1, which `pavilion audit verify` gives a failed check
 * (docs/audit.md, "Exit codes"): an auditor's script took a mistyped option for a receipt not to trust.
 * Subcommands inherit the override (commander copies it to each command made after it is set).
 */
const program = new Command('pavilion')
  .description('Pavilion Trust Broker')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('encode')
  .description('encode CSV records into CLKs, clkhash-compatible; header columns are matched to the schema by name')
  .requiredOption('--schema <file>', 'clkhash linkage schema v3 (JSON)')
  .requiredOption('--secret-file <file>', 'file holding the linkage secret')
  .option('--in <file>', 'CSV input (default: stdin)')
  .addOption(csvNoHeader())
  .addOption(csvDelimiter())
  .option('--out <file>', 'output (default: stdout)')
  .addOption(
    new Option('--format <format>', 'one base64 CLK per line, or clkhash JSON {"clks": [...]}')
      .choices(['lines', 'json'])
      .default('lines'),
  )
  .option(
    '--threads <n>',
    'encoding threads, the main one included (default: one per core from 3 cores up; 1 below 2 MiB)',
    positiveInt,
  )
  .action(async (o) => {
    const { encodeCommand } = await import('./encode.js');
    await encodeCommand({
      schema: o.schema,
      secretFile: o.secretFile,
      in: o.in,
      out: o.out,
      format: o.format,
      threads: o.threads,
      header: o.header,
      delimiter: o.delimiter,
    });
  });

program
  .command('link')
  .description('N:M Dice linkage of two CLK files; prints query_index,dataset_index,score')
  .requiredOption('--dataset <file>', 'CLKs as written by `pavilion encode` (one per line, or --format json)')
  .requiredOption('--queries <file>', 'CLKs as written by `pavilion encode` (one per line, or --format json)')
  .requiredOption('--threshold <t>', 'minimum Dice similarity, 0..1', unitInterval)
  .option('--top-k <k>', "keep at most k candidates per query (anonlink's dice_coefficient k)", positiveInt)
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .option('--blocking <file>', "Hamming LSH on the CLKs: blocklib's lambda-fold config (JSON, input-clks true)")
  .option('--dataset-blocks <file>', "the dataset's blocks, anonlink-client's form (e.g. from pavilion block)")
  .option('--queries-blocks <file>', "the queries' blocks, anonlink-client's form")
  .option(
    '--guidance <file>',
    'write threshold guidance (score histograms, precision and recall per threshold) as JSON',
  )
  .action(async (o) => {
    const { linkCommand } = await import('./link.js');
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
    const { blockCommand } = await import('./block.js');
    await blockCommand({ config: o.config, in: o.in, out: o.out });
  });

program
  .command('demo')
  .description('encode synthetic people, load them, and match a re-typed person')
  .option('--records <n>', 'dataset size', positiveInt, 100_000)
  .option('--threads <n>', 'worker threads (default: one per core)', positiveInt)
  .action(async (o) => {
    const { demoCommand } = await import('./demo.js');
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
  .description(
    "mint a development access token signed with the local broker's key (found in its STATE_DIR; never made here)",
  )
  .addOption(new Option('--role <role...>', 'role(s)').choices(['rp', 'dp', 'auditor', 'admin']).makeOptionMandatory())
  .requiredOption('--sub <subject>', 'subject, e.g. the party id')
  .option('--ttl <seconds>', 'lifetime in seconds', positiveInt, 3600)
  .option('--tenant <tenant>', 'tenant claim')
  .option(
    '--state-dir <dir>',
    "the broker's STATE_DIR (default: $STATE_DIR, else .pavilion here, above, or at the package root)",
  )
  .option('--server <url>', 'also check that the broker at this URL signs with that key', serverUrl)
  .action(async (o) => {
    const { tokenCommand } = await import('./token.js');
    console.log(
      await tokenCommand({
        role: o.role,
        sub: o.sub,
        ttl: o.ttl,
        ...(o.tenant !== undefined ? { tenant: o.tenant } : {}),
        ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
        ...(o.server !== undefined ? { server: o.server } : {}),
      }),
    );
  });

program
  .command('verify')
  .description(
    'verify people against a dataset: each CSV row is encoded here (client library), only its CLK is sent; one ' +
      'JSON line per row',
  )
  .requiredOption('--server <url>', 'broker URL', serverUrl)
  .requiredOption('--dataset <id>', 'dataset to verify against')
  .requiredOption('--secret-file <file>', "file holding the dataset's linkage secret (from its data provider)")
  .requiredOption('--purpose <purpose>', 'a purpose the policy knows (GET /v1/policy)')
  .requiredOption(
    '--in <file>',
    "CSV with a header row, its columns matched to the dataset schema's features by name (any order)",
  )
  .addOption(csvNoHeader())
  .addOption(csvDelimiter())
  .option('--claims <names>', 'comma-separated claims to reveal (default: none, a match-only question)', '')
  .option('--consent', "the people's consent accompanies the request")
  .option('--check-receipts', "verify each answer's receipt offline (log signature and inclusion)")
  .addOption(new Option('--token <jwt>', 'access token (default: $PAVILION_TOKEN)').env('PAVILION_TOKEN'))
  .action(async (o) => {
    const { verifyCommand } = await import('./verify.js');
    const failed = await verifyCommand({
      server: o.server,
      ...(o.token ? { token: o.token } : {}),
      dataset: o.dataset,
      secretFile: o.secretFile,
      purpose: o.purpose,
      claims: String(o.claims)
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
      ...(o.consent ? { consent: true } : {}),
      in: o.in,
      header: o.header,
      delimiter: o.delimiter,
      ...(o.checkReceipts ? { checkReceipts: true } : {}),
    });
    if (failed > 0) process.exitCode = 1;
  });

const tokenFrom = () =>
  new Option('--token <jwt>', 'access token, role dp (default: $PAVILION_TOKEN)').env('PAVILION_TOKEN');
const printJson = (v: unknown) => console.log(JSON.stringify(v, null, 2));

program
  .command('publish')
  .description(
    "a data provider's upload: CSV in (a ref column, the schema's features, claim columns) → encoded here → " +
      'claims checked against their declared types → uploaded as a staged version (docs/data-providers.md)',
  )
  .option('--server <url>', 'broker URL (its dataset definition gives the schema and claim types)', serverUrl)
  .requiredOption('--dataset <id>', 'dataset to publish a version of')
  .requiredOption('--secret-file <file>', 'file holding the linkage secret')
  .requiredOption('--in <file>', 'CSV with a header row')
  .option('--ref-column <name>', "the column of each record's id (never shown to relying parties)", 'ref')
  .option('--claim-type <name:type>', 'type of a claim the dataset declares by name only; repeat', collectValues)
  .addOption(csvDelimiter())
  // The three ends of a publish: a dry run, a live version, a file. Two together did only one, in silence.
  .addOption(
    new Option(
      '--dry-run',
      'check only: the broker reports rows, claims, duplicate and empty CLKs; nothing is stored',
    ).conflicts(['activate', 'out']),
  )
  .addOption(
    new Option(
      '--activate',
      'activate the version once staged (refused when it has under half the active rows)',
    ).conflicts('out'),
  )
  .option('--allow-shrink', 'with --activate: activate even when the version has under half the active rows')
  .option('--out <file>', 'write the upload (JSONL) to this file for the pull route instead of sending it')
  .option('--schema <file>', 'with --out and no --server: the linkage schema')
  .addOption(tokenFrom())
  .action(async (o) => {
    const { publishCommand } = await import('./publish.js');
    printJson(
      await publishCommand({
        ...(o.server ? { server: o.server } : {}),
        ...(o.token ? { token: o.token } : {}),
        dataset: o.dataset,
        secretFile: o.secretFile,
        in: o.in,
        refColumn: o.refColumn,
        ...(o.claimType ? { claimTypes: o.claimType } : {}),
        delimiter: o.delimiter,
        ...(o.schema ? { schema: o.schema } : {}),
        ...(o.out ? { out: o.out } : {}),
        dryRun: o.dryRun === true,
        activate: o.activate === true,
        allowShrink: o.allowShrink === true,
      }),
    );
  });

const dataset = program
  .command('dataset')
  .description("a data provider's versions: list, activate, roll back, discard, publish from the object store");
const datasetCommand = (name: string, description: string) =>
  dataset
    .command(name)
    .description(description)
    .requiredOption('--server <url>', 'broker URL', serverUrl)
    .requiredOption('--dataset <id>', 'dataset id')
    .addOption(tokenFrom());
datasetCommand('versions', 'every version, newest first: status, rows, what each upload held').action(async (o) => {
  const { versionsCommand } = await import('./publish.js');
  printJson(await versionsCommand({ server: o.server, token: o.token, dataset: o.dataset }));
});
datasetCommand('activate', 'serve a staged version (or the previous one)')
  .requiredOption('--version <n>', 'the version', positiveInt)
  .action(async (o) => {
    const { activateCommand } = await import('./publish.js');
    printJson(await activateCommand({ server: o.server, token: o.token, dataset: o.dataset, version: o.version }));
  });
datasetCommand('rollback', 'serve the previous version again').action(async (o) => {
  const { rollbackCommand } = await import('./publish.js');
  printJson(await rollbackCommand({ server: o.server, token: o.token, dataset: o.dataset }));
});
datasetCommand('discard', 'discard a staged version (or the previous one); its rows go')
  .requiredOption('--version <n>', 'the version', positiveInt)
  .action(async (o) => {
    const { discardCommand } = await import('./publish.js');
    printJson(await discardCommand({ server: o.server, token: o.token, dataset: o.dataset, version: o.version }));
  });
datasetCommand('pull', 'publish a file from the object store (written by publish --out) and wait for it')
  .requiredOption('--object <key>', 'key below datasets/<id>/ in the object store')
  // The broker refuses an object whose name does not say its format (PULL_FORMAT_UNKNOWN) unless it is named.
  .addOption(
    new Option(
      '--format <format>',
      "the object's format: jsonl (what publish --out writes) or binary (PVDS); default: from its name " +
        '(.jsonl, .ndjson, .pvds)',
    ).choices(['jsonl', 'binary']),
  )
  .option('--secret-file <file>', 'the linkage secret, to declare its fingerprint')
  .option('--activate', 'activate the version once pulled (default: staged)')
  .action(async (o) => {
    const { pullCommand } = await import('./publish.js');
    printJson(
      await pullCommand({
        server: o.server,
        token: o.token,
        dataset: o.dataset,
        object: o.object,
        ...(o.format ? { format: o.format } : {}),
        ...(o.secretFile ? { secretFile: o.secretFile } : {}),
        activate: o.activate === true,
      }),
    );
  });

const audit = program.command('audit').description("auditor's tools: verify receipts, monitor the log");
const tokenOption = () =>
  new Option('--token <jwt>', 'access token for the broker (default: $PAVILION_TOKEN)').env('PAVILION_TOKEN');
const collect = (v: string, all: string[] = []) => [...all, v];
function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\d{1,15}$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a block number');
  return n;
}
/** The pins every auditor command takes (cli/audit-pins.ts); a --config file holds the same. */
function pinOptions(cmd: Command): Command {
  return cmd
    .option(
      '--config <file>',
      'JSON file of pins: server, rpc, chain, contract, deployBlock, logKeys, origin, witnesses, witnessThreshold',
    )
    .option('--log-key <key>', "the log's verifier key (note format); repeat for retired keys", collect)
    .option('--origin <origin>', "the log's origin (checkpoint first line)")
    .option('--rpc <url>', 'chain RPC URL, to read the anchors')
    .option('--chain <id>', 'the anchoring chain: EIP-155 id or CAIP-2 (eip155:137)')
    .option('--contract <address>', 'the MerkleAnchor contract')
    .option('--deploy-block <n>', "the contract's deploy block (where reading anchors starts)", nonNegativeInt)
    .option('--witness <key>', 'a trusted witness cosigner key; repeat for each', collect)
    .option('--witness-threshold <k>', 'how many of the --witness keys must have cosigned (default: all)', positiveInt)
    .addOption(tokenOption());
}
async function pinsFrom(o: Record<string, unknown>) {
  const { loadPins } = await import('./audit-pins.js');
  const pins = await loadPins({
    config: o.config as string | undefined,
    server: o.server as string | undefined,
    rpc: o.rpc as string | undefined,
    chain: o.chain as string | undefined,
    contract: o.contract as string | undefined,
    deployBlock: o.deployBlock as number | undefined,
    logKeys: o.logKey as string[] | undefined,
    origin: o.origin as string | undefined,
    witnesses: o.witness as string[] | undefined,
    witnessThreshold: o.witnessThreshold as number | undefined,
  });
  // --server was checked by serverUrl; a server from the --config file is checked the same way.
  if (pins.server !== undefined && !isHttpUrl(pins.server))
    throw new PavilionError('PINS_INVALID', `${o.config}: server is not an http(s) URL`);
  return pins;
}

/**
 * `audit verify` and `audit monitor`: a check that could not be made (the broker or the chain did not answer, or
 * refused the caller: CannotCheck, cli/audit-client.ts) prints `pavilion: CODE: message` and exits 4, apart from
 * 1 (the receipt or the log failed a check) and 2 (usage), so a cron job can tell an outage from an attack.
 */
async function auditCheck(run: () => Promise<void>): Promise<void> {
  const { CannotCheck, CANNOT_CHECK_EXIT } = await import('./audit.js');
  try {
    await run();
  } catch (err) {
    if (!(err instanceof CannotCheck)) throw err;
    console.error(`pavilion: ${err.code}: ${err.message}`);
    process.exitCode = CANNOT_CHECK_EXIT;
  }
}

pinOptions(
  audit
    .command('verify')
    .description(
      'check a receipt: log signature, inclusion, witnesses, consistency with the latest checkpoint, anchor on ' +
        'chain. ' +
        'Exit 0 verified and anchored, 1 failed, 3 verified but not anchored yet, 4 could not check (the broker or ' +
        'the chain did not answer, or refused the caller)',
    )
    .argument('<receipt>', 'receipt file (C2SP tlog-proof text), or - for stdin')
    .option('--server <url>', 'broker URL, to fetch the entry, the latest checkpoint and proofs', serverUrl)
    .option('--leaf-hash <base64>', 'leaf hash from the verification answer')
    .option('--event <file>', 'the audit event (JSON) the receipt is for'),
).action(async (receipt, o) => {
  const { auditVerify, VERIFY_EXIT } = await import('./audit.js');
  const pins = await pinsFrom(o);
  await auditCheck(async () => {
    const result = await auditVerify({
      ...pins,
      receiptFile: receipt,
      leafHash: o.leafHash,
      eventFile: o.event,
      token: o.token,
    });
    console.log(
      result.status === 'verified'
        ? 'receipt verified and anchored'
        : result.status === 'not-anchored'
          ? `receipt verified, ${result.anchorChecked ? 'NOT ANCHORED yet' : 'anchor NOT CHECKED (chain not pinned)'}`
          : `receipt NOT verified: ${result.failures.join('; ')}`,
    );
    process.exitCode =
      result.status === 'verified'
        ? VERIFY_EXIT.verified
        : result.status === 'not-anchored'
          ? VERIFY_EXIT.notAnchored
          : VERIFY_EXIT.failed;
  });
});

pinOptions(
  audit
    .command('monitor')
    .description(
      'check the latest checkpoint extends the last one seen, and every anchor on the pinned contract. ' +
        'Exit 0 consistent, 1 diverged, 3 consistent but the anchors asked for were not read (chain pins ' +
        'incomplete), 4 could not check (the broker or the chain did not answer, or refused the caller)',
    )
    .option('--server <url>', 'broker URL', serverUrl)
    .requiredOption('--state <file>', 'where the last verified checkpoint and the anchor scan position are kept'),
).action(async (o) => {
  const pins = await pinsFrom(o);
  if (!pins.server) throw new PavilionError('SERVER_REQUIRED', 'give --server or server in --config');
  const { auditMonitor, MONITOR_EXIT } = await import('./audit.js');
  const server = pins.server;
  await auditCheck(async () => {
    const result = await auditMonitor({ ...pins, server, stateFile: o.state, token: o.token });
    const { failures } = result;
    console.log(
      failures.length > 0
        ? `DIVERGENCE: ${failures.join('; ')}`
        : result.anchorsNotChecked
          ? 'log consistent, anchors NOT CHECKED (chain not pinned)'
          : 'log consistent',
    );
    process.exitCode =
      failures.length > 0
        ? MONITOR_EXIT.failed
        : result.anchorsNotChecked
          ? MONITOR_EXIT.anchorsNotChecked
          : MONITOR_EXIT.consistent;
  });
});

audit
  .command('pin')
  .description(
    "write a pins file from the server's published facts (log key, origin, chain, contract, deploy block); " +
      'check them once against an independent source, then use it with --config',
  )
  .requiredOption('--server <url>', 'broker URL', serverUrl)
  .option('--rpc <url>', 'RPC URL to record (default: the one the server publishes, if any)')
  .addOption(tokenOption())
  .action(async (o) => {
    const { auditPin } = await import('./audit.js');
    console.log(JSON.stringify(await auditPin({ server: o.server, token: o.token, rpc: o.rpc }), null, 2));
  });

const anchorCommand = program.command('anchor').description('the MerkleAnchor contract ANCHORING=rpc anchors to');

anchorCommand
  .command('deploy')
  .description(
    'deploy MerkleAnchor from the account of $ANCHOR_PRIVATE_KEY (the environment, never a flag), which owns it ' +
      'and anchors; waits for the receipt and prints ANCHOR_CONTRACT, ANCHOR_DEPLOY_BLOCK and ANCHOR_CHAIN_ID',
  )
  .requiredOption('--rpc <url>', "JSON-RPC URL of a node of the chain (the broker's ETH_RPC_URL)", rpcUrl)
  .option(
    '--chain-id <n>',
    'refuse unless the RPC serves this EIP-155 chain (137 Polygon PoS, 80002 Amoy)',
    positiveInt,
  )
  .action(async (o) => {
    const { anchorDeploy } = await import('./anchor.js');
    const lines = await anchorDeploy({ rpc: o.rpc, chainId: o.chainId, privateKey: process.env.ANCHOR_PRIVATE_KEY });
    console.log(lines.join('\n'));
  });

const witness = program
  .command('witness')
  .description('a C2SP tlog-witness: cosigns checkpoints of the configured logs, refuses forks');

witness
  .command('serve')
  .description('serve add-checkpoint (C2SP tlog-witness) for the logs in the config')
  .requiredOption('--config <file>', 'witness JSON config: name, key file, state file, logs (see witness/README.md)')
  .action(async (o) => {
    const { runWitnessFromConfig } = await import('../audit/witness/index.js');
    await runWitnessFromConfig(o.config);
  });

witness
  .command('keygen')
  .description('generate a witness cosigner key (Ed25519 or ML-DSA-44); prints the secret and the verifier key')
  .requiredOption('--name <name>', 'the witness name, e.g. witness.example.org/w1')
  .addOption(new Option('--algorithm <alg>', 'cosignature type').choices(['ed25519', 'ml-dsa-44']).default('ed25519'))
  .action(async (o) => {
    const { generateCosignerKey, parseCosignerKey } = await import('../audit/index.js');
    const secret = generateCosignerKey(o.name, o.algorithm);
    console.log(`signer key (secret):  ${secret}`);
    console.log(`verifier key:         ${parseCosignerKey(secret).verifierKey}`);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (isCodedError(err)) {
    // The broker's own words for a request without a token name a header, not the option that sends it.
    const hint =
      err.code === 'AUTH_MISSING' && !err.message.includes('--token') ? ': pass --token or set $PAVILION_TOKEN' : '';
    console.error(`pavilion: ${err.code}: ${err.message}${hint}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
