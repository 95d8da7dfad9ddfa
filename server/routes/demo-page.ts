/**
 * The development demo page at /demo/ (demo/web/): a person types a name and
 * date of birth, the page computes the CLK in the browser with the client
 * library, verifies it against the demo dataset and checks the receipt.
 *
 * To encode, the page needs the demo dataset's linkage secret, which
 * GET /demo/session hands to anyone who opens it, with a short-lived rp
 * token: so the page exists for development only. It is served when
 * DEMO_PAGE=true, or with DEMO_PAGE=auto (the default) only when the broker
 * runs on its embedded database as its own token issuer, as `npm start`
 * does. A production relying party encodes in its own backend with the
 * client library (client/README.md) and never ships a secret to a browser.
 *
 * Routes go straight to uWS, not through the API router: they are no part of
 * the API (nor of /openapi.json), and exist only on development brokers.
 */

import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../common/error-codes.js';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import { fromRoot } from '../../common/paths.js';
import type { LocalIdentity } from '../../identity/index.js';
import type { BrokerConfig } from '../config.js';
import type { LinkageSecrets } from '../datasets/linkage-secrets.js';
import type { DatasetStore } from '../datasets/store.js';
import { makeProblem, toProblem } from '../http/problem.js';
import { endAnswer, refusedFraming, statusLine } from '../http/router.js';

/** The demo dataset's id (server/demo.ts loads it). */
export const DEMO_DATASET = 'demo';

export interface DemoPageDeps {
  config: BrokerConfig;
  log: Logger;
  localIdentity: LocalIdentity | undefined;
  datasets: DatasetStore;
  secrets: LinkageSecrets;
  embeddedDatabase: boolean;
}

/** Tokens the page receives live this long. */
const SESSION_TOKEN_TTL_SEC = 3600;

// The page compiles wasm (the CLK encoder) and talks to its own origin only.
const CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; " +
  "img-src 'self'; base-uri 'none'; form-action 'none'";

export function demoPageEnabled(deps: Pick<DemoPageDeps, 'config' | 'localIdentity' | 'embeddedDatabase'>): boolean {
  const setting = deps.config.demoPage;
  if (setting === 'false') return false;
  if (setting === 'true') {
    if (!deps.localIdentity)
      throw new PavilionError('CONFIG_INVALID', 'DEMO_PAGE=true needs the local development token issuer (no OIDC)');
    return true;
  }
  return deps.localIdentity !== undefined && deps.embeddedDatabase;
}

function readAsset(...path: string[]): Buffer | undefined {
  try {
    return readFileSync(fromRoot(...path));
  } catch {
    return undefined;
  }
}

function sendProblem(res: HttpResponse, head: boolean, code: ErrorCode, detail: string): void {
  const p = makeProblem(code, detail);
  res.cork(() => {
    res.writeStatus(statusLine(p.status)).writeHeader('content-type', 'application/problem+json');
    endAnswer(res, JSON.stringify(p), head);
  });
}

/** Registers /demo/ when enabled; returns whether it did. */
export function serveDemoPage(app: TemplatedApp, deps: DemoPageDeps): boolean {
  if (!demoPageEnabled(deps)) return false;
  const identity = deps.localIdentity!;
  deps.log.warn('serving the development demo page at /demo/: it hands out the demo linkage secret and rp tokens');
  // HEAD answers what GET would, without the body (RFC 9110 §9.3.2): the catch-all answered it 404.
  const get = (route: string, handler: (res: HttpResponse, req: HttpRequest, head: boolean) => void): void => {
    app.get(route, (res, req) => handler(res, req, false));
    app.head(route, (res, req) => handler(res, req, true));
  };

  const assets: Record<string, { file: string[]; type: string }> = {
    '/demo/': { file: ['demo', 'web', 'index.html'], type: 'text/html; charset=utf-8' },
    '/demo/demo.css': { file: ['demo', 'web', 'demo.css'], type: 'text/css; charset=utf-8' },
    '/demo/app.js': { file: ['demo', 'web', 'dist', 'app.js'], type: 'text/javascript; charset=utf-8' },
  };
  for (const [route, asset] of Object.entries(assets)) {
    get(route, (res, req, head) => {
      if (refusedFraming(res, req)) return;
      // Read per request: cheap, and a rebuilt bundle shows without a restart.
      const body = readAsset(...asset.file);
      if (!body) {
        sendProblem(res, head, 'DEMO_NOT_BUILT', 'the demo page is not built: run npm run build');
        return;
      }
      res.cork(() => {
        res
          .writeStatus(statusLine(200))
          .writeHeader('content-type', asset.type)
          .writeHeader('content-security-policy', CSP)
          .writeHeader('x-content-type-options', 'nosniff')
          .writeHeader('cache-control', 'no-store');
        endAnswer(res, body, head);
      });
    });
  }
  get('/demo', (res, req, head) => {
    if (refusedFraming(res, req)) return;
    res.cork(() => {
      res.writeStatus('308 Permanent Redirect').writeHeader('location', '/demo/');
      endAnswer(res, '', head);
    });
  });

  get('/demo/session', (res, req, head) => {
    if (refusedFraming(res, req)) return;
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    (async () => {
      const record = await deps.datasets.get(DEMO_DATASET);
      const secret = record ? await deps.secrets.get(DEMO_DATASET).catch(() => null) : null;
      if (!record || secret === null)
        throw new PavilionError('DEMO_NOT_LOADED', 'no demo dataset is loaded (DEMO_RECORDS=0?)');
      const token = await identity.mint({ sub: 'demo-page', roles: ['rp'], ttlSec: SESSION_TOKEN_TTL_SEC });
      return {
        dataset: DEMO_DATASET,
        schema: record.schema,
        claims: record.claims,
        secret,
        token,
        token_expires_in: SESSION_TOKEN_TTL_SEC,
      };
    })().then(
      (session) => {
        if (aborted) return;
        res.cork(() => {
          res
            .writeStatus(statusLine(200))
            .writeHeader('content-type', 'application/json')
            .writeHeader('cache-control', 'no-store');
          endAnswer(res, JSON.stringify(session), head);
        });
      },
      (err) => {
        if (aborted) return;
        const p = toProblem(err, (e) => deps.log.error({ err: e }, 'demo session failed'));
        sendProblem(res, head, p.code as ErrorCode, isPavilionError(err) ? err.message : 'internal error');
      },
    );
  });
  return true;
}

/**
 * The banner's lines for a broker that is its own token issuer (`npm start`),
 * printed whatever DEMO_RECORDS is: how to mint more tokens from any folder
 * (cli/token.ts finds the key through --state-dir), whether the database outlives the process, and the demo
 * page. The token command names this checkout's bin/pavilion.js: `npx pavilion` outside the repository's
 * folder fetched and ran an unrelated npm package called pavilion (an outside probe).
 */
export function developmentHints(
  config: BrokerConfig,
  broker: { url: string; localIdentity?: LocalIdentity; db: { embedded: boolean } },
): string {
  const cli = `node ${shellWord(fromRoot('bin', 'pavilion.js'))}`;
  const lines = [
    `More tokens: ${cli} token --role rp --sub my-rp --state-dir ${shellWord(resolve(config.stateDir))}`,
    `API: ${broker.url}/openapi.json   ·   policy: ${broker.url}/v1/policy`,
  ];
  if (broker.db.embedded && config.pgliteDataDir === undefined)
    lines.push(
      'Database: embedded and temporary: datasets and the audit log end with this process (PGLITE_DATA_DIR keeps them)',
    );
  if (demoPageEnabled({ config, localIdentity: broker.localIdentity, embeddedDatabase: broker.db.embedded }))
    lines.push(`Demo page (development only: it discloses the demo linkage secret): ${broker.url}/demo/`);
  return `${lines.join('\n')}\n\n`;
}

/** A path as one shell word: as it is when it needs no quoting, else in single quotes. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
