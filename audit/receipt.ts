/**
 * Receipts in the C2SP tlog-proof form (c2sp.org/tlog-proof):
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64>            optional: here, the anchor reference as RFC 8785 JSON
 *   index <leaf index>
 *   <inclusion proof hash, base64>   zero or more, leaf's sibling first
 *   <empty line>
 *   <the signed checkpoint, verbatim>
 *
 * The extra data is NOT authenticated by the proof: verifyReceipt checks it
 * is a well-formed anchor reference (this log puts nothing else there) and
 * returns it for the caller (anchoring/) to check on chain.
 */

import { PavilionError } from '../common/errors.js';
import { decodeBase64Strict, encodeBase64 } from './base64.js';
import { type Checkpoint, openCheckpoint } from './checkpoint.js';
import { canonicalEvent, eventLeafHash } from './event.js';
import { canonicalize } from './jcs.js';
import { HASH_SIZE } from './merkle/hash.js';
import { verifyInclusion } from './merkle/verify.js';
import type { NoteVerifier } from './note.js';

export const RECEIPT_HEADER = 'c2sp.org/tlog-proof@v1';

/** Where a checkpoint was anchored on chain (see anchoring/). */
export interface AnchorReference {
  /** CAIP-2 chain id, e.g. `eip155:137`. */
  chain: string;
  /** Anchor contract address, 0x + 40 hex. */
  contract: string;
  /** Transaction hash, 0x + 64 hex. */
  tx: string;
  block: number;
  logIndex: number;
  /** Tree size of the anchored checkpoint. */
  size: number;
}

export interface ParsedReceipt {
  index: number;
  proof: Uint8Array[];
  /** The signed checkpoint note, verbatim. */
  checkpointNote: string;
  /** Raw extra bytes, when present. */
  extra?: Uint8Array;
  /** The extra data parsed as an anchor reference, when it is a well-formed one. */
  anchor?: AnchorReference;
  /** Why the extra data is not a well-formed anchor reference, when it is not. */
  anchorError?: string;
}

export interface VerifiedReceipt extends ParsedReceipt {
  leafHash: Uint8Array;
  checkpoint: Checkpoint;
  verifiedBy: string[];
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const CAIP2 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/;

function malformed(message: string): PavilionError {
  return new PavilionError('RECEIPT_MALFORMED', message);
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Checks an anchor reference's fields. `exact` (used when parsing a receipt)
 * also refuses unknown keys; callers handing in a richer object (anchoring's
 * record with blockHash, logId, …) may, and only the six fields are encoded.
 */
export function assertAnchorReference(a: unknown, exact = false): asserts a is AnchorReference {
  const r = a as Partial<AnchorReference> | null;
  const ok =
    typeof r === 'object' &&
    r !== null &&
    typeof r.chain === 'string' &&
    CAIP2.test(r.chain) &&
    typeof r.contract === 'string' &&
    /^0x[0-9a-fA-F]{40}$/.test(r.contract) &&
    typeof r.tx === 'string' &&
    /^0x[0-9a-fA-F]{64}$/.test(r.tx) &&
    isCount(r.block) &&
    isCount(r.logIndex) &&
    isCount(r.size) &&
    (!exact || Object.keys(r).every((k) => ['chain', 'contract', 'tx', 'block', 'logIndex', 'size'].includes(k)));
  if (!ok)
    throw new PavilionError(
      'ANCHOR_INVALID',
      'anchor reference must be {chain (CAIP-2), contract, tx, block, logIndex, size}',
    );
}

/** The `extra` bytes for an anchor reference: its RFC 8785 canonical JSON. */
export function encodeAnchorExtra(anchor: AnchorReference): Uint8Array {
  assertAnchorReference(anchor);
  const { chain, contract, tx, block, logIndex, size } = anchor;
  return new Uint8Array(Buffer.from(canonicalize({ chain, contract, tx, block, logIndex, size })!, 'utf8'));
}

export function formatReceipt(r: {
  index: number;
  proof: readonly Uint8Array[];
  checkpointNote: string;
  extra?: Uint8Array;
}): string {
  if (!isCount(r.index)) throw malformed('index must be a non-negative safe integer');
  if (r.proof.some((h) => h.length !== HASH_SIZE))
    throw new PavilionError('HASH_LENGTH', 'proof hashes must be 32 bytes');
  if (!r.checkpointNote.endsWith('\n')) throw malformed('checkpoint note must end in a newline');
  const lines = [RECEIPT_HEADER];
  if (r.extra !== undefined) {
    if (r.extra.length === 0) throw malformed('extra data must not be empty');
    lines.push(`extra ${encodeBase64(r.extra)}`);
  }
  lines.push(`index ${r.index}`);
  for (const h of r.proof) lines.push(encodeBase64(h));
  return `${lines.join('\n')}\n\n${r.checkpointNote}`;
}

/** Parses the tlog-proof text strictly (structure only; no signature or proof checks). */
export function parseReceipt(text: string): ParsedReceipt {
  if (typeof text !== 'string') throw malformed('receipt must be text');
  if (text.length > 1 << 20) throw malformed('receipt is too large');
  const blank = text.indexOf('\n\n');
  if (blank < 0) throw malformed('receipt has no blank line before the checkpoint');
  const head = text.slice(0, blank).split('\n');
  const checkpointNote = text.slice(blank + 2);
  if (head[0] !== RECEIPT_HEADER) throw malformed(`first line must be ${RECEIPT_HEADER}`);
  let at = 1;
  let extra: Uint8Array | undefined;
  let anchor: AnchorReference | undefined;
  let anchorError: string | undefined;
  if (head[at]?.startsWith('extra ')) {
    extra = decodeBase64Strict(head[at]!.slice('extra '.length), 'RECEIPT_MALFORMED', 'extra data');
    if (extra.length === 0) throw malformed('extra data must not be empty');
    try {
      anchor = parseAnchorExtra(extra);
    } catch (err) {
      anchorError = (err as Error).message;
    }
    at++;
  }
  const indexLine = head[at];
  if (indexLine === undefined || !indexLine.startsWith('index ')) throw malformed('missing "index <n>" line');
  const indexText = indexLine.slice('index '.length);
  if (!DECIMAL.test(indexText) || !Number.isSafeInteger(Number(indexText)))
    throw malformed('index must be decimal without leading zeros');
  const proof = head.slice(at + 1).map((line, i) => {
    const h = decodeBase64Strict(line, 'RECEIPT_MALFORMED', `proof line ${i + 1}`);
    if (h.length !== HASH_SIZE) throw new PavilionError('HASH_LENGTH', `proof line ${i + 1} is not a 32-byte hash`);
    return h;
  });
  if (checkpointNote.length === 0) throw malformed('receipt has no checkpoint');
  const parsed: ParsedReceipt = { index: Number(indexText), proof, checkpointNote };
  if (extra) parsed.extra = extra;
  if (anchor) parsed.anchor = anchor;
  if (anchorError !== undefined) parsed.anchorError = anchorError;
  return parsed;
}

/**
 * The anchor reference in a receipt's extra data: UTF-8, RFC 8785 canonical
 * JSON with exactly the six fields. Anything else (invalid UTF-8, truncated
 * JSON, other keys, non-canonical text) is ANCHOR_INVALID: this log writes
 * nothing else there, so a malformed reference is a damaged or forged receipt.
 */
export function parseAnchorExtra(extra: Uint8Array): AnchorReference {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(extra);
  } catch {
    throw new PavilionError('ANCHOR_INVALID', 'the anchor reference (extra) is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PavilionError('ANCHOR_INVALID', 'the anchor reference (extra) is not JSON');
  }
  assertAnchorReference(value, true);
  if (canonicalize(value) !== text)
    throw new PavilionError('ANCHOR_INVALID', 'the anchor reference (extra) is not RFC 8785 canonical JSON');
  return value;
}

export interface ReceiptSubject {
  /** The leaf hash, when the caller already has it… */
  leafHash?: Uint8Array;
  /** …or the event itself (object or its canonical JSON text), hashed here. */
  event?: object | string;
}

/**
 * Verifies a receipt: the checkpoint's signature by a trusted key (unknown
 * keys ignored), then the inclusion of the leaf in that checkpoint's tree.
 * Throws a PavilionError (RECEIPT_MALFORMED, NOTE_UNVERIFIED,
 * SIGNATURE_INVALID, CHECKPOINT_ORIGIN, PROOF_LENGTH, ROOT_MISMATCH, ...).
 */
export function verifyReceipt(
  text: string,
  verifierKeys: readonly (string | NoteVerifier)[],
  subject: ReceiptSubject,
  opts: { origin?: string } = {},
): VerifiedReceipt {
  const parsed = parseReceipt(text);
  const { checkpoint, verifiedBy } = openCheckpoint(parsed.checkpointNote, verifierKeys, opts);
  let leaf: Uint8Array;
  if (subject.leafHash !== undefined) {
    leaf = subject.leafHash;
  } else if (subject.event !== undefined) {
    const canonical = canonicalEvent(typeof subject.event === 'string' ? parseEventText(subject.event) : subject.event);
    if (typeof subject.event === 'string' && canonical !== subject.event)
      throw new PavilionError('EVENT_INVALID', 'event text is not in RFC 8785 canonical form');
    leaf = eventLeafHash(canonical);
  } else {
    throw new PavilionError('RECEIPT_SUBJECT_REQUIRED', 'give the leaf hash or the event the receipt is for');
  }
  if (parsed.extra && !parsed.anchor) {
    throw new PavilionError('ANCHOR_INVALID', parsed.anchorError ?? 'the extra data is not an anchor reference');
  }
  if (parsed.anchor && parsed.anchor.size !== checkpoint.size) {
    throw new PavilionError('ANCHOR_INVALID', 'anchor reference is for a different tree size than the checkpoint');
  }
  verifyInclusion(parsed.index, checkpoint.size, leaf, parsed.proof, checkpoint.root);
  return { ...parsed, leafHash: leaf, checkpoint, verifiedBy };
}

function parseEventText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PavilionError('EVENT_INVALID', 'event text is not JSON');
  }
}
