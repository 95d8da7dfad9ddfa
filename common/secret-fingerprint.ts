/**
 * The fingerprint of a linkage secret: what a data provider and a relying party compare to know they
 * encode with the same secret, without either showing it. A wrong secret is otherwise silent: every
 * CLK differs, every verification answers `no_match` (docs/data-providers.md, "Secret fingerprints").
 *
 *   fingerprint = hex(PBKDF2-HMAC-SHA256(password = the secret as UTF-8,
 *                                        salt = "pavilion linkage secret fingerprint v1",
 *                                        iterations = 100,000, length = 8 bytes))
 *
 * A keyed digest under a fixed public label, so anyone holding the secret computes the same 16 hex
 * digits with any PBKDF2 (Python's hashlib.pbkdf2_hmac, WebCrypto deriveBits); the iterations make
 * each guess of a weak secret cost what a login hash costs. It reveals nothing else of the secret.
 */
import { pbkdf2, pbkdf2Sync } from 'node:crypto';

export const SECRET_FINGERPRINT_SALT = 'pavilion linkage secret fingerprint v1';
export const SECRET_FINGERPRINT_ITERATIONS = 100_000;
/** 16 lowercase hex digits. */
export const SECRET_FINGERPRINT = /^[0-9a-f]{16}$/;

/** PBKDF2's arguments for `secret`: 8 bytes of HMAC-SHA256 output, printed as 16 hex digits. */
const pbkdf2Args = (secret: string) =>
  [Buffer.from(secret, 'utf8'), SECRET_FINGERPRINT_SALT, SECRET_FINGERPRINT_ITERATIONS, 8, 'sha256'] as const;

export function secretFingerprint(secret: string): string {
  return pbkdf2Sync(...pbkdf2Args(secret)).toString('hex');
}

/**
 * The same fingerprint, derived on libuv's thread pool: `pavilion encode` starts it with the command and
 * prints it at the end, so its ~40 ms of PBKDF2 run beside the encoding instead of before the exit.
 */
export function secretFingerprintAsync(secret: string): Promise<string> {
  return new Promise((resolve, reject) => {
    pbkdf2(...pbkdf2Args(secret), (err, key) => (err ? reject(err) : resolve(key.toString('hex'))));
  });
}
