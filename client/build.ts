/**
 * Builds the browser bundles (npm run build:web, part of npm run build):
 *
 *   client/dist/pavilion.browser.js   the client library (`import { Pavilion } from …`), ESM
 *   demo/web/dist/app.js              the demo page (demo/web/app.ts), served at /demo/
 *
 * The same TypeScript as in Node: the CLK encoder (engine/clk/) running the
 * wasm kernel (wasm/build/crypto.wasm, carried inside the bundle) and the
 * receipt checks of audit/. Node built-ins they import are replaced by the
 * small browser versions in client/browser/ (SHA-2, HMAC, Ed25519 from
 * @noble/hashes and @noble/curves; Buffer from `buffer`).
 */
import { readFileSync } from 'node:fs';
import * as esbuild from 'esbuild';
import { fromRoot } from '../common/paths.js';

const SHIMS: Record<string, string> = {
  'node:crypto': 'node-crypto.ts',
  'node:fs': 'node-fs.ts',
  'node:path': 'node-path.ts',
  'node:url': 'node-url.ts',
  'node:module': 'node-module.ts',
  ws: 'no-ws.ts',
};

const browserShims: esbuild.Plugin = {
  name: 'pavilion-browser-shims',
  setup(build) {
    build.onResolve({ filter: /^(node:[a-z/]+|ws)$/ }, (args) => {
      const shim = SHIMS[args.path];
      if (!shim)
        return {
          errors: [{ text: `${args.path} (imported by ${args.importer}) has no browser version in client/browser/` }],
        };
      return { path: fromRoot('client', 'browser', shim) };
    });
  },
};

export async function buildBrowserBundles(): Promise<void> {
  const wasm = readFileSync(fromRoot('wasm', 'build', 'crypto.wasm')).toString('base64');
  const common: esbuild.BuildOptions = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [browserShims],
    inject: [fromRoot('client', 'browser', 'buffer-global.ts')],
    define: { __PAVILION_CRYPTO_WASM__: JSON.stringify(wasm) },
  };
  await esbuild.build({
    ...common,
    entryPoints: [fromRoot('client', 'index.ts')],
    outfile: fromRoot('client', 'dist', 'pavilion.browser.js'),
  });
  await esbuild.build({
    ...common,
    entryPoints: [fromRoot('demo', 'web', 'app.ts')],
    outfile: fromRoot('demo', 'web', 'dist', 'app.js'),
  });
}

if (/client\/build\.[tj]s$/.test(process.argv[1] ?? '')) await buildBrowserBundles();
