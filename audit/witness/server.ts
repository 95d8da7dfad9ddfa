/**
 * The witness over HTTP (node:http: one POST route, no framework needed):
 *   POST <prefix>/add-checkpoint   C2SP tlog-witness
 *   GET  <prefix>/                 JSON: the witness's verifier keys and the logs it witnesses
 * Request bodies are capped at 1 MiB (a checkpoint note plus 63 proof lines
 * is a few KiB; ML-DSA-44 cosignatures add 3.3 KiB each).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Witness, WitnessedLog } from './witness.js';

const MAX_BODY = 1 << 20;

export interface WitnessServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function serveWitness(
  witness: Witness,
  logs: readonly WitnessedLog[],
  opts: { host?: string; port?: number; prefix?: string } = {},
): Promise<WitnessServer> {
  const prefix = (opts.prefix ?? '').replace(/\/+$/, '');
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const reply = (status: number, body: string, contentType = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method === 'GET' && (path === `${prefix}/` || path === prefix)) {
      reply(200, JSON.stringify({ verifier_keys: witness.verifierKeys, logs }), 'application/json');
      return;
    }
    if (path !== `${prefix}/add-checkpoint`) return reply(404, 'not found\n');
    if (req.method !== 'POST') return reply(405, 'POST only\n');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(413, 'request too large\n');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
      } catch {
        return reply(400, 'request is not UTF-8\n');
      }
      witness.addCheckpoint(text).then(
        (a) => reply(a.status, a.body, a.contentType),
        () => reply(500, 'witness failed\n'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${prefix}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
