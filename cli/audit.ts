/**
 * The auditor's tools: `pavilion audit verify` checks one receipt end to end,
 * `pavilion audit monitor` follows a log over time. Neither trusts the
 * operator: every checkpoint is signature-checked with a key the auditor
 * gives (or pinned on first use), every proof is verified locally, and every
 * anchor is read from the chain itself.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { verifyAnchor } from '../anchoring/index.js';
import {
  type AnchorReference,
  type Checkpoint,
  canonicalEvent,
  decodeBase64Strict,
  encodeBase64,
  eventLeafHash,
  openCheckpoint,
  parseReceipt,
  verifyConsistency,
  verifyReceipt,
} from '../audit/index.js';
import { isPavilionError, PavilionError } from '../common/errors.js';
import { AuditClient } from './audit-client.js';

export interface Reporter {
  ok(step: string, detail: string): void;
  fail(step: string, detail: string): void;
  note(text: string): void;
}

export const consoleReporter: Reporter = {
  ok: (step, detail) => console.log(`ok    ${step}: ${detail}`),
  fail: (step, detail) => console.log(`FAIL  ${step}: ${detail}`),
  note: (text) => console.log(`      ${text}`),
};

function describe(err: unknown): string {
  return isPavilionError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}

/** Runs a step; a failure is reported and recorded, never thrown past here. */
async function step<T>(
  r: Reporter,
  failures: string[],
  name: string,
  fn: () => Promise<[T, string]>,
): Promise<T | undefined> {
  try {
    const [value, detail] = await fn();
    r.ok(name, detail);
    return value;
  } catch (err) {
    r.fail(name, describe(err));
    failures.push(name);
    return undefined;
  }
}

export interface VerifyOptions {
  receiptFile: string;
  server?: string;
  rpc?: string;
  logKey?: string;
  token?: string;
  /** The leaf hash from the verification answer's receipt (base64), if the auditor has it. */
  leafHash?: string;
  /** A file with the event (canonical JSON), if the auditor has it. */
  eventFile?: string;
}

/** Returns the names of the failed steps (empty: everything verified). */
export async function auditVerify(opts: VerifyOptions, r: Reporter = consoleReporter): Promise<string[]> {
  const failures: string[] = [];
  const client = opts.server ? new AuditClient(opts.server, opts.token) : undefined;
  const text = await readText(opts.receiptFile);
  const parsed = parseReceipt(text);
  r.note(
    `receipt for leaf ${parsed.index}${parsed.anchor ? `, anchored at size ${parsed.anchor.size} on ${parsed.anchor.chain}` : ', no anchor reference'}`,
  );

  // 1. The key the checkpoint must be signed with.
  let logKey = opts.logKey;
  if (!logKey) {
    if (!client)
      throw new PavilionError(
        'LOG_KEY_REQUIRED',
        "give --log-key, or --server to fetch the key (then trusted on the server's word)",
      );
    logKey = (await client.verifierKey()).verifierKey;
    r.note(`log key fetched from the server (pass --log-key to pin it): ${logKey}`);
  }

  // 2. The leaf the receipt is about.
  const leaf = await step(r, failures, 'leaf', async () => {
    if (opts.leafHash)
      return [
        decodeBase64Strict(opts.leafHash, 'LEAF_HASH_INVALID', '--leaf-hash'),
        'leaf hash given on the command line',
      ];
    if (opts.eventFile) {
      const event = JSON.parse(await readText(opts.eventFile)) as object;
      return [eventLeafHash(canonicalEvent(event)), 'hashed from the event file (RFC 8785, RFC 9162 leaf)'];
    }
    if (!client) throw new PavilionError('LEAF_REQUIRED', 'give --leaf-hash, --event or --server');
    const entry = await client.entry(parsed.index);
    const recomputed = eventLeafHash(canonicalEvent(entry.event as object));
    if (Buffer.compare(recomputed, entry.leafHash) !== 0)
      throw new PavilionError('LEAF_MISMATCH', 'the served event does not hash to the served leaf hash');
    return [recomputed, `event ${parsed.index} fetched and re-hashed`];
  });

  // 3. Checkpoint signature and inclusion proof.
  const verified =
    leaf &&
    (await step(r, failures, 'checkpoint signature and inclusion proof', async () => {
      const v = verifyReceipt(text, [logKey!], { leafHash: leaf });
      return [
        v,
        `leaf ${v.index} is in the tree of size ${v.checkpoint.size} signed by ${v.verifiedBy.join(', ')} for ${v.checkpoint.origin}`,
      ];
    }));
  const checkpoint = verified?.checkpoint;

  // 4. The log today is an extension of the receipt's checkpoint.
  if (client && checkpoint) {
    await step(r, failures, 'consistency with the latest checkpoint', async () => {
      const latest = openCheckpoint(await client.latestCheckpointNote(), [logKey!], {
        origin: checkpoint.origin,
      }).checkpoint;
      await checkConsistency(client, checkpoint, latest);
      return [undefined, `size ${checkpoint.size} → ${latest.size} consistent`];
    });
  }

  // 5. The anchor on chain holds exactly this checkpoint.
  if (parsed.anchor && checkpoint) {
    if (!opts.rpc) {
      r.fail('anchor on chain', 'the receipt names an anchor; give --rpc to check it');
      failures.push('anchor on chain');
    } else {
      await step(r, failures, 'anchor on chain', async () => [
        undefined,
        await checkAnchor(opts.rpc!, parsed.anchor!, checkpoint),
      ]);
    }
  } else if (!parsed.anchor) {
    r.note('no anchor reference yet: the checkpoint is not anchored on chain');
  }
  return failures;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file === '-' ? '/dev/stdin' : file, 'utf8');
  } catch {
    throw new PavilionError('FILE_NOT_FOUND', `${file}: cannot read`);
  }
}

async function checkConsistency(client: AuditClient, older: Checkpoint, newer: Checkpoint): Promise<void> {
  if (newer.size < older.size)
    throw new PavilionError('LOG_ROLLED_BACK', `the log shrank from ${older.size} to ${newer.size}`);
  if (newer.size === older.size) {
    if (Buffer.compare(newer.root, older.root) !== 0)
      throw new PavilionError('LOG_FORKED', `two different roots for size ${older.size}`);
    return;
  }
  if (older.size === 0) return; // every tree extends the empty tree
  const proof = await client.consistencyProof(older.size, newer.size);
  verifyConsistency(older.size, newer.size, proof, older.root, newer.root);
}

async function checkAnchor(rpc: string, anchor: AnchorReference, checkpoint: Checkpoint): Promise<string> {
  if (anchor.size !== checkpoint.size)
    throw new PavilionError('ANCHOR_MISMATCH', `anchor is for size ${anchor.size}, checkpoint has ${checkpoint.size}`);
  const result = await verifyAnchor({
    rpcUrl: rpc,
    chain: anchor.chain,
    contract: anchor.contract,
    tx: anchor.tx,
    block: anchor.block,
    logIndex: anchor.logIndex,
    expected: { origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root },
  });
  if (!result.ok) throw result.error;
  const a = result.anchor;
  return `${a.chain} ${a.contract} tx ${a.tx} block ${a.block} holds size ${a.size} root ${encodeBase64(checkpoint.root)}; ${a.confirmations} confirmation(s), ${a.final ? 'final' : 'not final yet'}`;
}

/** What the monitor remembers between runs. */
interface MonitorState {
  origin: string;
  verifierKey: string;
  size: number;
  root: string;
  /** Largest anchored size already checked on chain. */
  anchoredSize: number;
}

export interface MonitorOptions {
  server: string;
  stateFile: string;
  rpc?: string;
  logKey?: string;
  token?: string;
}

/** One monitoring pass; returns the names of the failed checks. */
export async function auditMonitor(opts: MonitorOptions, r: Reporter = consoleReporter): Promise<string[]> {
  const failures: string[] = [];
  const client = new AuditClient(opts.server, opts.token);
  const previous = await readState(opts.stateFile);

  let logKey = opts.logKey ?? previous?.verifierKey;
  if (!logKey) {
    logKey = (await client.verifierKey()).verifierKey;
    r.note(`first run: pinning the server's log key ${logKey}`);
  } else if (previous && opts.logKey && opts.logKey !== previous.verifierKey) {
    r.note('the given --log-key replaces the pinned one');
  }

  const latest = await step(r, failures, 'latest checkpoint signature', async () => {
    const cp = openCheckpoint(
      await client.latestCheckpointNote(),
      [logKey!],
      previous ? { origin: previous.origin } : {},
    ).checkpoint;
    return [cp, `${cp.origin} size ${cp.size} root ${encodeBase64(cp.root)}`];
  });
  if (!latest) return failures;

  if (previous) {
    await step(r, failures, 'consistency with the last verified checkpoint', async () => {
      const older: Checkpoint = {
        origin: previous.origin,
        size: previous.size,
        root: decodeBase64Strict(previous.root, 'MONITOR_STATE_INVALID', 'the stored root'),
      };
      await checkConsistency(client, older, latest);
      return [undefined, `size ${previous.size} → ${latest.size} consistent`];
    });
  }

  let anchoredSize = previous?.anchoredSize ?? 0;
  if (latest.size > 0) {
    // The receipt of the newest leaf is proven against the smallest anchored
    // checkpoint covering it, when there is one: that names the newest anchor.
    // A failed fetch surfaces as the client's own error (SERVER_ERROR,
    // SERVER_UNREACHABLE), not as an empty receipt misreported as malformed.
    const receipt = parseReceipt(await client.receipt(latest.size - 1));
    const anchor = receipt.anchor;
    if (!anchor) {
      r.note('newest leaves not anchored yet');
    } else if (anchor.size > anchoredSize) {
      await step(r, failures, `anchor of size ${anchor.size}`, async () => {
        const anchored = openCheckpoint(receipt.checkpointNote, [logKey!], { origin: latest.origin }).checkpoint;
        await checkConsistency(client, anchored, latest);
        if (!opts.rpc)
          return [undefined, 'anchored checkpoint consistent with the latest (give --rpc to check the chain)'];
        return [undefined, await checkAnchor(opts.rpc, anchor, anchored)];
      });
      if (!failures.length && opts.rpc) anchoredSize = anchor.size;
    }
  }

  if (failures.length === 0) {
    await writeState(opts.stateFile, {
      origin: latest.origin,
      verifierKey: logKey,
      size: latest.size,
      root: encodeBase64(latest.root),
      anchoredSize,
    });
  }
  return failures;
}

async function readState(file: string): Promise<MonitorState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const invalid = () => new PavilionError('MONITOR_STATE_INVALID', `${file}: not a monitor state file`);
  let s: Partial<MonitorState> | null;
  try {
    s = JSON.parse(text) as Partial<MonitorState> | null;
  } catch {
    throw invalid();
  }
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.origin !== 'string' ||
    typeof s.verifierKey !== 'string' ||
    !Number.isSafeInteger(s.size) ||
    typeof s.root !== 'string' ||
    (s.anchoredSize !== undefined && !Number.isSafeInteger(s.anchoredSize))
  ) {
    throw invalid();
  }
  return s as MonitorState;
}

/** Written to a temporary file and renamed, so a crash never leaves half a state. */
async function writeState(file: string, state: MonitorState): Promise<void> {
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}
