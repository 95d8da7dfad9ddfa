/**
 * The embedded database on a worker thread of its own (storage/embedded-worker.ts): PGlite and its socket
 * server off the main thread, reached over loopback by the same driver as a real server.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

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

export function startEmbeddedServer(dataDir: string | undefined): Promise<EmbeddedServer> {
  const worker = startWorker({ dataDir });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`embedded database thread exited (${code}) before listening`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (m: { ready?: string; failed?: string }) => {
      worker.off('exit', onExit);
      worker.off('error', reject);
      if (m.failed !== undefined) {
        void worker.terminate();
        reject(new Error(`embedded database failed to start: ${m.failed}`));
        return;
      }
      let stopped: Promise<void> | null = null;
      resolve({
        conn: m.ready!,
        stop: () => {
          stopped ??= new Promise<void>((done) => {
            // Closed cleanly, or the thread ended some other way: either way nothing is left to wait for.
            worker.once('exit', () => done());
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
