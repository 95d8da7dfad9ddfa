/**
 * node:fs for the browser bundle: wasm/crypto.ts reads its kernel with
 * readFileSync(fromRoot('wasm', 'build', 'crypto.wasm')); the bundle carries
 * those bytes (client/build.ts defines __PAVILION_CRYPTO_WASM__ as their
 * base64), so the page runs the very kernel the broker and `pavilion encode` run.
 */
import { Buffer } from 'buffer';

declare const __PAVILION_CRYPTO_WASM__: string;

export function readFileSync(path: string): Buffer {
  if (String(path).endsWith('wasm/build/crypto.wasm')) return Buffer.from(__PAVILION_CRYPTO_WASM__, 'base64');
  throw new Error(`browser fs: ${path} is not bundled`);
}

/** common/paths.ts looks for package.json to find the package root; any folder will do here. */
export function existsSync(_path: string): boolean {
  return true;
}
