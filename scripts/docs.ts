/**
 * Generated documentation, each from its one source:
 *   npm run docs:errors    docs/errors.md from the error catalogue (common/error-codes.ts)
 *   npm run docs:settings  the README's settings table from server/config.ts (printed)
 *   npm run openapi        openapi/openapi.json, the document a broker on embedded defaults serves
 * Tests fail when a committed copy differs from what these produce (test/common/error-codes.test.ts,
 * test/readme.test.ts, test/server/http/openapi.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCatalogueMarkdown } from '../common/error-codes.js';
import { fromRoot } from '../common/paths.js';
import { startBroker } from '../server/app.js';
import { loadConfig, settingsMarkdown } from '../server/config.js';

const what = process.argv[2];
if (what === 'errors') {
  writeFileSync(fromRoot('docs', 'errors.md'), errorCatalogueMarkdown());
} else if (what === 'settings') {
  console.log(settingsMarkdown());
} else if (what === 'openapi') {
  const stateDir = mkdtempSync(join(tmpdir(), 'pavilion-openapi-'));
  const config = loadConfig(
    {},
    { STATE_DIR: stateDir, PORT: '0', HOST: '127.0.0.1', ANCHORING: 'off', LOG_LEVEL: 'warn' },
  );
  const broker = await startBroker(config);
  try {
    const doc = await (await fetch(`${broker.url}/openapi.json`)).json();
    writeFileSync(fromRoot('openapi', 'openapi.json'), `${JSON.stringify(doc, null, 2)}\n`);
  } finally {
    await broker.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
} else {
  console.error('usage: node --import tsx scripts/docs.ts errors|settings|openapi');
  process.exit(2);
}
