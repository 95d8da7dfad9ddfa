/** The stable code a call fails with, so tests assert codes rather than messages. */
import { isPavilionError } from '../../common/errors.js';

/** Runs `fn`; returns the PavilionError code, or null when it succeeds. Any other error fails the test. */
export function errorCode(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!isPavilionError(err)) throw err;
    return err.code;
  }
}

/** As errorCode, for a promise or an async call. */
export async function errorCodeAsync(p: Promise<unknown> | (() => unknown)): Promise<string | null> {
  try {
    await (typeof p === 'function' ? p() : p);
    return null;
  } catch (err) {
    if (!isPavilionError(err)) throw err;
    return err.code;
  }
}
