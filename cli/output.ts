/**
 * Where a command writes its output: a file named by --out (or another option), or stdout. One home for
 * OUTPUT_UNWRITABLE, so every command refuses a folder, a missing folder or a full disk the same way, in one
 * line, instead of crashing on a write stream's unhandled 'error' event.
 *
 * A file is written to a temporary file beside it (`.<name>.<host>.<pid>.<random>.tmp`, same folder, so the
 * rename is atomic) and renamed over it only when the command succeeds: a command that fails half-way
 * leaves no half-written file, and the file that was there before stays as it was. A command stopped by
 * SIGINT, SIGTERM or SIGHUP removes its temporary file before it exits (Ctrl-C in an encode of 200k
 * records left 9 MB hidden beside the output); one killed outright (SIGKILL, the OOM killer) leaves it, and
 * the next command writing the same file on this host removes it (removeStaleTemps).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { constants, createWriteStream, rmSync, type Stats } from 'node:fs';
import { access, type FileHandle, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PavilionError } from '../common/errors.js';
import { leftByDeadProcess, ownerTag } from '../common/processes.js';

/** OUTPUT_UNWRITABLE for `where` (a path, stdout or an option), with the system's reason: EISDIR, ENOENT, EACCES… */
export function outputUnwritable(where: string, err: unknown): PavilionError {
  return new PavilionError(
    'OUTPUT_UNWRITABLE',
    `${where}: cannot write (${(err as NodeJS.ErrnoException | undefined)?.code ?? 'error'})`,
  );
}

/**
 * Writes a whole output file as openOutput writes one: beside it, renamed over it once written, never over one of
 * the command's `inputs`; a folder, a missing folder or a full disk is OUTPUT_UNWRITABLE.
 */
export async function writeOutputFile(path: string, text: string, inputs: OutputInputs = {}): Promise<void> {
  const output = await openOutput(path, inputs);
  let written = false;
  try {
    await output.write(text);
    written = true;
  } finally {
    await output.close(written);
  }
  if (output.failure) throw output.failure;
}

/** A command's streamed output (openOutput). */
export interface Output {
  /** The first write failure, as OUTPUT_UNWRITABLE; undefined while there is none. */
  readonly failure: PavilionError | undefined;
  /** Writes, waiting while the stream is full; throws `failure` once there is one. */
  write(data: Uint8Array | string): Promise<void>;
  /**
   * Ends a file (stdout stays open) and waits until it is closed; never throws (see `failure`). `commit`:
   * the command succeeded, so the temporary file replaces the file named (a failed rename becomes
   * `failure`); otherwise, or after a write failure, the temporary file is removed and the file named is
   * left as it was.
   */
  close(commit: boolean): Promise<void>;
}

/** The files a command reads, by the option naming them (`--in`), that its output must not be. */
export type OutputInputs = Readonly<Record<string, string | undefined>>;

/**
 * Opens a command's output: the file at `path`, or stdout. The file is checked and its temporary file
 * opened here, before any work, so a folder, a missing folder or one of the command's `inputs` (the same
 * file, also through another path or a link) is refused at once, and a write stream's 'error' (a full
 * disk; EPIPE when a reader of stdout goes away, as `| head` does) is kept as OUTPUT_UNWRITABLE instead of
 * crashing the process as an unhandled 'error' event.
 */
export async function openOutput(path: string | undefined, inputs: OutputInputs = {}): Promise<Output> {
  let stream: Writable = process.stdout;
  let file: OutputFile | undefined;
  if (path !== undefined) {
    file = await openFile(path, inputs);
    stream = createWriteStream(file.temp ?? path, { fd: file.handle });
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
    async close(commit) {
      if (file === undefined) return;
      stream.end();
      // finished() also settles for a stream an error already destroyed.
      await finished(stream).catch(() => undefined);
      const temp = file.temp;
      if (temp === undefined) return;
      const renamed =
        commit &&
        !failure &&
        (await rename(temp, file.target).then(
          () => true,
          (err: unknown) => {
            failure = outputUnwritable(where, err);
            return false;
          },
        ));
      if (!renamed) await rm(temp, { force: true });
      untrackTemp(temp);
    },
  };
}

interface OutputFile {
  handle: FileHandle;
  /** Where the output ends up: the path named, or the file a link there points to. */
  target: string;
  /** The temporary file written; undefined for a device or a pipe, written in place. */
  temp?: string;
}

async function openFile(path: string, inputs: OutputInputs): Promise<OutputFile> {
  let existing: Stats | undefined;
  try {
    existing = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw outputUnwritable(path, err);
  }
  if (existing?.isDirectory()) throw outputUnwritable(path, { code: 'EISDIR' });
  if (path.endsWith('/') || path.endsWith(sep)) {
    // A folder that does not exist: what open(path, 'w') says, EISDIR, or ENOENT when its parent is missing too.
    const parent = await stat(dirname(path)).catch(() => undefined);
    throw outputUnwritable(path, { code: parent?.isDirectory() ? 'EISDIR' : 'ENOENT' });
  }
  if (existing) {
    for (const [option, input] of Object.entries(inputs)) {
      if (input === undefined) continue;
      const read = await stat(input).catch(() => undefined);
      if (read && read.dev === existing.dev && read.ino === existing.ino) {
        throw new PavilionError('OUTPUT_UNWRITABLE', `${path}: cannot write (the same file as ${option} ${input})`);
      }
    }
  }
  try {
    if (existing && !existing.isFile()) {
      // A device or a pipe (/dev/null, a FIFO): nothing to replace, written in place as before.
      return { handle: await open(path, 'w'), target: path };
    }
    // Through a link to the file it points to, which is the one replaced; a read-only file stays refused.
    const target = existing ? await realpath(path) : path;
    if (existing) await access(target, constants.W_OK);
    await removeStaleTemps(target);
    const temp = join(dirname(target), `.${basename(target)}.${ownerTag()}${randomBytes(6).toString('hex')}.tmp`);
    // Tracked before it exists: a signal between its creation and the tracking would have left it.
    trackTemp(temp);
    // Created as open(path, 'w') creates a file (0o666 less the umask); an existing file's mode is kept.
    const handle = await open(temp, 'wx').catch((err: unknown) => {
      untrackTemp(temp);
      throw err;
    });
    // Best effort: a file system without modes (FAT) is written all the same.
    if (existing) await handle.chmod(existing.mode & 0o777).catch(() => undefined);
    return { handle, target, temp };
  } catch (err) {
    throw outputUnwritable(path, err);
  }
}

/**
 * Removes the temporary files of `target` that a command of this host left when it was killed outright
 * (common/processes.ts leftByDeadProcess). Best effort: a folder that cannot be listed, or a file another
 * command removes first, is left to them.
 */
async function removeStaleTemps(target: string): Promise<void> {
  const folder = dirname(target);
  const prefix = `.${basename(target)}.`;
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    if (name.startsWith(prefix) && leftByDeadProcess(name.slice(prefix.length))) {
      await rm(join(folder, name), { force: true }).catch(() => undefined);
    }
  }
}

/** Temporary files this process has open; removed if it ends before their commands close them. */
const openTemps = new Set<string>();
/** The signals a user or a supervisor stops a command with: Ctrl-C, a stop, a closed terminal. */
const STOP_SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function removeOpenTemps(): void {
  for (const temp of openTemps) rmSync(temp, { force: true });
  openTemps.clear();
}

/** Ends the process as the signal would have (exit 128 + its number), through 'exit', which removes the files. */
function exitOnSignal(signal: NodeJS.Signals): void {
  process.exit(128 + STOP_SIGNALS[signal as keyof typeof STOP_SIGNALS]);
}

function trackTemp(temp: string): void {
  if (openTemps.size === 0) {
    process.on('exit', removeOpenTemps);
    for (const signal of Object.keys(STOP_SIGNALS)) process.on(signal, exitOnSignal);
  }
  openTemps.add(temp);
}

function untrackTemp(temp: string): void {
  if (!openTemps.delete(temp) || openTemps.size > 0) return;
  process.off('exit', removeOpenTemps);
  for (const signal of Object.keys(STOP_SIGNALS)) process.off(signal, exitOnSignal);
}
