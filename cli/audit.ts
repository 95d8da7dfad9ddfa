/**
 * The auditor's tools: `pavilion audit verify` checks one receipt end to end,
 * `pavilion audit monitor` follows a log over time. Neither trusts the
 * operator: checkpoints are signature-checked with the log keys the auditor
 * pinned (cli/audit-pins.ts), every proof is verified locally, every anchor
 * is read from the contract and chain the auditor pinned, and a witness
 * policy (k of n cosigner keys) is checked when one is pinned.
 *
 * Exit codes of `audit verify` (docs/audit.md): 0 verified and anchored, 1 a
 * check failed, 3 verified but the checkpoint is not anchored yet (or the
 * chain pins are incomplete, so no anchor was read); 2 is a usage error.
 * `audit monitor` (MONITOR_EXIT): 0 consistent, 1 diverged, 3 consistent but the
 * anchors asked for were not read (incomplete chain pins). Both: 4 a check
 * could not be made (CannotCheck: the broker or the chain did not answer, or
 * refused the caller), which says nothing about the receipt or the log.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { type AnchoredEvent, logIdForOrigin, scanAnchors, verifyAnchor } from '../anchoring/index.js';
import {
  type AnchorReference,
  type Checkpoint,
  canonicalEvent,
  checkWitnessPolicy,
  decodeBase64Strict,
  encodeBase64,
  eventLeafHash,
  openCheckpoint,
  parseReceipt,
  verifyConsistency,
  verifyInclusion,
} from '../audit/index.js';
import { isPavilionError, PavilionError } from '../common/errors.js';
import { AuditClient, CannotCheck, noAnswerReason } from './audit-client.js';
import { checkNextBlock, type MonitorState, parseMonitorState } from './audit-monitor-state.js';
import { type AuditorPins, chainPins, checkWitnessPins, missingChainPins } from './audit-pins.js';
import { outputUnwritable } from './output.js';

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

export { CannotCheck } from './audit-client.js';

/**
 * The exit code of `audit verify` and `audit monitor` when a check could not be made (CannotCheck): neither 1,
 * which says the receipt or the log failed a check, nor 2, which main.ts gives usage errors (docs/audit.md).
 */
export const CANNOT_CHECK_EXIT = 4;

/** `audit verify` exit codes. */
export const VERIFY_EXIT = { verified: 0, failed: 1, notAnchored: 3, cannotCheck: CANNOT_CHECK_EXIT } as const;

export type VerifyStatus = 'verified' | 'not-anchored' | 'failed';

export interface VerifyResult {
  status: VerifyStatus;
  /** Names of the failed steps. */
  failures: string[];
  /** False when the chain was not pinned, so whether the receipt is anchored was not looked at. */
  anchorChecked: boolean;
}

function describe(err: unknown): string {
  return isPavilionError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}

/**
 * The chain RPC not answering (the anchoring module's CHAIN_UNREACHABLE, for no answer or no usable one) as
 * CannotCheck, with its cause. Never the RPC URL: it may hold an API key.
 */
function chainNoAnswer(err: PavilionError): CannotCheck {
  const reason = noAnswerReason(err);
  const message = reason === 'no answer' || err.message.includes(reason) ? err.message : `${err.message} (${reason})`;
  return new CannotCheck('CHAIN_UNREACHABLE', `${message}: check --rpc`, { cause: err });
}

/**
 * Runs a step; a failure is reported and recorded, never thrown past here, except errors that say nothing about
 * the receipt or the log: a check that could not be made (CannotCheck, the chain not answering) and a damaged
 * monitor state end the command as `pavilion: CODE: message` (cli/main.ts).
 */
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
    // A damaged monitor state is not a check of the log that failed: it ends the pass, as when it is read.
    if (isPavilionError(err) && err.code === 'MONITOR_STATE_INVALID') throw err;
    if (err instanceof CannotCheck) throw err;
    if (isPavilionError(err) && err.code === 'CHAIN_UNREACHABLE') throw chainNoAnswer(err);
    r.fail(name, describe(err));
    failures.push(name);
    return undefined;
  }
}

export interface VerifyOptions extends AuditorPins {
  receiptFile: string;
  token?: string;
  /** The leaf hash from the verification answer's receipt (base64), if the auditor has it. */
  leafHash?: string;
  /** A file with the event (JSON), if the auditor has it. */
  eventFile?: string;
}

export async function auditVerify(opts: VerifyOptions, r: Reporter = consoleReporter): Promise<VerifyResult> {
  const failures: string[] = [];
  checkWitnessPins(opts);
  if (opts.logKeys.length === 0)
    throw new PavilionError(
      'LOG_KEY_REQUIRED',
      "pin the log's verifier key: --log-key KEY or logKeys in --config (the server's word is not enough)",
    );
  const client = opts.server ? new AuditClient(opts.server, opts.token) : undefined;
  const text = await readText(opts.receiptFile);
  const parsed = parseReceipt(text);
  r.note(
    `receipt for leaf ${parsed.index}${
      parsed.anchor
        ? `, naming an anchor at size ${parsed.anchor.size} on ${parsed.anchor.chain}`
        : parsed.extra
          ? ', with a malformed anchor reference'
          : ', no anchor reference'
    }`,
  );

  // 1. The leaf the receipt is about.
  const leaf = await step(r, failures, 'leaf', async () => {
    if (opts.leafHash)
      return [
        decodeBase64Strict(opts.leafHash, 'LEAF_HASH_INVALID', '--leaf-hash'),
        'leaf hash given on the command line',
      ];
    if (opts.eventFile) return leafOfEventFile(JSON.parse(await readText(opts.eventFile)), parsed.index);
    if (!client) throw new PavilionError('LEAF_REQUIRED', 'give --leaf-hash, --event or --server');
    const entry = await client.entry(parsed.index);
    const recomputed = eventLeafHash(canonicalEvent(entry.event as object));
    if (Buffer.compare(recomputed, entry.leafHash) !== 0)
      throw new PavilionError('LEAF_MISMATCH', 'the served event does not hash to the served leaf hash');
    return [recomputed, `event ${parsed.index} fetched and re-hashed`];
  });

  // 2. Checkpoint signature by a pinned log key, and the inclusion proof.
  const checkpoint =
    leaf &&
    (await step(r, failures, 'checkpoint signature and inclusion proof', async () => {
      const opened = openCheckpoint(parsed.checkpointNote, opts.logKeys, opts.origin ? { origin: opts.origin } : {});
      const cp = opened.checkpoint;
      verifyInclusion(parsed.index, cp.size, leaf, parsed.proof, cp.root);
      return [
        cp,
        `leaf ${parsed.index} is in the tree of size ${cp.size} signed by ${opened.verifiedBy.join(', ')} for ` +
          `${cp.origin}`,
      ];
    }));

  // 3. The witness policy, when one is pinned.
  if (checkpoint && opts.witnesses.length > 0) {
    await step(r, failures, 'witness cosignatures', async () => {
      const result = checkWitnessPolicy(parsed.checkpointNote, {
        witnesses: opts.witnesses,
        threshold: opts.witnessThreshold ?? opts.witnesses.length,
      });
      const who = result.cosignedBy.map((c) => `${c.witness} (${c.algorithm})`).join(', ');
      return [undefined, `${result.cosignedBy.length} of ${opts.witnesses.length} witnesses cosigned: ${who}`];
    });
  }

  // 4. The log today is an extension of the receipt's checkpoint.
  if (client && checkpoint) {
    await step(r, failures, 'consistency with the latest checkpoint', async () => {
      const latest = openCheckpoint(await client.latestCheckpointNote(), opts.logKeys, {
        origin: checkpoint.origin,
      }).checkpoint;
      await checkConsistency(client, checkpoint, latest);
      return [undefined, `size ${checkpoint.size} → ${latest.size} consistent`];
    });
  }

  // 5. The anchor: read from the pinned contract on the pinned chain.
  let anchored = false;
  let unchecked = false;
  if (parsed.extra && !parsed.anchor) {
    r.fail('anchor reference', `ANCHOR_INVALID: ${parsed.anchorError ?? 'not an anchor reference'}`);
    failures.push('anchor reference');
  } else if (checkpoint) {
    const pins = chainPins(opts);
    if (!pins) {
      // Not a failure of the receipt: the anchor was not read, so it is "not anchored" as far as this run
      // knows (exit 3, docs/audit.md). The receipt's own reference proves nothing until read from the chain.
      unchecked = true;
      r.note(
        parsed.anchor
          ? `anchor not checked: the receipt names one; pin ${missingChainPins(opts)} to read it from the chain`
          : `not anchored as far as this check knows: pin ${missingChainPins(opts)} to look on the chain`,
      );
    } else if (parsed.anchor) {
      const reference = parsed.anchor;
      const found = await step(r, failures, 'anchor on chain', async () => {
        try {
          return [true, await checkAnchorReference(pins, reference, checkpoint)];
        } catch (err) {
          if (!staleReference(err)) throw err;
          // Nothing authenticates the reference (docs/audit.md, step 5): a transaction a reorg dropped (the broker
          // posts the same anchor again, in another transaction) failed an honest receipt ANCHOR_NOT_FOUND, exit 1,
          // that verified without its extra line. The contract is read as for a receipt that names no anchor.
          const [onChain, detail] = await findAnchorOnChain(pins, opts.deployBlock, checkpoint, client);
          return [
            onChain,
            `the receipt's reference is not on chain (${describe(err)}); read from the contract: ${detail}`,
          ];
        }
      });
      anchored = found === true;
    } else {
      const found = await step(r, failures, 'anchor on chain', async () => {
        const [onChain, detail] = await findAnchorOnChain(pins, opts.deployBlock, checkpoint, client);
        return [onChain, `the receipt names no anchor; ${detail}`];
      });
      anchored = found === true;
    }
  }

  const status: VerifyStatus = failures.length > 0 ? 'failed' : anchored ? 'verified' : 'not-anchored';
  if (status === 'not-anchored')
    r.note(unchecked ? 'anchor not checked: everything else verified' : 'not anchored yet: everything else verified');
  return { status, failures, anchorChecked: !unchecked };
}

/**
 * The leaf hash of an --event file: the event itself, or what GET /v1/audit/entries/{i} answers,
 * {index, leaf_hash, event}, taken apart (a broker event always has a `type`, that answer never does).
 */
function leafOfEventFile(json: unknown, index: number): [Uint8Array, string] {
  const entry = json as { index?: unknown; leaf_hash?: unknown; event?: unknown } | null;
  const isEntry =
    typeof entry === 'object' &&
    entry !== null &&
    Object.keys(entry).sort().join() === 'event,index,leaf_hash' &&
    typeof entry.event === 'object';
  if (!isEntry) return [eventLeafHash(canonicalEvent(json)), 'hashed from the event file (RFC 8785, RFC 9162 leaf)'];
  if (entry.index !== index)
    throw new PavilionError(
      'LEAF_MISMATCH',
      `the event file is the entry of leaf ${entry.index}, the receipt's is ${index}`,
    );
  const leaf = eventLeafHash(canonicalEvent(entry.event));
  if (typeof entry.leaf_hash !== 'string' || entry.leaf_hash !== encodeBase64(leaf))
    throw new PavilionError('LEAF_MISMATCH', "the event file's event does not hash to its leaf_hash");
  return [leaf, `hashed from the event in the entry file (GET /v1/audit/entries/${index})`];
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

/** The receipt's own reference, checked against the pins first (nothing authenticates `extra`). */
async function checkAnchorReference(
  pins: { rpc: string; chain: string; contract: string },
  anchor: AnchorReference,
  checkpoint: Checkpoint,
): Promise<string> {
  if (anchor.chain !== pins.chain)
    throw new PavilionError(
      'ANCHOR_MISMATCH',
      `the receipt names chain ${anchor.chain}, the pinned chain is ${pins.chain}`,
    );
  if (anchor.contract.toLowerCase() !== pins.contract.toLowerCase())
    throw new PavilionError(
      'ANCHOR_MISMATCH',
      `the receipt names contract ${anchor.contract}, the pinned contract is ${pins.contract}`,
    );
  if (anchor.size !== checkpoint.size)
    throw new PavilionError('ANCHOR_MISMATCH', `anchor is for size ${anchor.size}, checkpoint has ${checkpoint.size}`);
  const result = await verifyAnchor({
    rpcUrl: pins.rpc,
    chain: pins.chain,
    contract: pins.contract,
    tx: anchor.tx,
    block: anchor.block,
    logIndex: anchor.logIndex,
    expected: { origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root },
  });
  if (!result.ok) throw result.error;
  const a = result.anchor;
  return (
    `${a.chain} ${a.contract} tx ${a.tx} block ${a.block} holds size ${a.size} root ` +
    `${encodeBase64(checkpoint.root)}; ${a.confirmations} confirmation(s), ${a.final ? 'final' : 'not final yet'}`
  );
}

/**
 * A reference whose transaction is not (or no longer) where it says: not found, reverted, or dropped or moved by
 * a reorg. Says nothing against the receipt; another root for the size (ANCHOR_MISMATCH) does.
 */
function staleReference(err: unknown): boolean {
  return isPavilionError(err) && (err.code === 'ANCHOR_NOT_FOUND' || err.code === 'ANCHOR_REORGED');
}

const rootHex = (root: Uint8Array) => `0x${Buffer.from(root).toString('hex')}`;

/**
 * No reference in the receipt (or one not on chain): look on chain. The anchor of exactly this size
 * must hold this root; otherwise the smallest larger anchor covers it when a
 * consistency proof from the checkpoint to that anchored root verifies.
 * Resolves to [true, …] when anchored, [false, …] when not (yet).
 */
async function findAnchorOnChain(
  pins: { rpc: string; chain: string; contract: string },
  deployBlock: number | undefined,
  checkpoint: Checkpoint,
  client: AuditClient | undefined,
): Promise<[boolean, string]> {
  const scan = await scanAnchors({
    rpcUrl: pins.rpc,
    chain: pins.chain,
    contract: pins.contract,
    logId: logIdForOrigin(checkpoint.origin),
    ...(deployBlock !== undefined ? { deployBlock } : {}),
  });
  // Finality as checkAnchorReference reports it: an anchor not final yet can still be reorged out.
  const where = (e: AnchoredEvent) =>
    `${pins.chain} ${pins.contract} tx ${e.txHash} block ${e.blockNumber}, ` +
    (scan.finalizedBlock !== null && e.blockNumber <= scan.finalizedBlock ? 'final' : 'not final yet');
  const exact = scan.events.find((e) => e.treeSize === checkpoint.size);
  if (exact) {
    if (exact.root !== rootHex(checkpoint.root))
      throw new PavilionError(
        'ANCHOR_MISMATCH',
        `the chain anchors another root for size ${checkpoint.size} (${where(exact)}): the log forked`,
      );
    return [true, `the chain holds this checkpoint: ${where(exact)}`];
  }
  const later = scan.events.filter((e) => e.treeSize > checkpoint.size).sort((a, b) => a.treeSize - b.treeSize)[0];
  if (!later) return [false, `no anchor of size ≥ ${checkpoint.size} on the pinned contract yet`];
  if (!client) return [false, `an anchor of size ${later.treeSize} may cover it: give --server to prove it`];
  const proof = await client.consistencyProof(checkpoint.size, later.treeSize);
  verifyConsistency(checkpoint.size, later.treeSize, proof, checkpoint.root, decodeHexRoot(later.root));
  return [true, `covered by the anchor of size ${later.treeSize} (consistency proven): ${where(later)}`];
}

function decodeHexRoot(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), 'hex'));
}

/**
 * `pavilion audit pin`: the pins the server publishes (log keys, origin,
 * witnesses, chain, contract, deploy block, RPC URL), as a pins file. Taken
 * on the server's word: check them once against an independent source.
 */
export async function auditPin(opts: {
  server: string;
  token?: string;
  rpc?: string;
  /** Where notes go (tests); default stderr, as stdout is the pins file. */
  note?: (line: string) => void;
}): Promise<Record<string, unknown>> {
  const client = new AuditClient(opts.server, opts.token);
  const key = await client.verifierKey();
  const facts = await client.anchoringFacts();
  const rpc = opts.rpc ?? facts?.rpc_url ?? undefined;
  // Without an RPC URL the file pins a chain and contract that `audit verify` cannot read anchors from.
  if (facts && !rpc)
    (opts.note ?? ((line: string) => process.stderr.write(`${line}\n`)))(
      `warning: the broker publishes no RPC URL for ${facts.chain}: run again with --rpc URL (a node of that ` +
        'chain you trust) or add "rpc" to the file; without it audit verify and monitor do not check anchors',
    );
  return {
    server: opts.server,
    origin: key.origin,
    logKeys: key.verifierKeys,
    ...(facts
      ? {
          chain: facts.chain,
          contract: facts.contract,
          ...(facts.deploy_block !== null ? { deployBlock: facts.deploy_block } : {}),
          ...(rpc ? { rpc } : {}),
        }
      : {}),
    ...(key.witnesses.length > 0 ? { witnesses: [...new Set(key.witnesses)], witnessThreshold: 1 } : {}),
  };
}

export interface MonitorOptions extends AuditorPins {
  server: string;
  stateFile: string;
  token?: string;
}

/** `audit monitor` exit codes (docs/audit.md): verify's 0, 1, 3 and 4, 3 meaning the anchors were not read. */
export const MONITOR_EXIT = { consistent: 0, failed: 1, anchorsNotChecked: 3, cannotCheck: CANNOT_CHECK_EXIT } as const;

export interface MonitorResult {
  /** Names of the failed checks: the log diverged (exit 1). */
  failures: string[];
  /**
   * The anchors were asked for (--rpc, --chain or --contract given, or the state holds the scan position of an
   * earlier pass that read them) but the chain pins are incomplete, so none was read (exit 3, as verify's).
   */
  anchorsNotChecked: boolean;
}

/** One monitoring pass: the names of the failed checks, and whether anchors asked for were left unread. */
export async function auditMonitor(opts: MonitorOptions, r: Reporter = consoleReporter): Promise<MonitorResult> {
  const failures: string[] = [];
  checkWitnessPins(opts);
  const client = new AuditClient(opts.server, opts.token);
  await checkStateWritable(opts.stateFile);
  const previous = await readState(opts.stateFile);

  const logKeys = opts.logKeys.length > 0 ? opts.logKeys : previous ? [previous.verifierKey] : [];
  if (logKeys.length === 0)
    throw new PavilionError('LOG_KEY_REQUIRED', "pin the log's verifier key: --log-key KEY or logKeys in --config");
  if (previous && opts.logKeys.length > 0 && !opts.logKeys.includes(previous.verifierKey))
    r.note('the given log key(s) replace the one in the state file');

  const latest = await step(r, failures, 'latest checkpoint signature', async () => {
    const origin = opts.origin ?? previous?.origin;
    const cp = openCheckpoint(await client.latestCheckpointNote(), logKeys, origin ? { origin } : {}).checkpoint;
    return [cp, `${cp.origin} size ${cp.size} root ${encodeBase64(cp.root)}`];
  });
  if (!latest) return { failures, anchorsNotChecked: false };

  if (opts.witnesses.length > 0) {
    await step(r, failures, 'witness cosignatures on the latest checkpoint', async () => {
      const note = await client.latestCheckpointNote();
      const result = checkWitnessPolicy(note, {
        witnesses: opts.witnesses,
        threshold: opts.witnessThreshold ?? opts.witnesses.length,
      });
      return [undefined, `${result.cosignedBy.length} of ${opts.witnesses.length} witnesses cosigned`];
    });
  }

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

  const next: MonitorState = {
    origin: latest.origin,
    verifierKey: logKeys[0]!,
    size: latest.size,
    root: encodeBase64(latest.root),
    anchoredSize: previous?.anchoredSize ?? 0,
  };
  const pins = chainPins(opts);
  let anchorsNotChecked = false;
  if (!pins) {
    // A restore runbook gave --rpc alone and saw "log consistent", exit 0: an auditor who asked for the anchors
    // and did not get them must not read that as "checked". Pins of no chain at all (a log that does not anchor,
    // watched by a monitor that never read anchors) stay exit 0.
    anchorsNotChecked = Boolean(opts.rpc || opts.chain || opts.contract || previous?.nextBlock !== undefined);
    r.note(
      anchorsNotChecked
        ? `anchors NOT CHECKED: pin ${missingChainPins(opts)} to read them from the chain`
        : `anchors not checked: pin ${missingChainPins(opts)}`,
    );
    // Kept for the next pass that reads them, rather than dropped (which would also hide that anchors were read).
    if (previous?.nextBlock !== undefined)
      Object.assign(next, {
        nextBlock: previous.nextBlock,
        finalAnchoredSize: previous.finalAnchoredSize,
        contract: previous.contract,
        chain: previous.chain,
      });
  } else {
    const sameContract =
      previous?.contract?.toLowerCase() === pins.contract.toLowerCase() && previous?.chain === pins.chain;
    const resume = sameContract ? previous : undefined;
    // The latest checkpoint read again, signature and witness policy checked as the first, and proven an
    // extension of it: what the anchors found beyond the first are judged against (checkAnchors).
    const readAgain = async (): Promise<Checkpoint> => {
      const note = await client.latestCheckpointNote();
      const cp = openCheckpoint(note, logKeys, { origin: latest.origin }).checkpoint;
      if (opts.witnesses.length > 0)
        checkWitnessPolicy(note, {
          witnesses: opts.witnesses,
          threshold: opts.witnessThreshold ?? opts.witnesses.length,
        });
      await checkConsistency(client, latest, cp);
      return cp;
    };
    await checkAnchors(client, pins, opts.deployBlock, latest, readAgain, resume, next, r, failures, opts.stateFile);
  }

  if (failures.length === 0) await writeState(opts.stateFile, next);
  return { failures, anchorsNotChecked };
}

/**
 * Reads the log's Anchored events from the contract (from the deploy block on
 * a fresh state, else from where the last run's finalized horizon was) and
 * checks every anchored (size, root) against the latest verified checkpoint
 * (read again when an anchor is beyond the one read first) with a consistency
 * proof. Events above the finalized block are read again next time, so a reorg
 * cannot hide one.
 */
async function checkAnchors(
  client: AuditClient,
  pins: { rpc: string; chain: string; contract: string },
  deployBlock: number | undefined,
  latest: Checkpoint,
  readAgain: () => Promise<Checkpoint>,
  resume: MonitorState | undefined,
  next: MonitorState,
  r: Reporter,
  failures: string[],
  stateFile: string,
): Promise<void> {
  const scan = await step(r, failures, 'anchors on chain', async () => {
    const s = await scanAnchors({
      rpcUrl: pins.rpc,
      chain: pins.chain,
      contract: pins.contract,
      logId: logIdForOrigin(latest.origin),
      ...(deployBlock !== undefined ? { deployBlock } : {}),
      ...(resume?.nextBlock !== undefined ? { fromBlock: resume.nextBlock } : {}),
    });
    // Thrown past the step: a scan position no pass could have written is a damaged state, not a chain fault.
    if (resume) checkNextBlock(stateFile, resume, s.latestBlock);
    return [s, `${s.events.length} Anchored event(s) for ${latest.origin} in blocks ${s.fromBlock}..${s.latestBlock}`];
  });
  if (!scan) return;
  // An anchor beyond the checkpoint read before the scan is what an honest log shows when the broker anchors a
  // newer checkpoint during the scan (on Polygon a first pass reads hundreds of 10,000-block ranges): that was
  // reported as ANCHOR_AHEAD_OF_LOG and DIVERGENCE. The latest checkpoint is read again and the anchors are
  // judged against it; only one beyond it too (or a checkpoint that does not extend the first) diverges.
  let judge = latest;
  const largest = scan.events.reduce((max, e) => Math.max(max, e.treeSize), 0); // no spread: a scan can be long
  if (largest > latest.size) {
    const fresh = await step(r, failures, 'latest checkpoint read again', async () => {
      const cp = await readAgain();
      return [
        cp,
        `anchors up to size ${largest} are beyond size ${latest.size} read first: size ${cp.size} root ` +
          `${encodeBase64(cp.root)}, consistent with it`,
      ];
    });
    if (fresh) {
      judge = fresh;
      // The state keeps the checkpoint the anchors were checked against (its anchored size is never beyond it).
      next.size = fresh.size;
      next.root = encodeBase64(fresh.root);
    }
  }
  let previousSize = resume?.finalAnchoredSize ?? 0;
  let finalAnchoredSize = previousSize;
  let checked = 0;
  for (const event of scan.events) {
    const ok = await step(r, failures, `anchor of size ${event.treeSize}`, async () => {
      if (event.previousSize !== previousSize)
        throw new PavilionError(
          'ANCHOR_SEQUENCE',
          `the event says the size before was ${event.previousSize}, the chain showed ${previousSize}`,
        );
      if (event.treeSize > judge.size)
        throw new PavilionError(
          'ANCHOR_AHEAD_OF_LOG',
          `anchored size ${event.treeSize} is beyond the log's latest signed checkpoint (${judge.size})`,
        );
      const anchoredRoot = decodeHexRoot(event.root);
      await checkConsistency(client, { origin: judge.origin, size: event.treeSize, root: anchoredRoot }, judge);
      return [
        true,
        `block ${event.blockNumber} tx ${event.txHash}: root ${encodeBase64(anchoredRoot)} consistent with size ` +
          `${judge.size}`,
      ];
    });
    previousSize = event.treeSize;
    if (!ok) continue;
    checked++;
    next.anchoredSize = Math.max(next.anchoredSize, event.treeSize);
    if (scan.finalizedBlock !== null && event.blockNumber <= scan.finalizedBlock) finalAnchoredSize = event.treeSize;
  }
  if (checked === 0 && scan.events.length === 0) r.note('no new anchors on chain');
  next.contract = pins.contract;
  next.chain = pins.chain;
  // Never past the head just read: the blocks in between would never be read (scanAnchors refuses a pinned
  // deploy block beyond the head, checkNextBlock a stored position beyond it).
  next.nextBlock = Math.min(
    scan.finalizedBlock === null ? scan.fromBlock : Math.max(scan.fromBlock, scan.finalizedBlock + 1),
    scan.latestBlock + 1,
  );
  next.finalAnchoredSize = finalAnchoredSize;
}

async function readState(file: string): Promise<MonitorState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    // Only a missing file is a first run: one that cannot be read must not restart the watch from scratch.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new PavilionError('FILE_NOT_FOUND', `--state ${file}: cannot read (${code ?? 'error'})`);
  }
  return parseMonitorState(text, file);
}

/**
 * Refuses a --state the pass could not be kept in (a folder, a missing folder, no permission) before
 * any check runs, rather than after all of them: writeState's temporary file is made here once.
 */
async function checkStateWritable(file: string): Promise<void> {
  const where = `--state ${file}`;
  const found = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw outputUnwritable(where, err);
  });
  if (found && !found.isFile())
    throw new PavilionError(
      'OUTPUT_UNWRITABLE',
      `${where}: ${found.isDirectory() ? 'a folder' : 'not a regular file'}; name the state file itself (the ` +
        'first run creates it)',
    );
  try {
    await (await open(`${file}.tmp`, 'w')).close();
    await rm(`${file}.tmp`, { force: true });
  } catch (err) {
    throw outputUnwritable(where, err);
  }
}

/**
 * Written to a temporary file, flushed to disk, and renamed, so a crash never leaves half a state: without the
 * sync, a power loss after the rename can leave an empty file under the state's name (ext4 and XFS may write
 * the rename before the data), and the monitor would refuse it, losing the pins an auditor relies on.
 */
async function writeState(file: string, state: MonitorState): Promise<void> {
  try {
    const temp = await open(`${file}.tmp`, 'w');
    try {
      await temp.writeFile(`${JSON.stringify(state, null, 2)}\n`);
      await temp.sync();
    } finally {
      await temp.close();
    }
    await rename(`${file}.tmp`, file);
  } catch (err) {
    await rm(`${file}.tmp`, { force: true }).catch(() => undefined);
    throw outputUnwritable(`--state ${file}`, err);
  }
}
