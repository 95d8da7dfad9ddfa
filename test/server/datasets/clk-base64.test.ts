/**
 * CLK_BASE64_INVALID means "not canonical base64" (common/error-codes.ts): a CLK whose last character
 * before `=` sets bits beyond the last byte decodes to the same bytes as the canonical text, and is refused
 * by an upload, a verification and a linkage job alike (engine/validation.ts isCanonicalBase64).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, expectProblem, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** `text` with the lowest unused bit of its last character before `=` set: `…oqc=` → `…oqd=`. */
function nonCanonical(text: string): string {
  const at = text.indexOf('=') - 1;
  return `${text.slice(0, at)}${ALPHABET[ALPHABET.indexOf(text[at]!) | 1]}${text.slice(at + 1)}`;
}

let t: TestBroker;
const clks = Array.from({ length: 20 }, (_, i) => randomClk(1024, 910_000 + i));
const canonical = b64(clks[4]!);
const altered = nonCanonical(canonical);

beforeAll(async () => {
  t = await startTestBroker();
  const put = await api(t.url, 'PUT', '/v1/datasets/b64', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: { over_18: 'boolean' } },
  });
  expect(put.status, put.text).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

function upload(rows: { ref: string; clk: string }[]) {
  return api(t.url, 'POST', '/v1/datasets/b64/versions', {
    token: t.tokens.dp,
    raw: rows.map((r) => `${JSON.stringify({ ...r, claims: { over_18: true } })}\n`).join(''),
    contentType: 'application/x-ndjson',
  });
}

const verify = (clk: string) =>
  api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'b64', clk, claims: ['over_18'], purpose: 'age_verification' },
  });

describe('non-canonical base64 CLKs', () => {
  it('the altered text is another string for the same bytes (a 1024-bit CLK ends in one `=`)', () => {
    expect(canonical).toMatch(/[^=]=$/);
    expect(altered).not.toBe(canonical);
    expect(Buffer.from(altered, 'base64')).toEqual(Buffer.from(canonical, 'base64'));
  });

  it('a JSONL upload holding one is refused, naming the line; the canonical upload is stored', async () => {
    const rows = clks.map((clk, i) => ({ ref: `r${i}`, clk: b64(clk) }));
    const refused = await upload(rows.map((r, i) => (i === 4 ? { ...r, clk: altered } : r)));
    expectProblem(refused, 422, 'CLK_BASE64_INVALID');
    expect(refused.json.detail).toContain('line 5');
    const stored = await upload(rows);
    expect(stored.status, stored.text).toBe(201);
    // The refused upload kept its version number (listed as failed), so this one is version 2.
    expect(stored.json).toMatchObject({ version: 2, status: 'active', rows: 20 });
  });

  it('a verification is refused with it, and answered with the canonical text', async () => {
    expectProblem(await verify(altered), 422, 'CLK_BASE64_INVALID');
    const ok = await verify(canonical);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json).toMatchObject({ decision: 'match', dataset_version: 2 });
  });

  it('a linkage job is refused with one among its CLKs', async () => {
    const r = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: { dataset: 'b64', clks: [b64(clks[0]!), altered], threshold: 0.9, purpose: 'kyc' },
    });
    expectProblem(r, 422, 'CLK_BASE64_INVALID');
  });
});
