/**
 * Raw HTTP/1.x over a TCP socket, for framing tests that fetch cannot express (two Content-Length headers,
 * pipelined requests, bad chunk framing, HTTP/1.0, malformed request lines): writes bytes as given and
 * collects every answer until the server closes the connection or goes quiet.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawExchange {
  answers: RawAnswer[];
  /** The server closed the connection (rather than the client giving up after `quietMs` of silence). */
  closedByServer: boolean;
  /** From the last write to the close, or to the last byte before going quiet. */
  ms: number;
  raw: string;
}

/**
 * Splits a byte stream into responses (Content-Length framed; the broker never sends chunked answers). The
 * answers whose index is in `heads` answer HEAD requests: their Content-Length announces no body.
 */
export function parseAnswers(raw: string, heads: ReadonlySet<number> = new Set()): RawAnswer[] {
  const out: RawAnswer[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = heads.has(out.length) ? 0 : Number(headers['content-length'] ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/** `gapMs`: pause between writes (each write after the first waits for it); default none. */
export function rawExchange(
  url: string,
  writes: (string | Buffer)[],
  opts: { quietMs?: number; gapMs?: number } = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  const quietMs = opts.quietMs ?? 1500;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let lastWrite = 0;
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ answers: parseAnswers(raw), closedByServer, ms: performance.now() - lastWrite, raw });
    };
    const armQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), quietMs);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      armQuiet();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? finish(true) : reject(err)));
    socket.on('connect', async () => {
      for (const [i, w] of writes.entries()) {
        if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        socket.write(w);
        lastWrite = performance.now();
      }
      armQuiet();
    });
  });
}

/** A kept-alive raw connection: writes as given, collects the answers and tells when the server closes it. */
export interface RawConnection {
  write(bytes: string | Buffer): void;
  /**
   * Resolves once `n` answers in all have arrived on this connection, or with those there are when it
   * closes; `heads`: the indexes of the answers to HEAD requests (see parseAnswers).
   */
  answers(n: number, heads?: ReadonlySet<number>): Promise<RawAnswer[]>;
  /** Everything received so far. */
  raw(): string;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  destroy(): void;
}

export function rawConnection(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let closed = false;
    let waiters: (() => void)[] = [];
    const wake = () => {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    };
    const raw = () => Buffer.concat(chunks).toString('latin1');
    const onClose = new Promise<void>((done) => {
      const end = () => {
        closed = true;
        wake();
        done();
      };
      socket.on('close', end);
      socket.on('error', end);
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      wake();
    });
    socket.once('error', reject);
    socket.on('connect', () =>
      resolve({
        write: (bytes) => socket.write(bytes),
        answers: async (n, heads) => {
          while (!closed && parseAnswers(raw(), heads).length < n) await new Promise<void>((w) => waiters.push(w));
          return parseAnswers(raw(), heads);
        },
        raw,
        closed: onClose,
        isClosed: () => closed,
        destroy: () => socket.destroy(),
      }),
    );
  });
}

/**
 * HEAD `path`, then GET it once the HEAD is answered, on one kept-alive connection: both answers, and
 * whether the HEAD's answer ended at its blank line (no body, no stray byte before the GET's answer) with
 * the connection still open.
 */
export async function headThenGet(
  url: string,
  path: string,
): Promise<{ head: RawAnswer; get: RawAnswer; headEndedClean: boolean }> {
  const request = (method: string) => `${method} ${path} HTTP/1.1\r\nHost: broker\r\n\r\n`;
  const c = await rawConnection(url);
  try {
    c.write(request('HEAD'));
    await c.answers(1, new Set([0]));
    c.write(request('GET'));
    const [head, get] = await c.answers(2, new Set([0]));
    if (!head || !get) throw new Error(`HEAD then GET ${path}: the connection closed after ${head ? 1 : 0} answer(s)`);
    const afterHead = c.raw().slice(c.raw().indexOf('\r\n\r\n') + 4);
    return { head, get, headEndedClean: /^HTTP\/1\.1 /.test(afterHead) && !c.isClosed() };
  } finally {
    c.destroy();
  }
}
