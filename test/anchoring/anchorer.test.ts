/**
 * The anchorer against a real local EVM (anvil, chain 80002 = Amoy fee rules)
 * and a real Postgres (embedded PGlite unless DATABASE_URL is set).
 * ReferenceLogSource stands in for the audit log: real signed C2SP checkpoints
 * over the RFC 9162 reference tree's roots. RPC outages are a relay in front of
 * the same anvil (RpcOutage), so the chain keeps its state across them.
 */
import { randomUUID } from 'node:crypto';
import { JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Anchorer, type AnchorerOptions } from '../../anchoring/anchorer.js';
import { ANVIL_DEV_PRIVATE_KEYS, type Anvil, startAnvil } from '../../anchoring/anvil.js';
import { deployMerkleAnchor } from '../../anchoring/contract.js';
import { GWEI } from '../../anchoring/fees.js';
import { verifyAnchor } from '../../anchoring/verify.js';
import { type Database, openDatabase } from '../../storage/postgres.js';
import { anchoredEvents, ensureArtifact, mine, ReferenceLogSource, RpcOutage, waitFor } from './support.js';

let anvil: Anvil;
let provider: JsonRpcProvider;
let db: Database;
const key = ANVIL_DEV_PRIVATE_KEYS[0];
const anchorers: Anchorer[] = [];
let logCounter = 0;
/** Unique per run: with DATABASE_URL the tables outlive the run. */
const RUN = randomUUID().slice(0, 8);
/** anvil's tip suggestion before any transaction (it follows recent tips afterwards). */
let initialSuggestedTip: bigint;

beforeAll(async () => {
  ensureArtifact();
  // 2 slots per epoch: anvil reports finalized = latest − 4.
  [anvil, db] = await Promise.all([
    startAnvil({ chainId: 80002, slotsInAnEpoch: 2 }),
    openDatabase(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : {}),
  ]);
  provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
  initialSuggestedTip = BigInt(await provider.send('eth_maxPriorityFeePerGas', []));
});

afterAll(async () => {
  for (const a of anchorers) await a.close();
  provider?.destroy();
  await db?.close();
  await anvil?.stop();
});

/** A fresh contract and log per test, so tests do not see each other's anchors. */
async function setup(overrides: Partial<AnchorerOptions> = {}) {
  const contract = await withSigner((signer) => deployMerkleAnchor(signer));
  const source = new ReferenceLogSource(`test.pavilion.example/anchorer/${RUN}/${++logCounter}`);
  const make = (more: Partial<AnchorerOptions> = {}) => {
    const a = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: anvil.rpcUrl,
      chainId: 80002,
      contract,
      privateKey: key,
      minSizeDelta: 3,
      maxIntervalMs: 3_600_000,
      ...overrides,
      ...more,
    });
    anchorers.push(a);
    return a;
  };
  return { contract, source, anchorer: make(), make };
}

/**
 * A wallet on its own provider: ethers answers getTransactionCount from a
 * short cache per provider, and the anchorers use the same account.
 */
async function withSigner<T>(fn: (signer: Wallet) => Promise<T>): Promise<T> {
  const own = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
  try {
    return await fn(new Wallet(key, own));
  } finally {
    own.destroy();
  }
}

async function txRows(logId: string) {
  return db.sql`select tx_hash, nonce from anchoring_transactions where log_id = ${logId} order by created_at`;
}

describe('Anchorer', () => {
  it('anchors on the size trigger, follows the receipt, and answers anchorFor', async () => {
    const { contract, source, anchorer } = await setup();
    source.grow(2);
    expect(await anchorer.tick()).toEqual({ ok: true }); // grew by 2 < 3: nothing
    expect(await anchoredEvents(provider, contract, source.logId)).toHaveLength(0);

    source.grow(4);
    expect(await anchorer.tick()).toEqual({ ok: true, sent: 4 });
    expect(anchorer.status()).toMatchObject({ pendingSize: 4, lastAnchoredSize: null, checkpointSize: 4 });
    expect(await anchorer.tick()).toEqual({ ok: true }); // receipt found
    expect(anchorer.status()).toMatchObject({
      pendingSize: null,
      lastAnchoredSize: 4,
      lastFinalSize: null,
      unanchoredEntries: 0,
      unfinalizedEntries: 4,
    });

    const events = await anchoredEvents(provider, contract, source.logId);
    expect(events.map((e) => [e.treeSize, e.root])).toEqual([[4, source.rootHex(4)]]);

    const ref = await anchorer.anchorFor(1);
    expect(ref).toMatchObject({
      chain: 'eip155:80002',
      contract,
      size: 4,
      root: source.rootHex(4),
      final: false,
      tx: events[0]!.txHash,
      block: events[0]!.blockNumber,
      blockHash: events[0]!.blockHash,
      logIndex: events[0]!.logIndex,
    });
    expect(await anchorer.anchorFor(5)).toBeUndefined();
    await expect(anchorer.anchorFor(0)).rejects.toMatchObject({ code: 'ANCHOR_INVALID_SIZE' });

    // The auditor's check of that reference, against the checkpoint it holds.
    const checked = await verifyAnchor({
      rpcUrl: anvil.rpcUrl,
      ...ref!,
      expected: { origin: source.origin, size: 4, root: source.rootHex(4) },
    });
    expect(checked.ok).toBe(true);

    // Growth below the trigger: no new anchor.
    source.grow(6);
    expect(await anchorer.tick()).toEqual({ ok: true });
    source.grow(7);
    expect(await anchorer.tick()).toEqual({ ok: true, sent: 7 });
    await anchorer.tick();
    expect((await anchoredEvents(provider, contract, source.logId)).map((e) => [e.treeSize, e.previousSize])).toEqual([
      [4, 0],
      [7, 4],
    ]);
    expect((await anchorer.anchorFor(5))?.size).toBe(7);
  });

  it('anchors any growth on the time trigger', async () => {
    const { source, anchorer } = await setup({ minSizeDelta: 1000, maxIntervalMs: 400 });
    source.grow(1);
    expect(await anchorer.tick()).toEqual({ ok: true }); // too soon after start
    await new Promise((r) => setTimeout(r, 450));
    expect(await anchorer.tick()).toEqual({ ok: true, sent: 1 });
    await anchorer.tick();
    source.grow(2);
    expect(await anchorer.tick()).toEqual({ ok: true }); // too soon after the last anchor
    await new Promise((r) => setTimeout(r, 450));
    expect(await anchorer.tick()).toEqual({ ok: true, sent: 2 });
  });

  it('clamps the priority fee to 25 gwei on Amoy and leaves room for twice the base fee', async () => {
    const { source, anchorer } = await setup();
    expect(initialSuggestedTip).toBeLessThan(25n * GWEI); // anvil suggests 1 gwei: the clamp is what raises it
    source.grow(3);
    await anchorer.tick();
    const [row] = await txRows(source.logId);
    const tx = (await provider.getTransaction(row!.tx_hash as string))!;
    const block = (await provider.getBlock(tx.blockNumber! - 1))!;
    console.log(
      `anchor tx fees: maxPriorityFeePerGas ${tx.maxPriorityFeePerGas} wei, maxFeePerGas ${tx.maxFeePerGas} wei, ` +
        `base fee ${block.baseFeePerGas}`,
    );
    expect(tx.type).toBe(2);
    expect(tx.maxPriorityFeePerGas).toBeGreaterThanOrEqual(25n * GWEI);
    expect(tx.maxFeePerGas!).toBeGreaterThanOrEqual(tx.maxPriorityFeePerGas! + 2n * (block.baseFeePerGas ?? 0n));
    const receipt = (await provider.getTransactionReceipt(tx.hash))!;
    console.log(`anchor tx gas used through the anchorer: ${receipt.gasUsed} (gas limit ${tx.gasLimit})`);
    expect(receipt.gasUsed).toBeLessThan(80_000n);
  });

  it('anchors a (log, size) once when two anchorers run at the same time', async () => {
    const { contract, source, anchorer, make } = await setup();
    const second = make();
    source.grow(5);
    const outcomes = await Promise.all([anchorer.tick(), second.tick()]);
    expect(outcomes.filter((o) => o.sent === 5)).toHaveLength(1);
    await Promise.all([anchorer.tick(), second.tick()]);
    await Promise.all([anchorer.tick(), second.tick()]);
    expect(await anchoredEvents(provider, contract, source.logId, 5)).toHaveLength(1);
    expect(await txRows(source.logId)).toHaveLength(1);
    expect(second.status().lastAnchoredSize).toBe(5);
    expect(anchorer.status().lastAnchoredSize).toBe(5);
  });

  // Needs a real server: embedded PGlite is one Postgres session behind its
  // socket (storage/postgres.ts), so its "connections" share advisory locks and
  // transactions and this would test PGlite's multiplexing, not the lock.
  it.runIf(Boolean(process.env.DATABASE_URL))(
    'anchors once when two anchorers on separate database connections race',
    async () => {
      const postgres = (await import('postgres')).default;
      const secondConnection = postgres(db.url, { max: 1, onnotice: () => {} });
      try {
        const { contract, source, anchorer, make } = await setup();
        const second = make({ sql: secondConnection });
        source.grow(6);
        const outcomes = await Promise.all([anchorer.tick(), second.tick()]);
        expect(
          outcomes.filter((o) => o.sent === 6),
          JSON.stringify(outcomes),
        ).toHaveLength(1);
        await Promise.all([anchorer.tick(), second.tick()]);
        expect(await anchoredEvents(provider, contract, source.logId, 6)).toHaveLength(1);
        expect(await txRows(source.logId)).toHaveLength(1);
        await second.close();
      } finally {
        await secondConnection.end({ timeout: 5 });
      }
    },
  );

  it('does not anchor again when an anchorer dies after sending, before recording the receipt', async () => {
    const { contract, source, anchorer, make } = await setup();
    source.grow(3);
    expect((await anchorer.tick()).sent).toBe(3); // sent and mined; the row still says pending
    await anchorer.close(); // "killed"
    const restarted = make();
    expect(await restarted.tick()).toEqual({ ok: true });
    expect(restarted.status()).toMatchObject({ lastAnchoredSize: 3, pendingSize: null });
    expect(await anchoredEvents(provider, contract, source.logId, 3)).toHaveLength(1);
    expect(await txRows(source.logId)).toHaveLength(1);
  });

  it('sends the recorded transaction when an anchorer dies between recording and broadcasting', async () => {
    const { contract, source, make } = await setup();
    const crashing = make({
      beforeBroadcast: async () => {
        throw new Error('simulated crash');
      },
    });
    source.grow(4);
    expect(await crashing.tick()).toMatchObject({ ok: false });
    await crashing.close();
    const [recorded] = await txRows(source.logId);
    expect(await provider.getTransaction(recorded!.tx_hash as string)).toBeNull(); // never reached the node

    const restarted = make();
    await restarted.tick(); // finds the pending anchor and broadcasts the recorded transaction
    await restarted.tick();
    expect(restarted.status()).toMatchObject({ lastAnchoredSize: 4, pendingSize: null });
    const events = await anchoredEvents(provider, contract, source.logId, 4);
    expect(events.map((e) => e.txHash)).toEqual([recorded!.tx_hash]);
    expect(await txRows(source.logId)).toHaveLength(1);
  });

  it('skips a size the contract already has (anchored outside this database)', async () => {
    const { contract, source, anchorer } = await setup();
    const { merkleAnchorAt } = await import('../../anchoring/contract.js');
    await withSigner(async (signer) =>
      (await merkleAnchorAt(contract, signer).anchor!(source.logId, 5, source.rootHex(5))).wait(),
    );
    source.grow(5);
    expect(await anchorer.tick()).toEqual({ ok: true });
    expect(await txRows(source.logId)).toHaveLength(0);
    expect(await anchoredEvents(provider, contract, source.logId)).toHaveLength(1);
  });

  it('refuses to anchor a log that lost or re-grew anchored entries, and says so with both sizes', async () => {
    const { contract, source, anchorer, make } = await setup({ minSizeDelta: 1 });
    source.grow(5);
    await anchorer.tick();
    await anchorer.tick();
    expect(anchorer.status().lastAnchoredSize).toBe(5);
    const anchoredRoot = source.rootHex(5);
    await anchorer.close();

    // The database restored from an older dump (size 3), the broker started again on the same contract.
    source.restore(3);
    const failures: { code: string; message: string; failures: number }[] = [];
    const restarted = make({ onPassFailed: ({ code, message }, n) => failures.push({ code, message, failures: n }) });
    // Below the chain's latest anchor: it sat silent.
    expect(await restarted.tick()).toMatchObject({ ok: false, error: { code: 'ANCHOR_LOG_DIVERGED' } });
    expect(failures[0]!.message).toMatch(/latest anchor of this log is at size 5, beyond the log \(size 3\)/);
    expect(restarted.status()).toMatchObject({
      consecutiveFailures: 1,
      divergedAnchor: { size: 5, root: anchoredRoot, logSize: 3 },
    });
    // Re-grown past it with other entries: it anchored size 7 with a root inconsistent with the anchor at 5.
    source.grow(7);
    expect(await restarted.tick()).toMatchObject({ ok: false, error: { code: 'ANCHOR_LOG_DIVERGED' } });
    expect(failures[1]).toMatchObject({
      failures: 2,
      message: expect.stringMatching(/another root .* size 5 \(log size 7\)/),
    });
    expect((await anchoredEvents(provider, contract, source.logId)).map((e) => e.treeSize)).toEqual([5]);
    expect(await txRows(source.logId)).toHaveLength(1);
  });

  it("refuses to anchor over an anchor someone else posted with the owner key (a root not the log's)", async () => {
    const { contract, source, anchorer } = await setup({ minSizeDelta: 1 });
    const { merkleAnchorAt } = await import('../../anchoring/contract.js');
    const bogus = `0x${'ee'.repeat(32)}`;
    await withSigner(async (signer) => (await merkleAnchorAt(contract, signer).anchor!(source.logId, 4, bogus)).wait());
    source.grow(6);
    expect(await anchorer.tick()).toMatchObject({ ok: false, error: { code: 'ANCHOR_LOG_DIVERGED' } });
    expect(anchorer.status().divergedAnchor).toEqual({ size: 4, root: bogus, logSize: 6 });
    expect(await txRows(source.logId)).toHaveLength(0);
    expect((await anchoredEvents(provider, contract, source.logId)).map((e) => e.treeSize)).toEqual([4]);
  });

  it('calls an anchor final only once its block is at or below the finalized block', async () => {
    const { source, anchorer } = await setup();
    source.grow(3);
    await anchorer.tick();
    await anchorer.tick();
    const ref = (await anchorer.anchorFor(3))!;
    const finalized = async () => Number((await provider.send('eth_getBlockByNumber', ['finalized', false])).number);
    // anvil: finalized = latest − 2 × slots-in-an-epoch (4 here).
    expect(await finalized()).toBe(ref.block - 4);
    while ((await finalized()) < ref.block - 1) await mine(provider, 1);
    await anchorer.tick();
    expect((await anchorer.anchorFor(3))!.final).toBe(false); // finalized = block − 1
    expect(anchorer.status().lastFinalSize).toBeNull();
    await mine(provider, 1);
    expect(await finalized()).toBe(ref.block);
    await anchorer.tick();
    expect((await anchorer.anchorFor(3))!.final).toBe(true);
    expect(anchorer.status()).toMatchObject({ lastFinalSize: 3, unfinalizedEntries: 0 });
  });

  it('detects a reorg that drops the anchor and posts it again', async () => {
    const { contract, source, anchorer } = await setup();
    const snapshot = await provider.send('evm_snapshot', []);
    source.grow(6);
    await anchorer.tick();
    await anchorer.tick();
    const before = (await anchorer.anchorFor(6))!;
    expect(
      (
        await verifyAnchor({
          rpcUrl: anvil.rpcUrl,
          ...before,
          expected: { origin: source.origin, size: 6, root: source.rootHex(6) },
        })
      ).ok,
    ).toBe(true);

    // Reorg: the chain goes back before the anchor and grows past its height.
    await provider.send('evm_revert', [snapshot]);
    await mine(provider, 3);
    expect(await anchoredEvents(provider, contract, source.logId)).toHaveLength(0);

    await anchorer.tick(); // receipt gone → pending → re-posted
    expect(anchorer.status().reorgs).toBe(1);
    await anchorer.tick(); // the re-post's receipt
    const after = (await anchorer.anchorFor(6))!;
    expect(after.blockHash).not.toBe(before.blockHash);
    expect(after.tx).not.toBe(before.tx); // a new hash: same nonce, bumped fees
    const events = await anchoredEvents(provider, contract, source.logId);
    expect(events.map((e) => [e.treeSize, e.txHash, e.blockHash])).toEqual([[6, after.tx, after.blockHash]]);

    const stale = await verifyAnchor({
      rpcUrl: anvil.rpcUrl,
      ...before,
      expected: { origin: source.origin, size: 6, root: source.rootHex(6) },
    });
    expect(stale.ok ? 'ok' : stale.error.code).toBe('ANCHOR_REORGED');
    const fresh = await verifyAnchor({
      rpcUrl: anvil.rpcUrl,
      ...after,
      expected: { origin: source.origin, size: 6, root: source.rootHex(6) },
    });
    expect(fresh.ok).toBe(true);
  });

  it('keeps every hash of a nonce: a replaced transaction can still be the one mined', async () => {
    const { contract, source, anchorer } = await setup({ replaceAfterMs: 200 });
    await provider.send('evm_setAutomine', [false]);
    try {
      source.grow(3);
      expect((await anchorer.tick()).sent).toBe(3);
      await new Promise((r) => setTimeout(r, 250));
      await anchorer.tick(); // not mined after replaceAfterMs: replaced with higher fees
      const rows = await txRows(source.logId);
      expect(rows).toHaveLength(2);
      expect(rows[0]!.nonce).toBe(rows[1]!.nonce);
      const [first, replacement] = await Promise.all(
        rows.map(
          (r) => db.sql`select raw, max_priority_fee_per_gas from anchoring_transactions where tx_hash = ${r.tx_hash}`,
        ),
      );
      expect(BigInt(replacement![0]!.max_priority_fee_per_gas)).toBeGreaterThan(
        BigInt(first![0]!.max_priority_fee_per_gas),
      );

      // The original, not the replacement, gets mined.
      await provider.send('anvil_dropTransaction', [rows[1]!.tx_hash]);
      await provider.send('eth_sendRawTransaction', [first![0]!.raw]);
      await mine(provider, 1);
      await anchorer.tick();
      const ref = await anchorer.anchorFor(3);
      expect(ref?.tx).toBe(rows[0]!.tx_hash);
      expect(await anchoredEvents(provider, contract, source.logId, 3)).toHaveLength(1);
    } finally {
      await provider.send('evm_setAutomine', [true]);
    }
  });

  it('does not inherit the anchors of a dev chain that was restarted from scratch', async () => {
    // Same chain id, same deployer nonce → same contract address, same origin:
    // only the genesis hash tells the two chains apart.
    const origin = `test.pavilion.example/restarted/${RUN}`;
    const runOn = async (chain: Anvil, ticks: number) => {
      const own = new JsonRpcProvider(chain.rpcUrl, 80002, { staticNetwork: true });
      const contract = await deployMerkleAnchor(new Wallet(key, own));
      const source = new ReferenceLogSource(origin).grow(3);
      const a = new Anchorer({
        sql: db.sql,
        source,
        rpcUrl: chain.rpcUrl,
        chainId: 80002,
        contract,
        privateKey: key,
        minSizeDelta: 1,
      });
      for (let i = 0; i < ticks; i++) await a.tick();
      const result = { contract, status: a.status(), events: await anchoredEvents(own, contract, source.logId) };
      await a.close();
      own.destroy();
      return result;
    };
    // Genesis timestamps a minute apart: anvil's genesis hash depends on its
    // timestamp, and two starts within one second would share it.
    const t = Math.floor(Date.now() / 1000);
    const first = await startAnvil({ chainId: 80002, extraArgs: ['--timestamp', String(t - 60)] });
    const before = await runOn(first, 1); // left pending: the row says "sent, no receipt yet"
    await first.stop();
    const second = await startAnvil({ chainId: 80002, extraArgs: ['--timestamp', String(t)] });
    try {
      const after = await runOn(second, 2);
      expect(after.contract).toBe(before.contract);
      expect(after.status).toMatchObject({ lastAnchoredSize: 3, pendingSize: null, lastError: null });
      expect(after.events.map((e) => e.treeSize)).toEqual([3]);
    } finally {
      await second.stop();
    }
  });

  it('stops, and answers no anchor, when the dev chain under it is reset while it runs', async () => {
    const origin = `test.pavilion.example/reset/${RUN}`;
    // Genesis timestamps of their own: the restarted-chain test above uses now − 60 s and now, and a chain
    // sharing its genesis would share its rows too.
    const t = Math.floor(Date.now() / 1000) - 3600;
    const first = await startAnvil({ chainId: 80002, slotsInAnEpoch: 1, extraArgs: ['--timestamp', String(t - 60)] });
    const deploy = async (chain: Anvil) => {
      const own = new JsonRpcProvider(chain.rpcUrl, 80002, { staticNetwork: true });
      try {
        return await deployMerkleAnchor(new Wallet(key, own));
      } finally {
        own.destroy();
      }
    };
    let second: Anvil | undefined;
    try {
      const contract = await deploy(first);
      const source = new ReferenceLogSource(origin).grow(3);
      const a = new Anchorer({
        sql: db.sql,
        source,
        rpcUrl: first.rpcUrl,
        chainId: 80002,
        contract,
        privateKey: key,
        minSizeDelta: 1,
      });
      anchorers.push(a);
      await a.tick();
      await a.tick();
      expect((await a.anchorFor(1))?.size).toBe(3);

      // Killed and started afresh on the same port: same chain id, another genesis block.
      await first.stop();
      second = await startAnvil({ chainId: 80002, port: first.port, extraArgs: ['--timestamp', String(t)] });
      expect(await a.tick()).toMatchObject({ ok: false, error: { code: 'ANCHOR_CONTRACT_MISSING' } });
      // Redeployed: same deployer nonce, same address. Before, the anchor was recorded under the old genesis
      // and the old chain's vanished transaction went on being handed out.
      expect(await deploy(second)).toBe(contract);
      source.grow(5);
      expect(await a.tick()).toMatchObject({ ok: false, error: { code: 'ANCHOR_CHAIN_CHANGED' } });
      await expect(a.anchorFor(1)).rejects.toMatchObject({ code: 'ANCHOR_CHAIN_CHANGED' });
      expect(await txRows(source.logId)).toHaveLength(1);
      const own = new JsonRpcProvider(second.rpcUrl, 80002, { staticNetwork: true });
      expect(await anchoredEvents(own, contract, source.logId)).toEqual([]);
      own.destroy();
      await a.close();
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  it('sends nothing the contract would refuse (signer not the owner), and says why', async () => {
    const { contract, source } = await setup();
    const notOwner = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: anvil.rpcUrl,
      chainId: 80002,
      contract,
      privateKey: ANVIL_DEV_PRIVATE_KEYS[2],
      minSizeDelta: 1,
    });
    anchorers.push(notOwner);
    source.grow(2);
    expect(await notOwner.tick()).toMatchObject({
      ok: false,
      error: { code: 'ANCHOR_REJECTED', message: expect.stringContaining('NotOwner') },
    });
    expect(await txRows(source.logId)).toHaveLength(0);
  });

  it('counts passes as failed while the node refuses the anchor (unfunded wallet), until it is broadcast', async () => {
    // A wallet of its own that owns its contract, then emptied: the node refuses to take its transaction.
    const poor = Wallet.createRandom();
    const own = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
    const setBalance = (eth: number) =>
      provider.send('anvil_setBalance', [poor.address, `0x${(BigInt(eth) * 10n ** 18n).toString(16)}`]);
    await setBalance(10);
    const contract = await deployMerkleAnchor(poor.connect(own));
    own.destroy();
    await setBalance(0);
    const source = new ReferenceLogSource(`test.pavilion.example/unfunded/${RUN}`).grow(3);
    const recovered: number[] = [];
    const anchorer = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: anvil.rpcUrl,
      chainId: 80002,
      contract,
      privateKey: poor.privateKey,
      minSizeDelta: 1,
      onRecovered: (n) => recovered.push(n),
    });
    anchorers.push(anchorer);
    const refused = { ok: false, error: { code: 'ANCHOR_BROADCAST_REJECTED' } };
    expect(await anchorer.tick()).toMatchObject(refused); // recorded, refused by the node
    // The next passes send the recorded transaction again; refused again, they fail too (they counted as
    // successes: "anchoring works again", consecutive failures back to 0, the anchor pending, never sent).
    expect(await anchorer.tick()).toMatchObject(refused);
    expect(await anchorer.tick()).toMatchObject(refused);
    expect(anchorer.status()).toMatchObject({ consecutiveFailures: 3, pendingSize: 3, lastAnchoredSize: null });
    expect(recovered).toEqual([]);

    await setBalance(10);
    expect(await anchorer.tick()).toEqual({ ok: true }); // broadcast at last
    expect(recovered).toEqual([3]);
    await anchorer.tick();
    expect(anchorer.status()).toMatchObject({ consecutiveFailures: 0, lastAnchoredSize: 3, pendingSize: null });
  });

  it('rejects malformed checkpoints from the source with CHECKPOINT_INVALID', async () => {
    const { contract } = await setup();
    const good = await new ReferenceLogSource(`test.pavilion.example/malformed/${RUN}`).grow(2).latestCheckpoint();
    for (const bad of [{ root: new Uint8Array(31) }, { size: -1 }, { size: 1.5 }, { origin: '' }, { note: '' }]) {
      const a = new Anchorer({
        sql: db.sql,
        source: { latestCheckpoint: async () => ({ ...good!, ...bad }), rootAt: async () => undefined },
        rpcUrl: anvil.rpcUrl,
        chainId: 80002,
        contract,
        privateKey: key,
      });
      anchorers.push(a);
      expect(await a.tick()).toMatchObject({ ok: false, error: { code: 'CHECKPOINT_INVALID' } });
    }
  });

  it('exposes its status as Prometheus gauges', async () => {
    const { Registry } = await import('prom-client');
    const { registerAnchorerMetrics } = await import('../../anchoring/metrics.js');
    const { source, anchorer } = await setup();
    const registry = new Registry();
    registerAnchorerMetrics(registry, anchorer);
    source.grow(4);
    await anchorer.tick();
    await anchorer.tick();
    const text = await registry.metrics();
    expect(text).toContain(
      `pavilion_anchor_last_anchored_size{chain="eip155:80002",contract="${anchorer.contract}"} 4`,
    );
    expect(text).toContain(
      `pavilion_anchor_unanchored_entries{chain="eip155:80002",contract="${anchorer.contract}"} 0`,
    );
    expect(text).toContain(
      `pavilion_anchor_unfinalized_entries{chain="eip155:80002",contract="${anchorer.contract}"} 4`,
    );
  });

  it('never throws into its caller when the source fails or the options are wrong', async () => {
    const { source, anchorer } = await setup();
    source.grow(3);
    source.fail = true;
    expect(await anchorer.tick()).toMatchObject({ ok: false, error: { code: 'CHECKPOINT_SOURCE_FAILED' } });
    source.fail = false;
    expect((await anchorer.tick()).ok).toBe(true);

    const wrongChain = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: anvil.rpcUrl,
      chainId: 137,
      contract: anchorer.contract,
      privateKey: key,
    });
    anchorers.push(wrongChain);
    expect(await wrongChain.tick()).toMatchObject({ ok: false, error: { code: 'CHAIN_ID_MISMATCH' } });
    expect(
      () =>
        new Anchorer({
          sql: db.sql,
          source,
          rpcUrl: anvil.rpcUrl,
          chainId: 80002,
          contract: anchorer.contract,
          privateKey: '0x1234',
        }),
    ).toThrow(expect.objectContaining({ code: 'ANCHOR_INVALID_KEY', message: expect.not.stringContaining('1234') }));
  });
});

describe('Anchorer with the RPC down', () => {
  it('retries with capped backoff without throwing, and anchors when the RPC is back', async () => {
    const contract = await withSigner((signer) => deployMerkleAnchor(signer));
    const outage = new RpcOutage(anvil.port);
    await outage.up();
    const source = new ReferenceLogSource(`test.pavilion.example/outage/${RUN}/1`);
    const anchorer = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: outage.url,
      chainId: 80002,
      contract,
      privateKey: key,
      minSizeDelta: 2,
      pollIntervalMs: 50,
      initialBackoffMs: 40,
      maxBackoffMs: 160,
    });
    anchorers.push(anchorer);
    source.grow(3);
    anchorer.start();
    await waitFor(() => anchorer.status().lastAnchoredSize === 3, 5000);

    await outage.down();
    source.grow(6);
    const downAt = Date.now();
    await waitFor(() => anchorer.status().consecutiveFailures >= 4, 5000);
    await new Promise((r) => setTimeout(r, 800));
    const status = anchorer.status();
    const elapsed = Date.now() - downAt;
    expect(status.lastError?.code).toBe('CHAIN_UNREACHABLE');
    expect(status.lastError?.message).not.toContain('127.0.0.1'); // no URLs in status
    // Capped at 160 ms (jitter 75–100%): at least elapsed/160 − a few, never a hot loop.
    expect(status.consecutiveFailures).toBeLessThanOrEqual(Math.ceil(elapsed / 120) + 2);
    expect(status.lastAnchoredSize).toBe(3);
    // Resolves, never rejects.
    expect(await anchorer.tick()).toMatchObject({ ok: false, error: { code: 'CHAIN_UNREACHABLE' } });

    await outage.up(); // same port
    await waitFor(() => anchorer.status().lastAnchoredSize === 6, 5000);
    expect(anchorer.status()).toMatchObject({ consecutiveFailures: 0, unanchoredEntries: 0 });
    expect((await anchoredEvents(provider, contract, source.logId)).map((e) => e.treeSize)).toEqual([3, 6]);
    await anchorer.stop();
    await outage.down();
  });

  it('sends the recorded transaction once when the RPC drops between recording and broadcasting', async () => {
    const contract = await withSigner((signer) => deployMerkleAnchor(signer));
    const outage = new RpcOutage(anvil.port);
    await outage.up();
    const source = new ReferenceLogSource(`test.pavilion.example/outage/${RUN}/2`);
    const anchorer = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: outage.url,
      chainId: 80002,
      contract,
      privateKey: key,
      minSizeDelta: 1,
      beforeBroadcast: async () => {
        if (outage.port && source.size === 2) await outage.down();
      },
    });
    anchorers.push(anchorer);
    source.grow(2);
    expect(await anchorer.tick()).toMatchObject({ ok: false, error: { code: 'CHAIN_UNREACHABLE' } });
    const [row] = await db.sql`select tx_hash, broadcast_at from anchoring_transactions where log_id = ${source.logId}`;
    expect(row!.broadcast_at).toBeNull();

    await outage.up();
    source.size = 2; // unchanged; the hook only fires for the first send
    const hookless = new Anchorer({
      sql: db.sql,
      source,
      rpcUrl: outage.url,
      chainId: 80002,
      contract,
      privateKey: key,
      minSizeDelta: 1,
    });
    anchorers.push(hookless);
    await hookless.tick(); // broadcasts the recorded transaction
    await hookless.tick(); // follows it to its receipt
    expect(hookless.status()).toMatchObject({ lastAnchoredSize: 2, pendingSize: null });
    const events = await anchoredEvents(provider, contract, source.logId);
    expect(events.map((e) => [e.treeSize, e.txHash])).toEqual([[2, row!.tx_hash]]);
    await outage.down();
  });
});
