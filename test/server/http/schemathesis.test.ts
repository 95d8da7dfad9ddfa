/**
 * Schemathesis (PyPI) generates requests from the broker's own /openapi.json, one run per role, and
 * checks every answer against the document: no 5xx, only documented status codes and content types,
 * answers that match their schemas, invalid data refused, valid data accepted (test/server/http/
 * schemathesis.toml lists the operations whose validity OpenAPI cannot state). `.ci/run` installs it
 * and sets SCHEMATHESIS_BIN; without it the suite is skipped, or fails when CI is set.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../../common/paths.js';
import { loadDemoDataset } from '../../../server/demo.js';
import { startTestBroker, type TestBroker } from '../helpers.js';

const bin = process.env.SCHEMATHESIS_BIN;
const config = fromRoot('test', 'server', 'http', 'schemathesis.toml');

function schemathesis(url: string, token: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      bin!,
      [
        '--config-file',
        config,
        'run',
        `${url}/openapi.json`,
        '-H',
        `Authorization: Bearer ${token}`,
        '--max-examples',
        '25',
        // One seed, so a CI run is repeatable; another seed (SCHEMATHESIS_SEED) explores other requests.
        '--seed',
        process.env.SCHEMATHESIS_SEED ?? '20261205',
        '--no-color',
      ],
      { timeout: 300_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
    );
  });
}

if (!bin && !process.env.CI) {
  describe.skip('schemathesis (set SCHEMATHESIS_BIN, as .ci/run does)', () => {
    it('runs', () => {});
  });
} else {
  describe('schemathesis against /openapi.json', () => {
    let t: TestBroker;
    beforeAll(async () => {
      expect(bin, 'SCHEMATHESIS_BIN must name the schemathesis CLI (.ci/run installs it)').toBeTruthy();
      t = await startTestBroker();
      // A dataset to answer from, so generated verifications reach the engine and the audit log.
      await loadDemoDataset(t.broker, 500);
    });
    afterAll(async () => {
      await t?.broker.close();
    });

    for (const role of ['rp', 'dp', 'auditor', 'admin'] as const) {
      it(`finds no mismatch with the document as ${role}`, async () => {
        const r = await schemathesis(t.url, t.tokens[role]);
        // The whole report on failure: it names the operation, the request and the answer.
        expect(r.code, r.output).toBe(0);
      });
    }
  });
}
