/**
 * Worker thread body of the embedded database (storage/embedded-server.ts starts it): PGlite (Postgres
 * compiled to wasm) and its wire-protocol socket server run here, so the database's work — a third of the
 * main thread's samples on the cache-hit path when it ran there (docs/decisions.md, "The cache-hit path") —
 * happens on a thread of its own while the main thread serves HTTP.
 *
 * workerData: { dataDir?: string }. Posts { ready: 'host:port' } once it listens, or { failed: message };
 * on a 'close' message it stops the server, closes PGlite and posts { closed: true }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { failureText } from './embedded-server.js';

const { dataDir } = workerData as { dataDir?: string };
const port = parentPort!;
try {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(dataDir);
  // PGlite is one session. The socket server multiplexes connections onto it per protocol message and only
  // pins to one connection while a transaction is open, so extended-protocol messages of two clients could
  // interleave between Parse and Sync: the broker uses one driver connection (storage/postgres.ts); a few
  // spare slots let tests and tools attach read-only.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await server.start();
  port.on('message', (message: unknown) => {
    if (message !== 'close') return;
    void (async () => {
      await server.stop();
      await db.close();
      port.postMessage({ closed: true });
      port.close();
    })();
  });
  port.postMessage({ ready: server.getServerConn() });
} catch (err) {
  port.postMessage({ failed: failureText(err) });
}
