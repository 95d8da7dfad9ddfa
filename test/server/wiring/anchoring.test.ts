/**
 * With ANCHORING=anvil the broker starts a local chain, deploys the
 * MerkleAnchor contract and anchors checkpoints; a verification's receipt
 * then names the on-chain anchor and still verifies against the log key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReceipt } from '../../../audit/index.js';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 900_000 + i));

beforeAll(async () => {
  t = await startTestBroker({
    ANCHORING: 'anvil',
    ANCHOR_MIN_SIZE_DELTA: '1',
    ANCHOR_POLL_MS: '200',
    AUDIT_CHECKPOINT_LEAVES: '1',
    AUDIT_CHECKPOINT_MS: '100',
  });
  await api(t.url, 'PUT', '/v1/datasets/a', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  await api(t.url, 'POST', '/v1/datasets/a/versions', {
    token: t.tokens.dp,
    raw: clks.map((c, i) => JSON.stringify({ ref: `a${i}`, clk: b64(c), claims: { over_18: true } })).join('\n'),
    contentType: 'application/x-ndjson',
  });
});
afterAll(async () => {
  await t?.broker.close();
});

describe('anchoring on anvil', () => {
  it('receipts name the anchor once the checkpoint is on chain', async () => {
    const v = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'a', clk: b64(clks[3]!), claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(v.json.decision).toBe('match');
    const index = v.json.receipt.index;
    let r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.rp });
    for (let i = 0; i < 100 && !r.headers.get('x-anchor-tx'); i++) {
      await new Promise((res) => setTimeout(res, 200));
      r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.rp });
    }
    expect(r.status, r.text).toBe(200);
    // anvil in the broker mines a block a second with 1-slot epochs: the anchor turns final.
    for (let i = 0; i < 100 && r.headers.get('x-anchor-final') !== 'true'; i++) {
      await new Promise((res) => setTimeout(res, 200));
      r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.rp });
    }
    expect(r.headers.get('x-anchor-final')).toBe('true');
    expect(r.headers.get('x-anchor-chain')).toBe('eip155:80002');
    expect(r.headers.get('x-anchor-tx')).toMatch(/^0x[0-9a-f]{64}$/);
    const parsed = parseReceipt(r.text);
    expect(parsed.index).toBe(index);
    expect(parsed.anchor).toMatchObject({ chain: 'eip155:80002', tx: r.headers.get('x-anchor-tx') });
    const verified = t.broker.audit.verifyReceipt(r.text, {
      leafHash: Buffer.from(v.json.receipt.leaf_hash, 'base64'),
    });
    expect(verified).toBeTruthy();
    const metrics = (await api(t.url, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/pavilion_anchor_lag_entries \d+/);
    expect(metrics).toMatch(/pavilion_anchor_last_final_size [1-9]\d*/);
  }, 60_000);
});
