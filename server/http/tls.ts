/**
 * TLS 1.3 only, with what uWebSockets.js offers.
 *
 * uSockets sets a TLS 1.2 floor and exposes no protocol-version option; the
 * TLS 1.3 suites are always enabled (BoringSSL does not make them
 * configurable), and `ssl_ciphers` only governs TLS ≤ 1.2. An empty ≤ 1.2
 * list makes app construction fail, so instead the list holds one TLS 1.2
 * suite whose authentication cannot work with the configured key (an ECDSA
 * suite for an RSA key, an RSA suite otherwise): no TLS 1.2 handshake can
 * complete and clients settle on 1.3. Measured here: a TLS 1.2-only client
 * gets a handshake_failure alert, a 1.3 client connects
 * (test/server/openapi-tls-metrics.test.ts).
 */

import type { AppOptions } from 'uWebSockets.js';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PavilionError } from '../../common/errors.js';

export function tls13OnlyOptions(certFile: string, keyFile: string): AppOptions {
  let keyType: string | undefined;
  try {
    keyType = createPrivateKey(readFileSync(keyFile)).asymmetricKeyType;
  } catch {
    throw new PavilionError(
      'CONFIG_INVALID',
      'TLS_KEY_FILE is not a readable PEM private key (encrypted keys are not supported)',
    );
  }
  const unusableTls12Suite =
    keyType === 'rsa' || keyType === 'rsa-pss' ? 'ECDHE-ECDSA-AES128-GCM-SHA256' : 'ECDHE-RSA-AES128-GCM-SHA256';
  return { cert_file_name: certFile, key_file_name: keyFile, ssl_ciphers: unusableTls12Suite };
}
