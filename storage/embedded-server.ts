/**
 * The embedded database on a worker thread of its own (storage/embedded-worker.ts): PGlite and its socket
 * server off the main thread, reached over loopback by the same driver as a real server.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { invalidSettings, PavilionError } from '../common/errors.js';
import { leftByDeadProcess, ownerTag } from '../common/processes.js';

export interface EmbeddedServer {
  /** `host:port` of the wire-protocol server. */
  conn: string;
  /** Stops the server and closes PGlite (a persistent data folder is then consistent), then ends the thread. */
  stop(): Promise<void>;
}

/**
 * Under vitest or tsx this module is TypeScript source. Node 20 does not apply `--import tsx` to a worker's
 * ES modules, so a one-line bootstrap imports the .ts body through tsx's API (`tsImport`); tsx is resolved
 * here, from this file, so the thread finds it whatever the working directory. From the compiled dist/
 * tree the body is plain JavaScript and runs directly.
 */
function startWorker(workerData: object): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  if (!fromSource) return new Worker(fileURLToPath(new URL('./embedded-worker.js', import.meta.url)), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const body = new URL('./embedded-worker.ts', import.meta.url).href;
  const [api, file] = [JSON.stringify(tsx), JSON.stringify(body)];
  const bootstrap = `import(${api}).then((api) => api.tsImport(${file}, ${file}))`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * Without a data folder the database lives in a private temporary one (mkdtemp: mode 0700), removed when the
 * server stops or the process exits, or, after a SIGKILL, by the next start on this host (removeOrphans); not
 * in PGlite's in-memory file system: that one grows a file by copying it whole into a buffer an eighth larger,
 * which was a fifth of the database thread's time on the cache-hit path, and garbage besides. Measured
 * alternated (bench:server, PGlite, 128 connections, four runs each, 2026-12-06): median 23.3k against 21.5k
 * requests/s, p99 15–19 ms against 24–26 ms, 55 against 60 µs of CPU an answer. PGlite does not fsync either
 * way: the folder is no more durable than memory.
 */
const scratchDirs = new Set<string>();
const SCRATCH_PREFIX = 'pavilion-pglite-';

function makeScratch(): string {
  removeOrphans();
  // `pavilion-pglite-<host>.<pid>.<random>`: whose it is, for removeOrphans (common/processes.ts).
  const dir = mkdtempSync(join(tmpdir(), SCRATCH_PREFIX + ownerTag()));
  if (scratchDirs.size === 0) process.on('exit', removeAllScratch);
  scratchDirs.add(dir);
  return dir;
}

/**
 * Removes the temporary folders of processes of this host that ended without their exit handler (SIGKILL,
 * the kernel's OOM killer, a signal during start-up). Folders of other hosts (a temporary folder shared by
 * containers), of running processes and without an owner in their name are left alone.
 */
function removeOrphans(): void {
  let names: string[] = [];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(SCRATCH_PREFIX) || !leftByDeadProcess(name.slice(SCRATCH_PREFIX.length))) continue;
    try {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    } catch {
      // Not ours to remove after all (another user's files inside): left as it is.
    }
  }
}

function removeScratch(dir: string | undefined): void {
  if (dir === undefined || !scratchDirs.delete(dir)) return;
  rmSync(dir, { recursive: true, force: true });
  if (scratchDirs.size === 0) process.off('exit', removeAllScratch);
}
function removeAllScratch(): void {
  for (const dir of scratchDirs) removeScratch(dir);
}

/**
 * A data folder (the PGLITE_DATA_DIR setting, server/config.ts) checked before PGlite sees it, as initdb checks
 * its folder: PGlite refused a file there with `{ name: 'ErrnoError', errno: 54 }`, and its initdb, unlike the
 * real one, fills a folder that is not empty, scattering PG_VERSION, base/, global/ and pg_* among the files it
 * held. A missing folder is made (0700, as initdb makes it); an empty one, or one with PG_VERSION (a data
 * folder: PGlite refuses one it cannot open itself), is used.
 */
export function checkDataFolder(dir: string): void {
  const invalid = (why: string) => invalidSettings([['PGLITE_DATA_DIR', why]]);
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw invalid('not a folder');
    entries = readdirSync(dir);
  } catch (err) {
    if (err instanceof PavilionError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw invalid(`cannot be read: ${code}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (made) {
      throw invalid(`missing, and cannot be made: ${(made as NodeJS.ErrnoException).code}`);
    }
    return;
  }
  if (entries.length > 0 && !entries.includes('PG_VERSION'))
    throw invalid('a folder that is neither empty nor a PostgreSQL data folder: it has no PG_VERSION');
}

/**
 * What PGlite rejected with, as text. Its file system is emscripten's, whose ErrnoError is not an Error and has no
 * message: `{ name: 'ErrnoError', errno: 54 }` was printed `[object Object]`. Its errno numbers are WASI's, not the
 * host's; the file-system ones are named.
 */
export function failureText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err !== 'object' || err === null) return String(err);
  const { name, message, errno } = err as { name?: unknown; message?: unknown; errno?: unknown };
  if (typeof message === 'string' && message !== '') return message;
  const what = typeof name === 'string' ? name : (err.constructor?.name ?? 'error');
  if (typeof errno !== 'number') return what;
  return `${what} ${WASI_ERRNO[errno] ?? 'errno'} (errno ${errno})`;
}
const WASI_ERRNO: Record<number, string> = {
  2: 'EACCES',
  20: 'EEXIST',
  31: 'EISDIR',
  44: 'ENOENT',
  54: 'ENOTDIR',
  55: 'ENOTEMPTY',
  63: 'EPERM',
};

/**
 * Starts the database on `dataDir` (checked first: checkDataFolder), or on a temporary folder. A failure of PGlite
 * itself is DATABASE_UNAVAILABLE with what PGlite said, one line at start (server/main.ts): a stack taken here
 * would show this file's message handler, not where PGlite failed.
 */
export async function startEmbeddedServer(dataDir: string | undefined): Promise<EmbeddedServer> {
  if (dataDir !== undefined) checkDataFolder(dataDir);
  const scratch = dataDir === undefined ? makeScratch() : undefined;
  const worker = startWorker({ dataDir: dataDir ?? scratch });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => {
      removeScratch(scratch);
      reject(new Error(`embedded database thread exited (${code}) before listening`));
    };
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (m: { ready?: string; failed?: string }) => {
      worker.off('exit', onExit);
      worker.off('error', reject);
      if (m.failed !== undefined) {
        void worker.terminate().then(() => removeScratch(scratch));
        reject(
          new PavilionError(
            'DATABASE_UNAVAILABLE',
            `the embedded database failed to start${dataDir === undefined ? '' : ' (PGLITE_DATA_DIR)'}: ${m.failed}`,
          ),
        );
        return;
      }
      let stopped: Promise<void> | null = null;
      resolve({
        conn: m.ready!,
        stop: () => {
          stopped ??= new Promise<void>((done) => {
            // Closed cleanly, or the thread ended some other way: either way nothing is left to wait for.
            worker.once('exit', () => {
              removeScratch(scratch);
              done();
            });
            worker.on('message', (r: { closed?: boolean }) => {
              if (r.closed) void worker.terminate();
            });
            worker.postMessage('close');
          });
          return stopped;
        },
      });
    });
  });
}
