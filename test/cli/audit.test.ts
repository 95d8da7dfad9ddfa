/**
 * The auditor's tools against a running broker, its database and a real
 * chain (anvil): `pavilion audit verify` checks a receipt end to end and
 * `pavilion audit monitor` follows the log; both must catch an operator who
 * rewrites a stored leaf or tree node.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, type Anvil, deployMerkleAnchor, startAnvil } from '../../anchoring/index.js';
import { auditMonitor, auditVerify, type Reporter } from '../../cli/audit.js';
import { loadDemoSchema } from '../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../server/helpers.js';

let anvil: Anvil;
let t: TestBroker;
let logKey: string;
const dir = mkdtempSync(join(tmpdir(), 'pavilion-audit-cli-'));
const clks = Array.from({ length: 20 }, (_, i) => randomClk(1024, 700_000 + i));

/** Collects what the tools print, so a test can say which step failed. */
function recorder(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    ok: (s, d) => lines.push(`ok ${s}: ${d}`),
    fail: (s, d) => lines.push(`FAIL ${s}: ${d}`),
    note: (n) => lines.push(n),
  };
}

async function verifyOnce(person: number): Promise<{ index: number; leafHash: string }> {
  const v = await api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'people', clk: b64(clks[person]!), claims: ['over_18'], purpose: 'age_verification' },
  });
  expect(v.status, v.text).toBe(200);
  return { index: v.json.receipt.index, leafHash: v.json.receipt.leaf_hash };
}

/** Waits until the receipt for `index` names an on-chain anchor, then saves it to a file. */
async function anchoredReceipt(index: number): Promise<string> {
  for (let i = 0; i < 150; i++) {
    const r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.auditor });
    if (r.status === 200 && r.headers.get('x-anchor-tx')) {
      const file = join(dir, `receipt-${index}.txt`);
      writeFileSync(file, r.text);
      return file;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`receipt ${index} never anchored`);
}

beforeAll(async () => {
  anvil = await startAnvil({ chainId: 80002 });
  const owner = new Wallet(
    ANVIL_DEV_PRIVATE_KEYS[0]!,
    new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true }),
  );
  const contract = await deployMerkleAnchor(owner);
  t = await startTestBroker({
    ANCHORING: 'rpc',
    ETH_RPC_URL: anvil.rpcUrl,
    ANCHOR_CHAIN_ID: '80002',
    ANCHOR_CONTRACT: contract,
    ANCHOR_PRIVATE_KEY: ANVIL_DEV_PRIVATE_KEYS[0]!,
    ANCHOR_MIN_SIZE_DELTA: '1',
    ANCHOR_POLL_MS: '200',
    AUDIT_CHECKPOINT_LEAVES: '1',
    AUDIT_CHECKPOINT_MS: '100',
    // Serve proofs from the rows, as a restarted broker would: a running one
    // keeps serving the committed hashes it holds in memory (audit/README.md),
    // so the rewrites below would otherwise only show after a restart.
    AUDIT_CACHE_MB: '0',
  });
  logKey = t.broker.audit.verifierKey;
  await api(t.url, 'PUT', '/v1/datasets/people', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  const upload = clks
    .map((c, i) => JSON.stringify({ ref: `p${i}`, clk: b64(c), claims: { over_18: true } }))
    .join('\n');
  const res = await api(t.url, 'POST', '/v1/datasets/people/versions', {
    token: t.tokens.dp,
    raw: upload,
    contentType: 'application/x-ndjson',
  });
  expect(res.status, res.text).toBeLessThan(300);
}, 120_000);

afterAll(async () => {
  await t?.broker.close();
  await anvil?.stop();
});

describe('pavilion audit verify', () => {
  it('verifies a receipt: signature, inclusion, consistency with the latest checkpoint, anchor on chain', async () => {
    const { index, leafHash } = await verifyOnce(3);
    const file = await anchoredReceipt(index);
    const out = recorder();
    const failed = await auditVerify(
      { receiptFile: file, server: t.url, rpc: anvil.rpcUrl, logKey, token: t.tokens.auditor, leafHash },
      out,
    );
    expect(failed, out.lines.join('\n')).toEqual([]);
    expect(out.lines.join('\n')).toMatch(/ok anchor on chain: eip155:80002 0x[0-9a-fA-F]{40} tx 0x[0-9a-f]{64}/);
    expect(out.lines.join('\n')).toMatch(/ok checkpoint signature and inclusion proof/);
  }, 60_000);

  it('fails on a receipt checked with another log key, or for another leaf', async () => {
    const { index } = await verifyOnce(4);
    const file = await anchoredReceipt(index);
    const { generateSignerKey, verifierKeyFor } = await import('../../audit/index.js');
    const stranger = verifierKeyFor(generateSignerKey(t.broker.audit.origin));
    const out1 = recorder();
    expect(
      await auditVerify(
        { receiptFile: file, server: t.url, rpc: anvil.rpcUrl, logKey: stranger, token: t.tokens.auditor },
        out1,
      ),
    ).toContain('checkpoint signature and inclusion proof');
    const out2 = recorder();
    const wrongLeaf = Buffer.alloc(32, 7).toString('base64');
    expect(await auditVerify({ receiptFile: file, rpc: anvil.rpcUrl, logKey, leafHash: wrongLeaf }, out2)).toContain(
      'checkpoint signature and inclusion proof',
    );
  }, 60_000);

  it('catches a stored event the operator rewrote', async () => {
    const { index } = await verifyOnce(5);
    const file = await anchoredReceipt(index);
    const sql = t.broker.db.sql;
    // The operator changes what was decided: same row, different event text.
    await sql`update audit_leaves set event = replace(event, '"match"', '"no_match"') where idx = ${index}`;
    const out = recorder();
    const failed = await auditVerify(
      { receiptFile: file, server: t.url, rpc: anvil.rpcUrl, logKey, token: t.tokens.auditor },
      out,
    );
    expect(failed.length, out.lines.join('\n')).toBeGreaterThan(0);
    expect(out.lines.join('\n')).toMatch(/FAIL (leaf|checkpoint signature and inclusion proof)/);
  }, 60_000);
});

describe('pavilion audit monitor', () => {
  it('follows a consistent log, then reports a rewritten tree node', async () => {
    const state = join(dir, 'monitor.json');
    await verifyOnce(6);
    const first = recorder();
    expect(
      await auditMonitor(
        { server: t.url, stateFile: state, rpc: anvil.rpcUrl, logKey, token: t.tokens.auditor },
        first,
      ),
      first.lines.join('\n'),
    ).toEqual([]);

    // The log grows honestly: the next pass proves it an extension of the last.
    const { index } = await verifyOnce(7);
    await anchoredReceipt(index);
    const second = recorder();
    expect(
      await auditMonitor(
        { server: t.url, stateFile: state, rpc: anvil.rpcUrl, logKey, token: t.tokens.auditor },
        second,
      ),
      second.lines.join('\n'),
    ).toEqual([]);
    expect(second.lines.join('\n')).toMatch(/ok consistency with the last verified checkpoint/);

    // More entries and a new signed checkpoint, then the operator rewrites
    // stored subtree hashes: the consistency proofs served no longer verify.
    const next = await verifyOnce(8);
    await anchoredReceipt(next.index);
    const sql = t.broker.db.sql;
    await sql`update audit_nodes set hash = sha256(hash)`;
    const third = recorder();
    const failed = await auditMonitor(
      { server: t.url, stateFile: state, rpc: anvil.rpcUrl, logKey, token: t.tokens.auditor },
      third,
    );
    expect(failed, third.lines.join('\n')).toContain('consistency with the last verified checkpoint');
  }, 90_000);
});
