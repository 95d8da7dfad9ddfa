/**
 * Where a command writes its output: a file named by --out (or another option), or stdout. One home for
 * OUTPUT_UNWRITABLE, so every command refuses a folder, a missing folder or a full disk the same way, in one
 * line, instead of crashing on a write stream's unhandled 'error' event.
 */
import { once } from 'node:events';
import { createWriteStream, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PavilionError } from '../common/errors.js';

/** OUTPUT_UNWRITABLE for `where` (a path, stdout or an option), with the system's reason: EISDIR, ENOENT, EACCES… */
export function outputUnwritable(where: string, err: unknown): PavilionError {
  return new PavilionError(
    'OUTPUT_UNWRITABLE',
    `${where}: cannot write (${(err as NodeJS.ErrnoException | undefined)?.code ?? 'error'})`,
  );
}

/** Writes a whole output file; a folder, a missing folder or a full disk is OUTPUT_UNWRITABLE. */
export function writeOutputFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw outputUnwritable(path, err);
  }
}

/** A command's streamed output (openOutput). */
export interface Output {
  /** The first write failure, as OUTPUT_UNWRITABLE; undefined while there is none. */
  readonly failure: PavilionError | undefined;
  /** Writes, waiting while the stream is full; throws `failure` once there is one. */
  write(data: Uint8Array | string): Promise<void>;
  /** Ends a file (stdout stays open) and waits until it is closed; never throws (see `failure`). */
  close(): Promise<void>;
}

/**
 * Opens a command's output: the file at `path` (created or truncated), or stdout. The file is opened
 * here, before any work, so a folder or a missing folder is refused at once, and a write stream's
 * 'error' (a full disk; EPIPE when a reader of stdout goes away, as `| head` does) is kept as
 * OUTPUT_UNWRITABLE instead of crashing the process as an unhandled 'error' event.
 */
export async function openOutput(path: string | undefined): Promise<Output> {
  let stream: Writable = process.stdout;
  if (path !== undefined) {
    let handle: FileHandle;
    try {
      handle = await open(path, 'w');
    } catch (err) {
      throw outputUnwritable(path, err);
    }
    stream = createWriteStream(path, { fd: handle });
  }
  const where = path ?? 'stdout';
  let failure: PavilionError | undefined;
  stream.on('error', (err) => {
    failure ??= outputUnwritable(where, err);
  });
  return {
    get failure() {
      return failure;
    },
    async write(data) {
      if (failure) throw failure;
      if (data.length > 0 && !stream.write(data)) {
        await once(stream, 'drain').catch((err: unknown) => {
          throw failure ?? outputUnwritable(where, err);
        });
      }
    },
    async close() {
      if (path === undefined) return;
      stream.end();
      // finished() also settles for a stream an error already destroyed.
      await finished(stream).catch(() => undefined);
    },
  };
}
