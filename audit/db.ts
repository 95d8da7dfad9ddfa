/**
 * Between the Postgres driver and the audit module: typed storage errors
 * that never quote row values, and bytea values in and out.
 */
import type postgres from 'postgres';
import { isPavilionError, PavilionError } from '../common/errors.js';
import { databaseUnavailable, type Sql } from '../storage/postgres.js';

/** The pool, or a transaction of it. */
export type Queryable = Sql | postgres.TransactionSql;

export function storageError(err: unknown, what: string): PavilionError {
  if (isPavilionError(err)) return err;
  const outage = databaseUnavailable(err, what);
  if (outage) return outage;
  // Driver messages can quote row values (event text); keep only the SQLSTATE.
  const code = (err as { code?: string }).code ?? 'unknown';
  return new PavilionError('AUDIT_UNAVAILABLE', `${what} failed (${code})`, { cause: err });
}

/** A bytea parameter without copying. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A bytea column as a plain Uint8Array view. */
export function hashBytes(value: unknown): Uint8Array {
  const b = value as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
