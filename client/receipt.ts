/**
 * Offline receipt verification for relying parties: the C2SP tlog-proof
 * receipt of an answer, checked against the log's verifier key (Ed25519
 * checkpoint signature) and the answer's leaf hash (RFC 9162 inclusion), with
 * no call to the broker. The checks are audit/'s own (audit/receipt.ts,
 * audit/note.ts); in browsers the bundle (client/build.ts) gives them
 * SHA-256 and Ed25519 from @noble/hashes and @noble/curves.
 *
 * This proves the broker committed the answer to its log. That the log
 * itself is the one anchored on chain is `pavilion audit verify`'s part
 * (cli/audit.ts).
 */
import { decodeBase64Strict, encodeBase64 } from '../audit/base64.js';
import { verifyReceipt } from '../audit/receipt.js';
import { PavilionError } from '../common/errors.js';

export interface ReceiptCheck {
  /** Tree size and root of the signed checkpoint the answer is included in. */
  treeSize: number;
  rootHash: string;
  /** The log's origin line. */
  origin: string;
  /** Index of the answer's entry in the log. */
  index: number;
  /** `name+keyid` of the keys whose signatures verified. */
  verifiedBy: string[];
  /** The on-chain anchor the receipt names (not checked here). */
  anchor?: { chain: string; contract: string; tx: string; block: number; logIndex: number; size: number };
}

/**
 * Verifies `receipt` (text) for the answer whose receipt field is `answer`.
 * Throws a PavilionError (NOTE_UNVERIFIED, SIGNATURE_INVALID, ROOT_MISMATCH,
 * RECEIPT_MALFORMED, RECEIPT_MISMATCH…) when it does not hold.
 */
export function verifyReceiptOffline(
  receipt: string,
  logKey: string | readonly string[],
  answer: { index: number; leaf_hash: string; origin?: string },
): ReceiptCheck {
  const leafHash = decodeBase64Strict(answer.leaf_hash, 'RECEIPT_MISMATCH', 'leaf_hash');
  const keys = typeof logKey === 'string' ? [logKey] : [...logKey];
  const v = verifyReceipt(receipt, keys, { leafHash }, answer.origin ? { origin: answer.origin } : {});
  if (v.index !== answer.index)
    throw new PavilionError('RECEIPT_MISMATCH', `the receipt is for entry ${v.index}, the answer's is ${answer.index}`);
  return {
    treeSize: v.checkpoint.size,
    rootHash: encodeBase64(v.checkpoint.root),
    origin: v.checkpoint.origin,
    index: v.index,
    verifiedBy: v.verifiedBy,
    ...(v.anchor ? { anchor: v.anchor } : {}),
  };
}
