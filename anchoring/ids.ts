/**
 * Names used in every anchor reference.
 *
 * - Chains are CAIP-2 ids, namespace eip155 + the EIP-155 chain id
 *   (`eip155:137` Polygon PoS, `eip155:80002` Amoy).
 * - A log is named on chain by logId = SHA-256(UTF-8 bytes of its C2SP
 *   checkpoint origin line), as bytes32. The origin is the log's unique name
 *   (C2SP tlog-checkpoint), so anyone holding a checkpoint can recompute the id
 *   without asking the operator; hashing gives a fixed 32-byte key whatever the
 *   origin's length.
 */
import { createHash } from 'node:crypto';
import { PavilionError } from '../common/errors.js';

export const POLYGON_MAINNET = 137;
export const POLYGON_AMOY = 80002;

const CAIP2_EIP155 = /^eip155:([1-9][0-9]{0,17})$/;

export function caip2(chainId: number | bigint): string {
  const id = BigInt(chainId);
  if (id <= 0n) throw new PavilionError('ANCHOR_INVALID_CHAIN', 'chain id must be a positive integer');
  return `eip155:${id}`;
}

/** Parses `eip155:<id>`; anything else is a PavilionError ANCHOR_INVALID_CHAIN. */
export function parseCaip2(chain: string): number {
  const m = typeof chain === 'string' ? CAIP2_EIP155.exec(chain) : null;
  const id = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(id)) {
    throw new PavilionError('ANCHOR_INVALID_CHAIN', 'chain must be a CAIP-2 id of the form eip155:<chain id>');
  }
  return id;
}

/** bytes32 (0x-hex, lowercase) naming the log whose checkpoints carry `origin`. */
export function logIdForOrigin(origin: string): string {
  if (typeof origin !== 'string' || origin.length === 0 || origin.includes('\n')) {
    throw new PavilionError('ANCHOR_INVALID_ORIGIN', 'origin must be a non-empty single line');
  }
  return `0x${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}
