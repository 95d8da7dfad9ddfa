/**
 * `pavilion audit verify` on an honest receipt whose anchor a reorg dropped: the broker posts the same anchor
 * again in another transaction, and the receipt's `extra` line still names the first one. Nothing authenticates
 * that line (docs/audit.md, step 5), so the anchor is then looked up on the pinned contract, as for a receipt
 * without it: exit 0 when it is there, 3 when it is not yet, never 1 ("do not trust the receipt"). Its own anvil
 * and broker: the reorg (evm_snapshot, evm_revert) rewinds the whole chain.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, type Anvil, deployMerkleAnchor, startAnvil } from '../../anchoring/index.js';
import { canonicalEvent } from '../../audit/index.js';
import { loadDemoSchema } from '../../demo/people.js';
import { eagerAnchoring } from '../anchoring/support.js';
import { api, startTestBroker, type TestBroker } from '../server/helpers.js';
import { pavilion } from './pavilion.js';

const dir = mkdtempSync(join(tmpdir(), 'pavilion-audit-reorg-'));
let anvil: Anvil;
let provider: JsonRpcProvider;
let t: TestBroker;
let contract: string;
let pinsFile: string;

/** An audited change (a dataset declared): resolves to the index of its entry. */
async function auditedChange(name: string): Promise<number> {
  const put = await api(t.url, 'PUT', `/v1/datasets/${name}`, {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  expect(put.status, put.text).toBeLessThan(300);
  return (await t.broker.audit.size()) - 1;
}

/** The receipt of `index` once it names an anchor other than `notTx`: its text and the anchor's transaction. */
async function anchoredReceipt(index: number, notTx?: string): Promise<{ text: string; tx: string }> {
  for (let i = 0; i < 300; i++) {
    const r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.auditor });
    const tx = r.headers.get('x-anchor-tx');
    if (r.status === 200 && tx && tx !== notTx) return { text: r.text, tx };
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`receipt ${index} never named a${notTx ? ' new' : 'n'} anchor`);
}

/** The receipt with its `extra` line (the anchor reference) changed or removed (null). */
function withExtra(text: string, change: ((reference: Record<string, unknown>) => object) | null): string {
  const lines = text.split('\n');
  if (!lines[1]?.startsWith('extra ')) throw new Error('receipt has no extra line');
  if (change === null) lines.splice(1, 1);
  else {
    const reference = JSON.parse(Buffer.from(lines[1].slice('extra '.length), 'base64').toString('utf8'));
    // Canonical JSON (RFC 8785), as the broker writes it: any other form is ANCHOR_INVALID.
    lines[1] = `extra ${Buffer.from(canonicalEvent(change(reference)), 'utf8').toString('base64')}`;
  }
  return lines.join('\n');
}

function save(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  anvil = await startAnvil({ chainId: 80002 });
  provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
  // Deployed by the broker's anchoring account, which owns it: only the owner anchors.
  contract = await deployMerkleAnchor(new Wallet(ANVIL_DEV_PRIVATE_KEYS[0]!, provider));
  t = await startTestBroker(eagerAnchoring(anvil.rpcUrl, contract));
  pinsFile = join(dir, 'pins.json');
  const pinned = await pavilion([
    'audit',
    'pin',
    '--server',
    t.url,
    '--token',
    t.tokens.auditor,
    '--rpc',
    anvil.rpcUrl,
  ]);
  expect(pinned.code, pinned.stderr).toBe(0);
  writeFileSync(pinsFile, pinned.stdout);
}, 120_000);

afterAll(async () => {
  provider?.destroy();
  await t?.broker.close();
  await anvil?.stop();
});

describe('pavilion audit verify: a receipt whose anchor a reorg dropped', () => {
  it('is read from the contract when its transaction is gone: 0 once anchored again, 3 where it is not', async () => {
    // The log's anchors so far are on chain before the snapshot; the one for this entry after it.
    await anchoredReceipt(await auditedChange('before'));
    const snapshot = await provider.send('evm_snapshot', []);
    const index = await auditedChange('people');
    const first = await anchoredReceipt(index);

    // The reorg: the chain goes back before the anchor and grows again; the broker posts the anchor again.
    await provider.send('evm_revert', [snapshot]);
    await provider.send('anvil_mine', ['0x3']);
    const again = await anchoredReceipt(index, first.tx);
    expect(await provider.send('eth_getTransactionReceipt', [first.tx])).toBeNull();

    const auditor = ['--config', pinsFile, '--token', t.tokens.auditor];
    const stale = save('stale.txt', first.text);
    const run = await pavilion(['audit', 'verify', stale, ...auditor]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const onContract =
      "ok {4}anchor on chain: the receipt's reference is not on chain \\(ANCHOR_NOT_FOUND: no such transaction on " +
      'this chain\\); read from the contract: (the chain holds this checkpoint|covered by the anchor of size \\d+ ' +
      '\\(consistency proven\\)): eip155:80002 0x[0-9a-fA-F]{40} tx 0x[0-9a-f]{64} block \\d+, not final yet';
    expect(run.stdout).toMatch(new RegExp(onContract));
    expect(run.stdout).toContain('receipt verified and anchored');
    // The same receipt without its extra line, and the broker's receipt of today, verify alike.
    const stripped = await pavilion(['audit', 'verify', save('stripped.txt', withExtra(first.text, null)), ...auditor]);
    expect(stripped.code, stripped.stdout).toBe(0);
    const current = await pavilion(['audit', 'verify', save('current.txt', again.text), ...auditor]);
    expect(current.code, current.stdout).toBe(0);
    expect(current.stdout).toMatch(/ok {4}anchor on chain: .* confirmation\(s\), not final yet/);

    // A contract that anchors nothing of this log, pinned and named in the reference: not anchored yet (exit 3).
    const empty = await deployMerkleAnchor(new Wallet(ANVIL_DEV_PRIVATE_KEYS[2]!, provider));
    const elsewhere = save(
      'elsewhere.txt',
      withExtra(first.text, (reference) => ({ ...reference, contract: empty })),
    );
    const notYet = await pavilion(['audit', 'verify', elsewhere, ...auditor, '--contract', empty]);
    expect(notYet.code, notYet.stdout + notYet.stderr).toBe(3);
    expect(notYet.stdout).toMatch(/ok {4}anchor on chain: the receipt's reference is not on chain \(ANCHOR_NOT_FOUND/);
    expect(notYet.stdout).toContain('receipt verified, NOT ANCHORED yet');
  }, 120_000);
});
