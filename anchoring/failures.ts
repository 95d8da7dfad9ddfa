/**
 * How the anchorer names what went wrong: a stable code and a message free of
 * URLs and secrets for its status, and which failures are the infrastructure's
 * (retry the whole pass later) rather than one anchor's (note it, go on).
 */
import { Interface } from 'ethers';
import { PavilionError } from '../common/errors.js';
import { isChainUnreachable, rpcErrorMessage } from './chain.js';
import { merkleAnchorInterface } from './contract.js';

export interface AnchorerError {
  code: string;
  message: string;
  at: Date;
}

export function invalidCheckpoint(field: string): PavilionError {
  return new PavilionError('CHECKPOINT_INVALID', `checkpoint from the source has an invalid ${field}`);
}

const PG_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P03',
  '08006',
  '08001',
]);

export function databaseFailure(err: unknown): PavilionError {
  if (err instanceof PavilionError) return err;
  const code = (err as { code?: unknown })?.code;
  return new PavilionError(
    'DATABASE_UNAVAILABLE',
    `anchoring database error (${typeof code === 'string' ? code : 'unknown'})`,
    { cause: err },
  );
}

export function isRetryableInfrastructure(err: unknown): boolean {
  if (err instanceof PavilionError)
    return (
      err.code === 'CHAIN_UNREACHABLE' || err.code === 'DATABASE_UNAVAILABLE' || err.code === 'ANCHOR_FEE_ABOVE_CAP'
    );
  if (isChainUnreachable(err)) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && PG_CONNECTION_CODES.has(code);
}

/** A status entry for `err`: a stable code and a message free of URLs and secrets. */
export function describeFailure(err: unknown): AnchorerError {
  const at = new Date();
  if (err instanceof PavilionError) return { code: err.code, message: scrub(err.message), at };
  if (isChainUnreachable(err)) return { code: 'CHAIN_UNREACHABLE', message: 'chain RPC unreachable', at };
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && (PG_CONNECTION_CODES.has(code) || /^[0-9A-Z]{5}$/.test(code))) {
    return { code: 'DATABASE_UNAVAILABLE', message: `database error ${code}`, at };
  }
  return { code: 'ANCHORER_FAILED', message: scrub(rpcErrorMessage(err)), at };
}

/** RPC URLs can carry API keys: never let one into a status message. */
export function scrub(message: string): string {
  return message.replace(/\b(?:https?|wss?):\/\/\S+/gi, '<url>').slice(0, 300);
}

const errorsInterface = new Interface(merkleAnchorInterface.fragments.filter((f) => f.type === 'error'));

/** The contract's custom error name in a failed call, when the node returned revert data. */
export function revertName(err: unknown): string {
  const data =
    (err as { data?: unknown; info?: { error?: { data?: unknown } } })?.data ??
    (err as { info?: { error?: { data?: unknown } } })?.info?.error?.data;
  if (typeof data === 'string' && data.startsWith('0x')) {
    try {
      const parsed = errorsInterface.parseError(data);
      if (parsed) return parsed.name;
    } catch {
      /* not one of ours */
    }
  }
  return scrub(rpcErrorMessage(err));
}
