/**
 * WebSocket frames a client must not send (RFC 6455 §5.1, §5.2, §5.5), over a raw socket after a real
 * upgrade: what the broker's uWS answers to each. A frame the client did not mask must close the
 * connection (1002, protocol error) and never be processed as a message. And the 101 selects no subprotocol.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
beforeAll(async () => {
  t = await startTestBroker();
});
afterAll(async () => {
  await t?.broker.close();
});

/**
 * Opens /v1/ws (with a bearer header unless `bearer` is false, and any `extra` header lines); resolves with
 * the socket and the 101's head once it arrived.
 */
function upgrade(
  opts: { bearer?: boolean; extra?: string } = {},
): Promise<{ socket: Socket; head: string; received: Buffer[]; closed: Promise<void> }> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    let head = '';
    let upgraded = false;
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      if (upgraded) return void received.push(c);
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.slice(0, 200)));
      upgraded = true;
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length) received.push(rest);
      resolve({ socket, head: head.slice(0, end), received, closed });
    });
    socket.on('connect', () =>
      socket.write(
        `GET /v1/ws HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `${opts.bearer === false ? '' : `Authorization: Bearer ${t.tokens.rp}\r\n`}${opts.extra ?? ''}\r\n`,
      ),
    );
  });
}

/** A frame: FIN + opcode, then the payload, masked with a random key unless `masked` is false. */
function frame(opcode: number, payload: Buffer, opts: { masked?: boolean; fin?: boolean; rsv?: number } = {}): Buffer {
  const masked = opts.masked ?? true;
  const b0 = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode;
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([b0, (masked ? 0x80 : 0) | len])
      : Buffer.from([b0, (masked ? 0x80 : 0) | 126, len >> 8, len & 255]);
  if (!masked) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([head, key, body]);
}

const ping = Buffer.from(JSON.stringify({ type: 'ping' }));
/** Text frames the server sent, decoded. */
const texts = (received: Buffer[]) => Buffer.concat(received).toString('latin1');

describe('the upgrade', () => {
  // RFC 6455 §4.2.2: the server selects one of the client's subprotocols it supports, or sends none. The broker
  // supports none; echoing the first offered put whatever a client sent there (a token, say) in the answer.
  for (const bearer of [true, false])
    it(`selects no subprotocol, whatever the client offers (${bearer ? 'header' : 'in-band'} auth)`, async () => {
      const ws = await upgrade({ bearer, extra: 'Sec-WebSocket-Protocol: x-token.abc, bearer\r\n' });
      expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
      expect(ws.head.toLowerCase()).not.toContain('sec-websocket-protocol');
      expect(ws.head).not.toContain('x-token.abc');
      ws.socket.destroy();
    });
});

describe('WebSocket frames', () => {
  it('control: a masked ping message is answered with pong', async () => {
    const ws = await upgrade();
    ws.socket.write(frame(1, ping));
    await new Promise((r) => setTimeout(r, 300));
    expect(texts(ws.received)).toContain('"pong"');
    ws.socket.destroy();
  });

  // RFC 6455 §7.1.7 asks for a 1002 close frame first (SHOULD); uWS 20.30 drops the TCP connection at once.
  const bad: [string, () => Buffer][] = [
    ['a frame with a reserved bit set', () => frame(1, ping, { rsv: 4 })],
    ['a frame with a reserved opcode (3)', () => frame(3, ping)],
    ['a fragmented ping (control frames must not be fragmented)', () => frame(9, Buffer.from('x'), { fin: false })],
  ];
  for (const [name, make] of bad)
    it(`${name}: not processed, the connection closed at once (no close frame: uWS 20.30)`, async () => {
      const ws = await upgrade();
      ws.socket.write(make());
      await Promise.race([ws.closed, new Promise((r) => setTimeout(r, 3000))]);
      expect(ws.socket.readableEnded || ws.socket.destroyed).toBe(true);
      expect(texts(ws.received)).not.toContain('"pong"');
      ws.socket.destroy();
    });

  it('an unmasked frame is never processed as the message it carries (uWS 20.30 ignores the MASK bit)', async () => {
    // uWS reads the first 4 payload bytes as the masking key, so the message it sees is garbled (and 4 bytes
    // short: the 4 bytes sent after it complete it). It is answered as a malformed message, never as a ping.
    const ws = await upgrade();
    ws.socket.write(frame(1, ping, { masked: false }));
    ws.socket.write(Buffer.from('abcd'));
    await new Promise((r) => setTimeout(r, 500));
    const answered = texts(ws.received);
    expect(answered).not.toContain('"pong"');
    expect(answered).toMatch(/BODY_INVALID_JSON|^$/);
    console.log(
      `unmasked frame: ${answered ? 'answered BODY_INVALID_JSON, socket kept' : 'no answer'}; ` +
        `closed: ${ws.socket.readableEnded}`,
    );
    ws.socket.destroy();
  });
});
