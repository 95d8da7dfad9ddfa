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
 * Closing is not enough on its own: uWS goes on parsing whatever else arrived in the same read (the
 * smuggled request) before it closes, and would hand it to a handler. So the refusal is not written at
 * once: the response is left pending until the event loop's next turn, after uWS has parsed every request
 * of the bytes it read (`refuse`). uWS 20.30 closes a connection on which a request arrives while a
 * response is pending, before routing it (its HttpContext: "Are we not ready for another request yet?
 * Terminate the connection"): a request of the same read as a refused one closes the connection unrun,
 * and neither is answered; a refused request alone is answered on the next turn. Both are tested over
 * raw sockets in test/server/http/framing.test.ts.
 *
 * This holds per connection by construction. uWS 20.30 gives a handler nothing that names a connection
 * (no remote port; a new HttpResponse object for every request, even on one kept-alive connection), and the
 * mark this replaced, kept per remote address for one poll phase, refused the valid requests that other
 * connections of that address (one NAT, host or sidecar) sent in the same phase.
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

/**
 * Runs `write` (the refusal, closing the connection), corked, on the event loop's next turn, unless a
 * request of the same read made uWS close the connection first (see above). Called from a uWS handler.
 */
export function refuse(res: HttpResponse, write: () => void): void {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  setImmediate(() => {
    if (!aborted) res.cork(write);
  });
}
