/**
 * With ANCHORING=anvil the broker starts a local chain, deploys the
 * MerkleAnchor contract and anchors checkpoints; a verification's receipt
 * then names the on-chain anchor and still verifies against the log key.
 * With ANCHORING=rpc, on a contract `pavilion anchor deploy` deployed (its printed settings), the broker
 * anchors there; a wrong chain, contract or key refuses the start, and an RPC that cannot be reached
 * shows in the log and the metrics the anchoring alerts watch.
 */
import { type AddressInfo, createServer } from 'node:net';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type Anvil,
  deployBlockOf,
  deployMerkleAnchor,
  logIdForOrigin,
  merkleAnchorAt,
  startAnvil,
} from '../../../anchoring/index.js';
import { parseReceipt } from '../../../audit/index.js';
import { anchorDeploy } from '../../../cli/anchor.js';
import { loadDemoSchema } from '../../../demo/people.js';
import { RpcOutage } from '../../anchoring/support.js';
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

/**
 * Appends an event (a dataset defined) and signs a checkpoint, so the anchorer has something to anchor, then reads
 * /metrics until every pattern matches (at most 10 s; the caller's assertions then say what was missing).
 */
async function metricsAfterACheckpoint(b: TestBroker, patterns: RegExp[]): Promise<string> {
  await api(b.url, 'PUT', '/v1/datasets/a', {
    token: b.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  await b.broker.audit.checkpoint();
  let metrics = '';
  for (let i = 0; i < 100; i++) {
    metrics = (await api(b.url, 'GET', '/metrics')).text;
    if (patterns.every((p) => p.test(metrics))) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return metrics;
}

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
    // anvil's first dev account holds 10,000 ETH, less the gas of the deployment and the anchors.
    expect(Number(/^pavilion_anchor_wallet_balance (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(9_000);
  }, 60_000);
});

describe('ANCHORING=rpc, on a contract `pavilion anchor deploy` deployed', () => {
  let anvil: Anvil;
  /** What `pavilion anchor deploy` printed: ANCHOR_CONTRACT, ANCHOR_DEPLOY_BLOCK, ANCHOR_CHAIN_ID. */
  let deployed: Record<string, string>;
  beforeAll(async () => {
    anvil = await startAnvil({ chainId: 80002 });
    // The command's own code (cli/anchor.ts), the key as the broker takes it; its output as the settings.
    const lines = await anchorDeploy({ rpc: anvil.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0]!, note: () => {} });
    deployed = Object.fromEntries(lines.map((l) => l.split('=') as [string, string]));
  }, 60_000);
  afterAll(async () => {
    await anvil?.stop();
  });
  const rpc = (overrides: Record<string, string>) => ({
    ANCHORING: 'rpc',
    ETH_RPC_URL: anvil.rpcUrl,
    ...deployed,
    ANCHOR_PRIVATE_KEY: ANVIL_DEV_PRIVATE_KEYS[0]!,
    ...overrides,
  });

  it('the broker anchors to it with the printed settings, and publishes its deploy block', async () => {
    expect(Object.keys(deployed)).toEqual(['ANCHOR_CONTRACT', 'ANCHOR_DEPLOY_BLOCK', 'ANCHOR_CHAIN_ID']);
    const b = await startTestBroker(
      rpc({
        ANCHOR_MIN_SIZE_DELTA: '1',
        ANCHOR_POLL_MS: '200',
        AUDIT_CHECKPOINT_LEAVES: '1',
        AUDIT_CHECKPOINT_MS: '100',
      }),
    );
    try {
      const facts = await api(b.url, 'GET', '/v1/audit/anchoring', { token: b.tokens.auditor });
      expect(facts.json).toMatchObject({
        enabled: true,
        chain: 'eip155:80002',
        deploy_block: Number(deployed.ANCHOR_DEPLOY_BLOCK),
      });
      expect(facts.json.contract.toLowerCase()).toBe(deployed.ANCHOR_CONTRACT!.toLowerCase());
      const { index } = await b.broker.audit.append({ type: 'anchor-deploy-test' });
      let r = await api(b.url, 'GET', `/v1/audit/receipts/${index}`, { token: b.tokens.auditor });
      for (let i = 0; i < 150 && !r.headers.get('x-anchor-tx'); i++) {
        await new Promise((res) => setTimeout(res, 200));
        r = await api(b.url, 'GET', `/v1/audit/receipts/${index}`, { token: b.tokens.auditor });
      }
      expect(r.status, r.text).toBe(200);
      expect(parseReceipt(r.text).anchor).toMatchObject({ chain: 'eip155:80002', tx: r.headers.get('x-anchor-tx') });
      expect(parseReceipt(r.text).anchor!.contract.toLowerCase()).toBe(deployed.ANCHOR_CONTRACT!.toLowerCase());
    } finally {
      await b.broker.close();
    }
  }, 60_000);

  it('a chain the RPC does not serve refuses the start', async () => {
    await expect(startTestBroker(rpc({ ANCHOR_CHAIN_ID: '137' }))).rejects.toMatchObject({
      code: 'CHAIN_ID_MISMATCH',
    });
  }, 60_000);

  it('an ANCHOR_PRIVATE_KEY that is no key refuses the start, naming the setting and not the value', async () => {
    // An outside probe saw `ANCHOR_INVALID_KEY: privateKey is not a valid secp256k1 private key`.
    const err = await startTestBroker(rpc({ ANCHOR_PRIVATE_KEY: '0xzz' })).then(
      async (b) => {
        await b.broker.close();
        return new Error('the broker started');
      },
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ code: 'ANCHOR_INVALID_KEY' });
    expect(err.message).toBe('ANCHOR_PRIVATE_KEY is not a valid secp256k1 private key (32 bytes of hex, 0x optional)');
  }, 60_000);

  it('a contract address without code refuses the start', async () => {
    await expect(
      startTestBroker(rpc({ ANCHOR_CONTRACT: '0x0000000000000000000000000000000000000001' })),
    ).rejects.toMatchObject({ code: 'ANCHOR_CONTRACT_MISSING' });
  }, 60_000);

  it('an anchor on chain that is not a state of the log stops anchoring, logged and exported', async () => {
    // A fresh contract whose latest anchor of this log holds a root the log never had (posted with the owner
    // key by someone else, or by this broker before its database was restored from an older dump).
    const provider = new JsonRpcProvider(anvil.rpcUrl, anvil.chainId, { staticNetwork: true });
    // NonceManager: ethers answers the nonce from a short per-provider cache, stale after the deployment.
    const owner = new NonceManager(new Wallet(ANVIL_DEV_PRIVATE_KEYS[0]!, provider));
    const forked = await deployMerkleAnchor(owner);
    const origin = 'test.pavilion.example/wiring/diverged';
    await (await merkleAnchorAt(forked, owner).anchor!(logIdForOrigin(origin), 1, `0x${'ee'.repeat(32)}`)).wait();
    provider.destroy();
    const b = await startTestBroker(rpc({ ANCHOR_CONTRACT: forked, AUDIT_ORIGIN: origin, ANCHOR_POLL_MS: '100' }));
    try {
      const metrics = await metricsAfterACheckpoint(b, [/^pavilion_anchor_log_diverged 1$/m]);
      expect(metrics).toMatch(/^pavilion_anchor_log_diverged 1$/m);
      expect(metrics).toMatch(/^pavilion_anchor_consecutive_failures [1-9]\d*$/m);
      const failed = b.logs.map((l) => JSON.parse(l)).filter((l) => l.code === 'ANCHOR_LOG_DIVERGED');
      expect(failed[0]).toMatchObject({ level: 50, msg: expect.stringMatching(/anchor of this log \(size 1\)/) });
    } finally {
      await b.broker.close();
    }
  }, 60_000);

  it('a deploy block unknown at start (RPC unreachable) is looked up once the RPC answers', async () => {
    // A relay in front of anvil, up once to take a port, down while the broker starts.
    const relay = new RpcOutage(anvil.port);
    await relay.up();
    await relay.down();
    const b = await startTestBroker(rpc({ ETH_RPC_URL: relay.url, ANCHOR_DEPLOY_BLOCK: '', ANCHOR_POLL_MS: '100' }));
    try {
      const facts = async () =>
        (await api(b.url, 'GET', '/v1/audit/anchoring', { token: b.tokens.auditor })).json.deploy_block;
      expect(await facts()).toBeNull();
      await relay.up(); // same port
      const expected = await deployBlockOf(anvil.rpcUrl, anvil.chainId, deployed.ANCHOR_CONTRACT!);
      let deployBlock: unknown = null;
      for (let i = 0; i < 100 && deployBlock === null; i++) {
        await new Promise((res) => setTimeout(res, 100));
        deployBlock = await facts();
      }
      // It stayed null for the life of the process, and `audit pin` wrote none.
      expect(deployBlock).toBe(expected);
    } finally {
      await b.broker.close();
      await relay.down();
    }
  }, 60_000);

  it('checkpoint signing blocked (LOG_CORRUPT): still ready, the anchor lag counts from the tree', async () => {
    const closed = await closedPort();
    const b = await startTestBroker(
      rpc({
        ETH_RPC_URL: `http://127.0.0.1:${closed}`,
        AUDIT_CHECKPOINT_MS: '86400000',
        AUDIT_CHECKPOINT_LEAVES: '10000000',
      }),
    );
    try {
      const { audit, db } = b.broker;
      const start = await audit.size();
      for (let i = start; i < 25; i++) await audit.append({ type: 'test', n: i });
      expect((await audit.checkpoint()).size).toBe(25);
      // A stored node edited (leaves 0..15): the broker rightly refuses to sign a checkpoint over it.
      await db.sql`update audit_nodes set hash = ${Buffer.alloc(32, 0xaa)} where level = 4 and idx = 0`;
      await audit.append({ type: 'test', n: 25 });
      await audit.append({ type: 'test', n: 26 });
      await expect(audit.checkpoint()).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
      const metrics = (await api(b.url, 'GET', '/metrics')).text;
      expect(metrics).toMatch(/^pavilion_audit_tree_size 27$/m);
      expect(metrics).toMatch(/^pavilion_audit_checkpoint_size 25$/m);
      // What PavilionCheckpointStalled and PavilionReceiptsNotReady read (deploy/prometheus/rules).
      expect(metrics).toMatch(/^pavilion_audit_checkpoint_timestamp_seconds [1-9]/m);
      expect(metrics).toMatch(/^pavilion_audit_checkpoint_lag_seconds \S+$/m);
      // No anchor final (the chain is unreachable): all 27 entries wait, not the checkpoint's 25.
      expect(metrics).toMatch(/^pavilion_anchor_lag_entries 27$/m);
      // It still answers (verifications, proofs up to 25): not unready; the alerts above say it.
      expect((await api(b.url, 'GET', '/readyz')).status).toBe(200);
    } finally {
      await b.broker.close();
    }
  }, 60_000);

  it('an RPC that cannot be reached: the broker serves, logs every failed pass and exports the lag', async () => {
    const closed = await closedPort();
    const b = await startTestBroker(
      rpc({ ETH_RPC_URL: `http://127.0.0.1:${closed}/secret-api-key`, ANCHOR_POLL_MS: '100' }),
    );
    try {
      const metrics = await metricsAfterACheckpoint(b, [
        /^pavilion_anchor_consecutive_failures [2-9]/m,
        /^pavilion_anchor_lag_entries [1-9]/m,
      ]);
      expect(metrics).toMatch(/^pavilion_anchor_consecutive_failures [2-9]\d*$/m);
      expect(metrics).toMatch(/^pavilion_anchor_lag_entries [1-9]\d*$/m);
      expect(metrics).toMatch(/^pavilion_anchor_log_diverged 0$/m); // not known to be diverged
      // No balance was ever read: the series is absent (a 0 fired PavilionAnchorWalletEmpty, "fund it",
      // for what is an RPC outage).
      expect(metrics).not.toMatch(/pavilion_anchor_wallet_balance/);
      const failed = b.logs.filter((l) => l.includes('anchoring pass failed'));
      expect(failed.length).toBeGreaterThanOrEqual(2);
      expect(JSON.parse(failed[0]!)).toMatchObject({ level: 50, code: 'CHAIN_UNREACHABLE', failures: 1 });
      expect(b.logs.some((l) => l.includes('cannot be checked at start'))).toBe(true);
      // The RPC URL may carry an API key; the anchoring key never appears.
      const all = b.logs.join('\n');
      expect(all).not.toContain('secret-api-key');
      expect(all).not.toContain(ANVIL_DEV_PRIVATE_KEYS[0]!.slice(2));
      expect((await api(b.url, 'GET', '/readyz')).status).toBe(200);
    } finally {
      await b.broker.close();
    }
  }, 60_000);
});

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  await new Promise((res) => server.close(res));
  return port;
}
