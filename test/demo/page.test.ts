/**
 * The development demo page (/demo/, demo/web/) in headless Chromium
 * (Debian's `chromium` driven by playwright-core): a person typed into the
 * page is encoded in the browser to the very CLK `pavilion encode` makes,
 * verified (match), and the answer's receipt verified in the page; no
 * request or WebSocket frame the page sends holds what was typed.
 *
 * The browser test needs /usr/bin/chromium (apt-get install -y chromium):
 * skipped with that message when it is absent, failed when CI is set.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowserBundles } from '../../client/build.js';
import { fromRoot } from '../../common/paths.js';
import { type DemoDataset, loadDemoDataset } from '../../server/demo.js';
import { api, startTestBroker, type TestBroker } from '../server/helpers.js';
import { headThenGet } from '../server/http/raw-http.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !process.env.CI;
const SKIP_NOTE = skip ? ' (skipped: Debian chromium is not installed; apt-get install -y chromium)' : '';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const run = promisify(execFile);
let t: TestBroker;
let demo: DemoDataset;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pavilion-demo-page-'));
  await buildBrowserBundles();
  t = await startTestBroker({ DEMO_PAGE: 'true' });
  demo = await loadDemoDataset(t.broker, 2000, 5);
});

afterAll(async () => {
  await t?.broker.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `pavilion encode` (from source) for one person, as a relying party's backend would run it. */
async function cliEncode(row: readonly string[]): Promise<string> {
  const csv = join(work, 'person.csv');
  const secret = join(work, 'secret.txt');
  writeFileSync(csv, `rec_id,given_name,surname,dob,postcode\n${row.join(',')}\n`);
  writeFileSync(secret, demo.secret);
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      fromRoot('cli', 'main.ts'),
      'encode',
      '--schema',
      fromRoot('demo', 'schema.json'),
      '--secret-file',
      secret,
      '--in',
      csv,
    ],
    { cwd: fromRoot() },
  );
  return stdout.trim();
}

describe('the demo page in headless Chromium', () => {
  it.skipIf(skip)(`verifies a person with the CLK computed in the browser${SKIP_NOTE}`, async () => {
    if (!haveChromium) throw new Error(`CI is set but ${CHROMIUM} is missing: .ci/run must apt-get install chromium`);
    const person = demo.people[123]!;
    const expectedClk = await cliEncode(person);
    expect(expectedClk).toMatch(/^[A-Za-z0-9+/]+=*$/);

    const profile = mkdtempSync(join(work, 'profile-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const sent: string[] = [];
      page.on('request', (r) => sent.push(`${r.url()} ${r.postData() ?? ''}`));
      page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
      const consoleErrors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });

      await page.goto(`${t.url}/demo/`);
      await page.locator('#status', { hasText: 'Ready' }).waitFor({ timeout: 30_000 });
      await page.fill('#given_name', person[1]);
      await page.fill('#surname', person[2]);
      await page.fill('#dob', person[3]);
      await page.fill('#postcode', person[4]);
      await page.click('#verify');
      await page.locator('#status', { hasText: /Done\.|:/ }).waitFor({ timeout: 30_000 });
      const status = await page.textContent('#status');
      expect(status, `page status (console errors: ${consoleErrors.join(' | ')})`).toBe('Done.');

      expect((await page.textContent('#clk'))?.trim()).toBe(expectedClk);
      expect(await page.textContent('#decision')).toBe('match');
      expect(Number(await page.textContent('#score'))).toBeGreaterThanOrEqual(0.85);
      expect(await page.textContent('#receipt')).toMatch(/^verified: entry \d+ is in the log pavilion\.local\/audit/);

      // Nothing typed left the browser: only the CLK did.
      expect(sent.some((s) => s.includes(expectedClk))).toBe(true);
      for (const value of [person[1], person[2], person[3], person[4]])
        expect(sent.filter((s) => s.includes(`"${value}"`) || s.includes(`=${value}`))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('is served only on development brokers, with the demo secret and an rp token', async () => {
    const off = await startTestBroker({ DEMO_PAGE: 'false' });
    try {
      expect((await api(off.url, 'GET', '/demo/')).status).toBe(404);
      expect((await api(off.url, 'GET', '/demo/session')).status).toBe(404);
    } finally {
      await off.broker.close();
    }
    const session = await api(t.url, 'GET', '/demo/session');
    expect(session.status).toBe(200);
    expect(session.json).toMatchObject({ dataset: 'demo', secret: demo.secret, token: expect.any(String) });
    const page = await fetch(`${t.url}/demo/`);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
  });

  it('HEAD answers what GET does, without the body, on a connection that stays usable', async () => {
    for (const [path, status] of [
      ['/demo/', 200],
      ['/demo/demo.css', 200],
      ['/demo', 308],
      ['/demo/session', 200],
    ] as const) {
      const { head, get, headEndedClean } = await headThenGet(t.url, path);
      expect([path, head.status, get.status]).toEqual([path, status, status]);
      // A session holds a fresh token each time: its length may differ by a few bytes, never be missing.
      if (path !== '/demo/session')
        expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body, 'latin1')));
      else expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
      for (const name of ['content-type', 'content-security-policy', 'location'])
        expect(head.headers[name], name).toBe(get.headers[name]);
      expect(headEndedClean, path).toBe(true);
    }
  });
});
