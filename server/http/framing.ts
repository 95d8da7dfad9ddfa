/**
 * Strict request framing in front of the router: uWebSockets.js 20.30 reads the first of two
 * Content-Length headers and accepts chunked bodies whose chunks lack their CRLF, so a proxy that
 * frames a message differently could make one client's bytes another request (RFC 9112 §6.3,
 * §11.2). The broker therefore accepts a request body only framed by exactly one Content-Length:
 *
 * - two or more Content-Length headers: 400 REQUEST_FRAMING_INVALID, and the connection closes;
 * - any Transfer-Encoding: 411 LENGTH_REQUIRED, and the connection closes (the chunks are never
 *   parsed by the broker, so their framing cannot matter).
 *
 * Closing is not enough on its own: uWS goes on parsing whatever else arrived in the same read
 * (the smuggled request) before it closes. So the connection is marked: until the event loop's next
 * turn, every further request uWS parses from the same peer is refused the same way, unread and
 * unrun (`refusesPipelined`). The mark is per remote address and lasts one poll phase, the only
 * time uWS can hand over requests of the bytes it already read; another connection of the same
 * address in the same phase is refused too, a harmless 400 against a smuggled request.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { ErrorCode } from '../../common/error-codes.js';

export interface FramingRefusal {
  code: ErrorCode;
  detail: string;
}

/** The framing problem of a request, if any; cheap when it carries no Content-Length nor Transfer-Encoding. */
export function framingRefusal(req: HttpRequest): FramingRefusal | null {
  if (req.getHeader('transfer-encoding') !== '')
    return { code: 'LENGTH_REQUIRED', detail: 'send the request body with a Content-Length, not Transfer-Encoding' };
  if (req.getHeader('content-length') === '') return null;
  let lengths = 0;
  req.forEach((name) => {
    if (name === 'content-length') lengths++;
  });
  return lengths > 1 ? { code: 'REQUEST_FRAMING_INVALID', detail: 'more than one Content-Length header' } : null;
}

let markedAddress: string | null = null;

function addressOf(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
}

/** Marks `res`'s peer until the next turn of the event loop (see above). */
export function markRefused(res: HttpResponse): void {
  if (markedAddress === null) setImmediate(() => (markedAddress = null));
  markedAddress = addressOf(res);
}

/** True for a request uWS parsed from the same read as a refused one. */
export function refusesPipelined(res: HttpResponse): boolean {
  return markedAddress !== null && markedAddress === addressOf(res);
}
