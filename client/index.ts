/**
 * The relying party's client library (client/README.md): `Pavilion` for
 * verification over HTTP or WebSocket, local CLK encoding with the
 * repository's encoder, linkage jobs and offline receipt checks.
 */
export { PavilionClientError } from './errors.js';
export { PavilionApiError, type Problem, type TokenSource } from './http.js';
export {
  type DatasetInfo,
  type Encoder,
  type LinkageJob,
  type LinkageRequest,
  type LinkageResults,
  Pavilion,
  type PavilionOptions,
  type PolicyInfo,
  type Receipt,
  type VerificationAnswer,
  type VerificationRequest,
} from './pavilion.js';
export { type ReceiptCheck, verifyReceiptOffline } from './receipt.js';
export { type SocketOptions, VerificationSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js';
