/**
 * MerkleAnchor on a real local EVM (anvil, chain 80002): build pins, gas per
 * anchor, the monotonic-size rules, ownership, and the auditor's verifyAnchor.
 */

import { type Contract, Interface, JsonRpcProvider, NonceManager, type TransactionReceipt, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, type Anvil, startAnvil } from '../../anchoring/anvil.js';
import { COMPILER_SETTINGS, compileMerkleAnchor } from '../../anchoring/compile.js';
import {
  deployMerkleAnchor,
  loadMerkleAnchorArtifact,
  MERKLE_ANCHOR_ABI,
  merkleAnchorAt,
} from '../../anchoring/contract.js';
import { logIdForOrigin } from '../../anchoring/ids.js';
import { type VerifyAnchorInput, verifyAnchor } from '../../anchoring/verify.js';
import { ensureArtifact, mine, REFERENCE_ROOTS } from './support.js';

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;
const root = (size: number) => hex(REFERENCE_ROOTS[size]!);

let anvil: Anvil;
let provider: JsonRpcProvider;
let owner: NonceManager;
let other: NonceManager;

beforeAll(async () => {
  ensureArtifact();
  // 2 slots per epoch: anvil reports finalized = latest − 4.
  anvil = await startAnvil({ chainId: 80002, slotsInAnEpoch: 2 });
  provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
  owner = new NonceManager(new Wallet(ANVIL_DEV_PRIVATE_KEYS[0], provider));
  other = new NonceManager(new Wallet(ANVIL_DEV_PRIVATE_KEYS[1], provider));
});

afterAll(async () => {
  provider?.destroy();
  await anvil?.stop();
});

describe('build', () => {
  it('is reproducible and pinned (solc-js, evm paris, optimizer 200)', () => {
    const a = compileMerkleAnchor();
    const b = compileMerkleAnchor();
    expect(a.bytecode).toBe(b.bytecode);
    expect(a.compiler.evmVersion).toBe('paris');
    expect(a.compiler.optimizer).toEqual({ enabled: true, runs: 200 });
    expect(COMPILER_SETTINGS.evmVersion).toBe('paris');
    // The built artifact is what the current source compiles to.
    expect(loadMerkleAnchorArtifact().deployedBytecode).toBe(a.deployedBytecode);
  });

  it('uses no opcode newer than Paris (PUSH0, TLOAD, TSTORE, MCOPY, BLOBHASH)', () => {
    const code = Buffer.from(compileMerkleAnchor().deployedBytecode.slice(2), 'hex');
    // The CBOR metadata trailer is data, not code: its length is in the last two bytes.
    const end = code.length - 2 - code.readUInt16BE(code.length - 2);
    const newer = new Set([0x5f, 0x5c, 0x5d, 0x5e, 0x49, 0x4a]);
    const found: number[] = [];
    for (let pc = 0; pc < end; pc++) {
      const op = code[pc]!;
      if (newer.has(op)) found.push(op);
      if (op >= 0x60 && op <= 0x7f) pc += op - 0x5f; // skip PUSHn immediate data
    }
    expect(found).toEqual([]);
  });

  it('has the interface written out in contract.ts', () => {
    const compiled = new Interface(loadMerkleAnchorArtifact().abi as never);
    const written = new Interface(MERKLE_ANCHOR_ABI);
    const sorted = (i: Interface) => i.format().slice().sort();
    expect(sorted(written)).toEqual(sorted(compiled));
  });
});

describe('MerkleAnchor', () => {
  let address: string;
  let anchor: Contract;
  const logId = logIdForOrigin('test.pavilion.example/contract');
  const receipts: TransactionReceipt[] = [];

  beforeAll(async () => {
    address = await deployMerkleAnchor(owner);
    anchor = merkleAnchorAt(address, owner);
  });

  it('deploys with the deployer as owner', async () => {
    expect(await anchor.owner!()).toBe(await owner.getAddress());
    expect(await provider.getCode(address)).toBe(loadMerkleAnchorArtifact().deployedBytecode);
  });

  it('anchors increasing sizes, emits Anchored, and costs a sane amount of gas', async () => {
    for (const size of [2, 4, 7, 8]) {
      const tx = await anchor.anchor!(logId, size, root(size));
      receipts.push((await tx.wait())!);
    }
    const gas = receipts.map((r) => Number(r.gasUsed));
    console.log(`MerkleAnchor.anchor gas used: first ${gas[0]}, then ${gas.slice(1).join(', ')}`);
    // First anchor of a log writes one fresh slot (22.1k SSTORE); later ones overwrite it.
    // The root lives in the event only: a steady-state anchor stays well under the
    // 37k the stored-root design cost (bench/audit.ts measures both side by side).
    expect(gas[0]).toBeLessThan(60_000);
    for (const g of gas.slice(1)) {
      expect(g).toBeLessThan(35_000);
      expect(g).toBeGreaterThan(21_000);
    }
    const [size, blockNumber] = await anchor.latest!(logId);
    expect([Number(size), Number(blockNumber)]).toEqual([8, receipts[3]!.blockNumber]);
    const events = receipts.map((r) => anchor.interface.parseLog(r.logs[0]!)!);
    expect(events.map((e) => [e.name, e.args[0], Number(e.args[1]), e.args[2], Number(e.args[3])])).toEqual([
      ['Anchored', logId, 2, root(2), 0],
      ['Anchored', logId, 4, root(4), 2],
      ['Anchored', logId, 7, root(7), 4],
      ['Anchored', logId, 8, root(8), 7],
    ]);
  });

  it('rejects a rollback, a duplicate, a conflicting root and an empty tree (sizes strictly increase)', async () => {
    const reason = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'no revert';
      } catch (err) {
        return anchor.interface.parseError((err as { data: string }).data)?.name;
      }
    };
    expect(await reason(anchor.anchor!.staticCall(logId, 7, root(7)))).toBe('SizeNotIncreasing');
    expect(await reason(anchor.anchor!.staticCall(logId, 8, root(8)))).toBe('SizeNotIncreasing');
    expect(await reason(anchor.anchor!.staticCall(logId, 8, root(7)))).toBe('SizeNotIncreasing');
    expect(await reason(anchor.anchor!.staticCall(logId, 0, root(0)))).toBe('EmptyTree');

    // Forced on chain (gas limit given, no estimate): mined, reverted, state unchanged, no event.
    const tx = await anchor.anchor!(logId, 3, root(3), { gasLimit: 100_000 });
    const receipt = await provider.getTransactionReceipt(tx.hash); // automine: already mined
    expect(receipt!.status).toBe(0);
    expect(receipt!.logs).toHaveLength(0);
    expect(Number((await anchor.latest!(logId))[0])).toBe(8);
  });

  it('keeps logs apart and answers zeros for a log never anchored', async () => {
    const otherLog = logIdForOrigin('test.pavilion.example/other');
    expect((await anchor.latest!(otherLog)).map((v: unknown) => Number(v))).toEqual([0, 0]);
    const receipt = await (await anchor.anchor!(otherLog, 1, root(1))).wait();
    console.log(`MerkleAnchor.anchor gas used, first anchor of a second log: ${receipt!.gasUsed}`);
    expect(Number((await anchor.latest!(logId))[0])).toBe(8);
  });

  it('anchors several logs in one transaction, all or nothing', async () => {
    const logs = ['a', 'b', 'c'].map((n) => logIdForOrigin(`test.pavilion.example/many/${n}`));
    const receipt = (await (await anchor.anchorMany!(logs, [3, 5, 7], [root(3), root(5), root(7)])).wait())!;
    const events = receipt.logs.map((l: { topics: string[]; data: string }) => anchor.interface.parseLog(l)!);
    expect(
      events.map((e: { args: unknown[] }) => [e.args[0], Number(e.args[1]), e.args[2], Number(e.args[3])]),
    ).toEqual([
      [logs[0], 3, root(3), 0],
      [logs[1], 5, root(5), 0],
      [logs[2], 7, root(7), 0],
    ]);
    console.log(`MerkleAnchor.anchorMany gas used, 3 first anchors: ${receipt.gasUsed}`);
    // One stale size fails the whole call: nothing of it is recorded.
    await expect(anchor.anchorMany!.staticCall(logs, [4, 5, 8], [root(4), root(5), root(8)])).rejects.toMatchObject({
      revert: { name: 'SizeNotIncreasing' },
    });
    await expect(anchor.anchorMany!.staticCall(logs, [4], [root(4)])).rejects.toMatchObject({
      revert: { name: 'LengthMismatch' },
    });
  });

  it('is owner-only, with a two-step ownership transfer', async () => {
    const asOther = merkleAnchorAt(address, other);
    await expect(asOther.anchor!.staticCall(logId, 9, root(8))).rejects.toMatchObject({ revert: { name: 'NotOwner' } });
    await expect(asOther.acceptOwnership!.staticCall()).rejects.toMatchObject({ revert: { name: 'NotPendingOwner' } });
    await expect(anchor.transferOwnership!.staticCall(`0x${'00'.repeat(20)}`)).rejects.toMatchObject({
      revert: { name: 'ZeroAddress' },
    });

    await (await anchor.transferOwnership!(await other.getAddress())).wait();
    expect(await anchor.owner!()).toBe(await owner.getAddress()); // not yet: must be accepted
    await (await asOther.acceptOwnership!()).wait();
    expect(await anchor.owner!()).toBe(await other.getAddress());
    await expect(anchor.anchor!.staticCall(logId, 9, root(8))).rejects.toMatchObject({ revert: { name: 'NotOwner' } });
    await expect(asOther.anchor!.staticCall(logId, 9, root(8))).resolves.toBeDefined();
  });
});

describe('verifyAnchor', () => {
  const origin = 'test.pavilion.example/verify';
  let address: string;
  let anchor: Contract;
  let input: VerifyAnchorInput;
  let blockNumber: number;

  beforeAll(async () => {
    address = await deployMerkleAnchor(owner);
    anchor = merkleAnchorAt(address, owner);
    const receipt = (await (await anchor.anchor!(logIdForOrigin(origin), 5, root(5))).wait())!;
    blockNumber = receipt.blockNumber;
    input = {
      rpcUrl: anvil.rpcUrl,
      chain: 'eip155:80002',
      contract: address,
      tx: receipt.hash,
      block: receipt.blockNumber,
      blockHash: receipt.blockHash,
      logIndex: receipt.logs[0]!.index,
      expected: { origin, size: 5, root: REFERENCE_ROOTS[5]! },
    };
  });

  it('confirms an anchor, and calls it final only once its block is finalized', async () => {
    const fresh = await verifyAnchor(input);
    expect(fresh.ok).toBe(true);
    if (!fresh.ok) return;
    expect(fresh.anchor).toMatchObject({
      chain: 'eip155:80002',
      block: blockNumber,
      size: 5,
      root: root(5),
      final: false,
      confirmations: 1,
    });
    expect(fresh.anchor.finalizedBlock).toBe(Math.max(0, fresh.anchor.latestBlock - 4));

    await mine(provider, 3);
    const notYet = await verifyAnchor(input);
    expect(notYet.ok && notYet.anchor.final).toBe(false); // finalized = latest − 4 = block − 1

    await mine(provider, 1);
    const final = await verifyAnchor(input);
    expect(final.ok && final.anchor).toMatchObject({ final: true, finalizedBlock: blockNumber, confirmations: 5 });
  });

  it('reports a different size, root, log or chain as ANCHOR_MISMATCH', async () => {
    const code = async (patch: Partial<VerifyAnchorInput>) => {
      const r = await verifyAnchor({ ...input, ...patch });
      return r.ok ? 'ok' : r.error.code;
    };
    expect(await code({ expected: { origin, size: 4, root: REFERENCE_ROOTS[5]! } })).toBe('ANCHOR_MISMATCH');
    expect(await code({ expected: { origin, size: 5, root: REFERENCE_ROOTS[4]! } })).toBe('ANCHOR_MISMATCH');
    expect(await code({ expected: { origin: 'someone.else/log', size: 5, root: REFERENCE_ROOTS[5]! } })).toBe(
      'ANCHOR_MISMATCH',
    );
    expect(await code({ chain: 'eip155:137' })).toBe('ANCHOR_MISMATCH');
    expect(await code({ logIndex: 7 })).toBe('ANCHOR_MISMATCH');
  });

  it('reports an unknown tx, another contract and a reverted tx as ANCHOR_NOT_FOUND', async () => {
    const unknown = await verifyAnchor({
      ...input,
      tx: `0x${'ab'.repeat(32)}`,
      block: undefined,
      blockHash: undefined,
    });
    expect(unknown.ok ? 'ok' : unknown.error.code).toBe('ANCHOR_NOT_FOUND');

    const elsewhere = await deployMerkleAnchor(owner);
    const wrongContract = await verifyAnchor({ ...input, contract: elsewhere });
    expect(wrongContract.ok ? 'ok' : wrongContract.error.code).toBe('ANCHOR_NOT_FOUND');

    const reverted = await (await anchor.anchor!(logIdForOrigin(origin), 5, root(5), { gasLimit: 100_000 }))
      .wait()
      .catch((e: { receipt: TransactionReceipt }) => e.receipt);
    const r = await verifyAnchor({
      ...input,
      tx: reverted!.hash,
      block: undefined,
      blockHash: undefined,
      logIndex: undefined,
    });
    expect(r.ok ? 'ok' : [r.error.code, r.error.message]).toEqual([
      'ANCHOR_NOT_FOUND',
      'the transaction reverted: it anchored nothing',
    ]);
  });

  it('reports a reorged anchor as ANCHOR_REORGED', async () => {
    const snapshot = await provider.send('evm_snapshot', []);
    const receipt = (await (await anchor.anchor!(logIdForOrigin(origin), 6, root(6))).wait())!;
    const ref = {
      ...input,
      tx: receipt.hash,
      block: receipt.blockNumber,
      blockHash: receipt.blockHash,
      logIndex: undefined,
      expected: { origin, size: 6, root: root(6) },
    };
    expect((await verifyAnchor(ref)).ok).toBe(true);
    owner.reset();
    await provider.send('evm_revert', [snapshot]);
    await mine(provider, 2); // another block now sits at the anchor's height
    const after = await verifyAnchor(ref);
    expect(after.ok ? 'ok' : after.error.code).toBe('ANCHOR_REORGED');
    // Without the block from the reference: anvil 1.7.1 may still answer with
    // the receipt of the abandoned block (then its hash no longer matches the
    // canonical block: REORGED) or with none (NOT_FOUND). Never a success.
    const bare = await verifyAnchor({ ...ref, block: undefined, blockHash: undefined });
    expect(['ANCHOR_REORGED', 'ANCHOR_NOT_FOUND']).toContain(bare.ok ? 'ok' : bare.error.code);
  });

  it('reports a closed RPC port as CHAIN_UNREACHABLE, quickly', async () => {
    const t0 = Date.now();
    const r = await verifyAnchor({ ...input, rpcUrl: 'http://127.0.0.1:1' });
    expect(r.ok ? 'ok' : r.error.code).toBe('CHAIN_UNREACHABLE');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('rejects malformed references with ANCHOR_INVALID_REFERENCE', async () => {
    for (const bad of [
      { tx: '0x1234' },
      { contract: 'nope' },
      { chain: 'polygon' },
      { rpcUrl: 'ftp://x' },
      { expected: { size: 5, root: root(5) } },
      { expected: { origin, size: 0, root: root(5) } },
      { expected: { origin, size: 5, root: new Uint8Array(31) } },
    ] as Partial<VerifyAnchorInput>[]) {
      await expect(verifyAnchor({ ...input, ...bad })).rejects.toMatchObject({
        code: expect.stringMatching(/^ANCHOR_INVALID_(REFERENCE|CHAIN)$/),
      });
    }
  });
});
