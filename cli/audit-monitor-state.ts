/**
 * What `pavilion audit monitor` keeps between passes (--state), and the one
 * schema it is read back with. The file is the monitor's own: a value it
 * would never have written is MONITOR_STATE_INVALID, naming the field (never
 * its value), before any check runs. A corrupt state taken as true would be
 * reported as a log that diverged (a negative size), or silently skip
 * anchors (a scan position far beyond the chain).
 *
 * What a pass writes (cli/audit.ts, auditMonitor and checkAnchors), hence the
 * invariants checked here:
 *   - origin, size and root are those of a checkpoint the pass verified: a
 *     non-empty single line, a size in 0..2^53−1, a 32-byte root in canonical
 *     base64 (audit/checkpoint.ts parses checkpoints as strictly);
 *   - verifierKey is the first log key the pass verified with: it parses;
 *   - anchoredSize is the largest anchored size proven consistent with that
 *     checkpoint, so never more than size; finalAnchoredSize is one of those
 *     anchors (or the last pass's), so never more than anchoredSize;
 *   - nextBlock, finalAnchoredSize, contract and chain are written together,
 *     by a pass that read the anchors (with the chain pinned), or not at all
 *     (a pass without the chain pins carries the last ones over unchanged);
 *     contract and chain are the pins anchors were read with;
 *   - nextBlock is at most one past the head of the chain the pass read
 *     (checked against the chain's head when the next pass reads it again:
 *     checkNextBlock).
 */
import { z } from 'zod';
import { decodeBase64Strict, parseVerifierKey } from '../audit/index.js';
import { HASH_SIZE } from '../audit/merkle/hash.js';
import { PavilionError } from '../common/errors.js';
import { safeMessage } from '../common/zod-issues.js';

export interface MonitorState {
  origin: string;
  verifierKey: string;
  size: number;
  root: string;
  /** Largest anchored size checked against the log. */
  anchoredSize: number;
  /** Where the next scan of the contract starts: the block after the last finalized one read. */
  nextBlock?: number;
  /** Size of the last anchor below nextBlock (each Anchored event names the size before it). */
  finalAnchoredSize?: number;
  /** The contract and chain the anchors were read from. */
  contract?: string;
  chain?: string;
}

/** A tree size or block number: an integer in 0..2^53−1. */
const count = (field: string) => {
  const message = `${field} must be a non-negative integer`;
  return z.number({ message }).int({ message }).min(0, { message }).safe({ message });
};

const decodes = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
};

function rootBytes(text: string): Uint8Array {
  const root = decodeBase64Strict(text, 'MONITOR_STATE_INVALID', 'root');
  if (root.length !== HASH_SIZE) throw new PavilionError('MONITOR_STATE_INVALID', 'root must be 32 bytes');
  return root;
}

/** The fields a pass that read the anchors writes together. */
const SCAN_FIELDS = ['nextBlock', 'finalAnchoredSize', 'contract', 'chain'] as const;

const StateFile = z
  .object({
    origin: z
      .string({ message: 'origin must be a string' })
      .regex(/^[^\n]+$/, { message: 'origin must be a non-empty single line' }),
    verifierKey: z
      .string({ message: 'verifierKey must be a string' })
      .refine((k) => decodes(() => parseVerifierKey(k)), { message: 'verifierKey is not a log verifier key' }),
    size: count('size'),
    root: z
      .string({ message: 'root must be a string' })
      .refine((b) => decodes(() => rootBytes(b)), { message: 'root must be 32 bytes in canonical standard base64' }),
    // Written by every version of the monitor; 0 when absent, as before.
    anchoredSize: count('anchoredSize').optional(),
    nextBlock: count('nextBlock').optional(),
    finalAnchoredSize: count('finalAnchoredSize').optional(),
    contract: z
      .string({ message: 'contract must be a string' })
      .regex(/^0x[0-9a-fA-F]{40}$/, { message: 'contract must be a 20-byte 0x address' })
      .optional(),
    chain: z
      .string({ message: 'chain must be a string' })
      .regex(/^eip155:[1-9][0-9]{0,17}$/, { message: 'chain must be a CAIP-2 id eip155:<id>' })
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    // Compared only when both are counts: a negative size is named once, as out of range.
    const isCount = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n >= 0);
    if (!isCount(s.size) || !isCount(s.anchoredSize) || !isCount(s.finalAnchoredSize)) return;
    const anchoredSize = s.anchoredSize ?? 0;
    if (anchoredSize > s.size)
      ctx.addIssue({ code: 'custom', path: ['anchoredSize'], message: 'anchoredSize is beyond size' });
    if (s.finalAnchoredSize !== undefined && s.finalAnchoredSize > anchoredSize)
      ctx.addIssue({
        code: 'custom',
        path: ['finalAnchoredSize'],
        message: 'finalAnchoredSize is beyond anchoredSize',
      });
    const present = SCAN_FIELDS.filter((f) => s[f] !== undefined);
    if (present.length > 0 && present.length < SCAN_FIELDS.length) {
      const missing = SCAN_FIELDS.filter((f) => s[f] === undefined);
      ctx.addIssue({
        code: 'custom',
        path: [missing[0]!],
        message: `${present.join(', ')} without ${missing.join(', ')} (a pass that reads the anchors writes all four)`,
      });
    }
  });

/** MONITOR_STATE_INVALID for the state file: what is wrong, by field name (never a value from the file). */
export function stateInvalid(file: string, detail: string): PavilionError {
  return new PavilionError('MONITOR_STATE_INVALID', `${file}: not a monitor state file: ${detail}`);
}

/** Parses a state file's text; MONITOR_STATE_INVALID naming every field out of its range. */
export function parseMonitorState(text: string, file: string): MonitorState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw stateInvalid(file, 'not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw stateInvalid(file, 'not a JSON object');
  const parsed = StateFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? safeMessage(i)
        : i.code === 'invalid_type' && i.received === 'undefined'
          ? `${i.path.join('.')} is missing`
          : i.message,
    );
    throw stateInvalid(file, [...new Set(problems)].join('; '));
  }
  return { ...parsed.data, anchoredSize: parsed.data.anchoredSize ?? 0 };
}

/**
 * A pass resumes the anchor scan at nextBlock: one more than the head of the chain it read is where
 * it can be, never further (every block in between would be skipped once the chain reached it).
 */
export function checkNextBlock(file: string, state: MonitorState, chainHead: number): void {
  if (state.nextBlock !== undefined && state.nextBlock > chainHead + 1)
    throw stateInvalid(
      file,
      `nextBlock is beyond the head of the chain (block ${chainHead}): not a block a pass read up to (or the RPC ` +
        'node is behind the one the last pass read)',
    );
}
