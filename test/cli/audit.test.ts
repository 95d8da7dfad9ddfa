/**
 * The auditor's tools against a running broker, its database and a real
 * chain (anvil): `pavilion audit verify` checks a receipt end to end and
 * `pavilion audit monitor` follows the log; both must catch an operator who
 * rewrites a stored leaf or tree node, a receipt whose anchor reference is
 * damaged or names another contract, and an anchor whose root is not the log's.
 * The auditor pins the log key, chain and contract; nothing is taken from the
 * server's word.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type Anvil,
  deployMerkleAnchor,
  logIdForOrigin,
  merkleAnchorAt,
  startAnvil,
} from '../../anchoring/index.js';
import { canonicalEvent } from '../../audit/index.js';
import { auditMonitor, auditVerify, type Reporter } from '../../cli/audit.js';
import type { AuditorPins } from '../../cli/audit-pins.js';
import { loadDemoSchema } from '../../demo/people.js';
import { anchoredEvents, eagerAnchoring } from '../anchoring/support.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from '../server/helpers.js';

let anvil: Anvil;
let t: TestBroker;
let logKey: string;
let contract: string;
let pins: AuditorPins;
let provider: JsonRpcProvider;
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
  provider = owner.provider as JsonRpcProvider;
  contract = await deployMerkleAnchor(owner);
  t = await startTestBroker({
    ...eagerAnchoring(anvil.rpcUrl, contract),
    // Serve proofs from the rows, as a restarted broker would: a running one
    // keeps serving the committed hashes it holds in memory (audit/README.md),
    // so the rewrites below would otherwise only show after a restart.
    AUDIT_CACHE_MB: '0',
  });
  logKey = t.broker.audit.verifierKey;
  pins = { logKeys: [logKey], witnesses: [], rpc: anvil.rpcUrl, chain: 'eip155:80002', contract };
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
  provider?.destroy();
  await t?.broker.close();
  await anvil?.stop();
});

describe('pavilion audit verify', () => {
  it('verifies a receipt: signature, inclusion, consistency with the latest checkpoint, anchor on chain', async () => {
    const { index, leafHash } = await verifyOnce(3);
    const file = await anchoredReceipt(index);
    const out = recorder();
    const result = await auditVerify(
      { ...pins, receiptFile: file, server: t.url, token: t.tokens.auditor, leafHash },
      out,
    );
    expect(result, out.lines.join('\n')).toEqual({ status: 'verified', failures: [], anchorChecked: true });
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
      (
        await auditVerify(
          { ...pins, logKeys: [stranger], receiptFile: file, server: t.url, token: t.tokens.auditor },
          out1,
        )
      ).failures,
    ).toContain('checkpoint signature and inclusion proof');
    const out2 = recorder();
    const wrongLeaf = Buffer.alloc(32, 7).toString('base64');
    expect((await auditVerify({ ...pins, receiptFile: file, leafHash: wrongLeaf }, out2)).failures).toContain(
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
    const result = await auditVerify({ ...pins, receiptFile: file, server: t.url, token: t.tokens.auditor }, out);
    expect(result.status, out.lines.join('\n')).toBe('failed');
    expect(out.lines.join('\n')).toMatch(/FAIL (leaf|checkpoint signature and inclusion proof)/);
  }, 60_000);
});

/** A second account for contracts the test deploys itself: the broker's anchorer owns account 0 and its nonces. */
let second: NonceManager | undefined;
function auditorSide(): NonceManager {
  // NonceManager counts locally: ethers' provider answers nonces from a short cache.
  second ??= new NonceManager(new Wallet(ANVIL_DEV_PRIVATE_KEYS[1]!, provider));
  return second;
}

/** The receipt with its `extra` line replaced (or removed, with null). */
function withExtra(file: string, extra: Uint8Array | null): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  if (!lines[1]?.startsWith('extra ')) throw new Error('receipt has no extra line');
  if (extra === null) lines.splice(1, 1);
  else lines[1] = `extra ${Buffer.from(extra).toString('base64')}`;
  const out = join(dir, `receipt-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(out, lines.join('\n'));
  return out;
}

function extraOf(file: string): Buffer {
  return Buffer.from(readFileSync(file, 'utf8').split('\n')[1]!.slice('extra '.length), 'base64');
}

/**
 * The broker behind a proxy that answers the first GET /v1/audit/checkpoint with `firstCheckpoint` (a note the
 * broker served earlier) and passes every other request on: a checkpoint read that an anchor overtook.
 */
async function brokerProxy(firstCheckpoint: string): Promise<{ url: string; close(): Promise<void> }> {
  let replayed = false;
  const server = createServer((req, res) => {
    if (req.url === '/v1/audit/checkpoint' && !replayed) {
      replayed = true;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(firstCheckpoint);
      return;
    }
    const headers = req.headers.authorization ? { authorization: req.headers.authorization } : undefined;
    fetch(new URL(req.url!, t.url), { headers })
      .then(async (upstream) => {
        const body = Buffer.from(await upstream.arrayBuffer());
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
        res.end(body);
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** Runs the real command line; resolves to its exit code and output (`out` is both streams). */
function cli(args: string[]): Promise<{ code: number; out: string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(process.cwd(), 'cli/main.ts'), ...args],
      { env: { ...process.env, PAVILION_TOKEN: '' }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? Number((err as { code?: number }).code ?? 1) : 0,
          out: stdout + stderr,
          stdout,
          stderr,
        }),
    );
  });
}

describe('pavilion audit verify: anchors are read from the pinned contract', () => {
  it('fails a receipt whose anchor reference is invalid UTF-8 or truncated JSON (exit 1)', async () => {
    const { index, leafHash } = await verifyOnce(9);
    const file = await anchoredReceipt(index);
    const extra = extraOf(file);
    const invalidUtf8 = Buffer.from(extra);
    invalidUtf8[2] = 0xff;
    const truncated = extra.subarray(0, extra.length - 5);
    for (const bad of [invalidUtf8, truncated]) {
      const out = recorder();
      const result = await auditVerify({ ...pins, receiptFile: withExtra(file, bad), leafHash }, out);
      expect(result.status, out.lines.join('\n')).toBe('failed');
      expect(result.failures).toContain('anchor reference');
      expect(out.lines.join('\n')).toMatch(/FAIL anchor reference: ANCHOR_INVALID/);
    }
    const run = await cli([
      'audit',
      'verify',
      withExtra(file, truncated),
      '--log-key',
      logKey,
      '--leaf-hash',
      leafHash,
      '--rpc',
      anvil.rpcUrl,
      '--chain',
      '80002',
      '--contract',
      contract,
    ]);
    expect(run.code, run.out).toBe(1);
    expect(run.out).toMatch(/receipt NOT verified: anchor reference/);
  }, 90_000);

  it('fails a receipt naming another contract than the pinned one', async () => {
    const { index, leafHash } = await verifyOnce(10);
    const file = await anchoredReceipt(index);
    const other = await deployMerkleAnchor(auditorSide());
    const reference = JSON.parse(extraOf(file).toString('utf8'));
    const forged = Buffer.from(canonicalEvent({ ...reference, contract: other }), 'utf8');
    const out = recorder();
    const result = await auditVerify({ ...pins, receiptFile: withExtra(file, forged), leafHash }, out);
    expect(result.status, out.lines.join('\n')).toBe('failed');
    expect(out.lines.join('\n')).toMatch(/FAIL anchor on chain: ANCHOR_MISMATCH: the receipt names contract/);
    // And the same receipt verified against that other contract as the pin: nothing anchored there.
    const there = recorder();
    const unpinned = await auditVerify({ ...pins, contract: other, receiptFile: file, leafHash }, there);
    expect(unpinned.status, there.lines.join('\n')).toBe('failed');
  }, 90_000);

  it('finds the anchor on chain with the extra line deleted; "not anchored yet" (exit 3) when none', async () => {
    const { index, leafHash } = await verifyOnce(11);
    const file = await anchoredReceipt(index);
    const stripped = withExtra(file, null);
    const out = recorder();
    const result = await auditVerify({ ...pins, receiptFile: stripped, leafHash }, out);
    expect(result, out.lines.join('\n')).toEqual({ status: 'verified', failures: [], anchorChecked: true });
    expect(out.lines.join('\n')).toMatch(
      /ok anchor on chain: the receipt names no anchor; the chain holds this checkpoint/,
    );

    // A contract with no anchor for this log: verified, but not anchored, and the exit code says so.
    const empty = await deployMerkleAnchor(auditorSide());
    const none = recorder();
    expect((await auditVerify({ ...pins, contract: empty, receiptFile: stripped, leafHash }, none)).status).toBe(
      'not-anchored',
    );
    const notYet = await cli([
      'audit',
      'verify',
      stripped,
      '--log-key',
      logKey,
      '--leaf-hash',
      leafHash,
      '--rpc',
      anvil.rpcUrl,
      '--chain',
      'eip155:80002',
      '--contract',
      empty,
    ]);
    expect(notYet.code, notYet.out).toBe(3);
    expect(notYet.out).toMatch(/NOT ANCHORED yet/);
    const anchored = await cli([
      'audit',
      'verify',
      stripped,
      '--log-key',
      logKey,
      '--leaf-hash',
      leafHash,
      '--rpc',
      anvil.rpcUrl,
      '--chain',
      'eip155:80002',
      '--contract',
      contract,
    ]);
    expect(anchored.code, anchored.out).toBe(0);
  }, 120_000);

  it('a pinned deploy block beyond the chain head fails (exit 1, PINS_INVALID), not "not anchored yet"', async () => {
    const { index, leafHash } = await verifyOnce(15);
    const stripped = withExtra(await anchoredReceipt(index), null);
    const args = ['--log-key', logKey, '--rpc', anvil.rpcUrl, '--chain', 'eip155:80002', '--contract', contract];
    const head = await provider.getBlockNumber();
    const beyond = String(head + 1_000_000);
    const verify = await cli(['audit', 'verify', stripped, '--leaf-hash', leafHash, ...args, '--deploy-block', beyond]);
    expect(verify.code, verify.out).toBe(1);
    expect(verify.out).toMatch(/PINS_INVALID: the pinned deploy block \d+ is beyond the head/);
    // The monitor's first pass reads from the pinned deploy block too: refused the same way.
    const stateFile = join(dir, 'monitor-beyond-head.json');
    const out = recorder();
    const { failures: monitor } = await auditMonitor(
      { ...pins, deployBlock: head + 1_000_000, server: t.url, stateFile, token: t.tokens.auditor },
      out,
    );
    expect(monitor, out.lines.join('\n')).toEqual(['anchors on chain']);
    expect(out.lines.join('\n')).toMatch(/PINS_INVALID: the pinned deploy block \d+ is beyond the head/);
    // A deploy block at or before the contract's is read as before.
    const atHead = await cli(['audit', 'verify', stripped, '--leaf-hash', leafHash, ...args, '--deploy-block', '0']);
    expect(atHead.code, atHead.out).toBe(0);
  }, 90_000);

  it('fails when the pinned contract anchors another root for the checkpoint size', async () => {
    const { index, leafHash } = await verifyOnce(12);
    const file = await anchoredReceipt(index);
    const size = JSON.parse(extraOf(file).toString('utf8')).size as number;
    const forgedContract = await deployMerkleAnchor(auditorSide());
    const anchor = merkleAnchorAt(forgedContract, auditorSide());
    await (await anchor.anchor!(logIdForOrigin(t.broker.audit.origin), size, `0x${'ab'.repeat(32)}`)).wait();
    const out = recorder();
    const result = await auditVerify(
      { ...pins, contract: forgedContract, receiptFile: withExtra(file, null), leafHash },
      out,
    );
    expect(result.status, out.lines.join('\n')).toBe('failed');
    expect(out.lines.join('\n')).toMatch(/ANCHOR_MISMATCH: the chain anchors another root/);
  }, 90_000);

  it('requires a pinned log key', async () => {
    const { index, leafHash } = await verifyOnce(13);
    const file = await anchoredReceipt(index);
    await expect(auditVerify({ ...pins, logKeys: [], receiptFile: file, leafHash }, recorder())).rejects.toMatchObject({
      code: 'LOG_KEY_REQUIRED',
    });
  }, 60_000);
});

describe('pavilion audit monitor: every anchor on the contract', () => {
  it('on a fresh state checks every Anchored event from the deploy block, and remembers where it got to', async () => {
    // Several anchors exist by now (one per receipt waited for above).
    const { index } = await verifyOnce(14);
    await anchoredReceipt(index);
    const origin = t.broker.audit.origin;
    const onChain = await anchoredEvents(provider, contract, logIdForOrigin(origin));
    expect(onChain.length).toBeGreaterThanOrEqual(3);
    const state = join(dir, 'monitor-anchors.json');
    const out = recorder();
    const { failures: failed } = await auditMonitor(
      { ...pins, server: t.url, stateFile: state, token: t.tokens.auditor },
      out,
    );
    expect(failed, out.lines.join('\n')).toEqual([]);
    const checked = out.lines.filter((l) =>
      /^ok anchor of size \d+: block \d+ tx 0x[0-9a-f]{64}: root .* consistent/.test(l),
    );
    expect(checked.length).toBeGreaterThanOrEqual(onChain.length);
    for (const e of onChain) expect(out.lines.join('\n')).toContain(`ok anchor of size ${e.treeSize}:`);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    expect(saved.anchoredSize).toBe(Math.max(...onChain.map((e) => e.treeSize)));
    expect(saved.nextBlock).toBeGreaterThan(0);
    expect(saved.contract).toBe(contract);

    // The next pass starts where this one stopped: old finalized anchors are not read again.
    const again = recorder();
    expect(
      (await auditMonitor({ ...pins, server: t.url, stateFile: state, token: t.tokens.auditor }, again)).failures,
    ).toEqual([]);
    const reread = again.lines.filter((l) => l.startsWith('ok anchor of size')).length;
    expect(reread).toBeLessThanOrEqual(checked.length);
  }, 120_000);

  it("reports an anchored root that is not the log's (the operator anchored a fork)", async () => {
    const audit = t.broker.audit;
    const size = await audit.size();
    expect(size).toBeGreaterThanOrEqual(4);
    const forked = await deployMerkleAnchor(auditorSide());
    const anchor = merkleAnchorAt(forked, auditorSide());
    const logId = logIdForOrigin(audit.origin);
    const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;
    await (await anchor.anchor!(logId, 2, hex(await audit.root(2)))).wait();
    await (await anchor.anchor!(logId, 3, `0x${'cd'.repeat(32)}`)).wait();
    const out = recorder();
    const { failures: failed } = await auditMonitor(
      { ...pins, contract: forked, server: t.url, stateFile: join(dir, 'monitor-fork.json'), token: t.tokens.auditor },
      out,
    );
    expect(failed, out.lines.join('\n')).toEqual(['anchor of size 3']);
    expect(out.lines.join('\n')).toMatch(/ok anchor of size 2:/);
  }, 90_000);

  it('an anchor landing during the scan, beyond the checkpoint read first, is checked against a new one', async () => {
    // An outside probe saw an honest log reported as a fork: the monitor reads the latest checkpoint, then scans
    // the chain (on Polygon a first pass reads hundreds of block ranges), and an anchor posted meanwhile was
    // ANCHOR_AHEAD_OF_LOG and DIVERGENCE. The race, made deterministic: the broker's first answer to the monitor's
    // checkpoint read is the checkpoint of before the log grew and anchored (a proxy replays it), then the broker.
    const first = await api(t.url, 'GET', '/v1/audit/checkpoint', { token: t.tokens.auditor });
    expect(first.status, first.text).toBe(200);
    const firstSize = Number(first.text.split('\n')[1]);
    const { index } = await verifyOnce(19);
    const anchoredSize = JSON.parse(extraOf(await anchoredReceipt(index)).toString('utf8')).size as number;
    expect(anchoredSize).toBeGreaterThan(firstSize);
    const proxy = await brokerProxy(first.text);
    try {
      const state = join(dir, 'monitor-anchor-during-scan.json');
      const out = recorder();
      const result = await auditMonitor({ ...pins, server: proxy.url, stateFile: state, token: t.tokens.auditor }, out);
      const lines = out.lines.join('\n');
      expect(result.failures, lines).toEqual([]);
      expect(lines).toContain(`ok latest checkpoint signature: ${t.broker.audit.origin} size ${firstSize} `);
      expect(lines).toMatch(
        new RegExp(`ok latest checkpoint read again: anchors up to size \\d+ are beyond size ${firstSize} read first`),
      );
      expect(lines).toContain(`ok anchor of size ${anchoredSize}:`);
      // The state keeps the checkpoint the anchors were checked against, so the next pass starts from it.
      const saved = JSON.parse(readFileSync(state, 'utf8'));
      expect(saved.size).toBeGreaterThanOrEqual(saved.anchoredSize);
      expect(saved.anchoredSize).toBeGreaterThanOrEqual(anchoredSize);
    } finally {
      await proxy.close();
    }

    // An anchor beyond the checkpoint read again too is still ahead of the log: a divergence.
    const audit = t.broker.audit;
    const forged = await deployMerkleAnchor(auditorSide());
    const ahead = (await audit.size()) + 100;
    await (
      await merkleAnchorAt(forged, auditorSide()).anchor!(logIdForOrigin(audit.origin), ahead, `0x${'ef'.repeat(32)}`)
    ).wait();
    const out = recorder();
    const { failures } = await auditMonitor(
      { ...pins, contract: forged, server: t.url, stateFile: join(dir, 'monitor-ahead.json'), token: t.tokens.auditor },
      out,
    );
    expect(failures, out.lines.join('\n')).toEqual([`anchor of size ${ahead}`]);
    expect(out.lines.join('\n')).toMatch(/ok latest checkpoint read again: anchors up to size \d+ are beyond size/);
    expect(out.lines.join('\n')).toContain(
      `FAIL anchor of size ${ahead}: ANCHOR_AHEAD_OF_LOG: anchored size ${ahead} is`,
    );
  }, 90_000);

  it('a state that cannot be written at the end of a pass is OUTPUT_UNWRITABLE, not a crash', async () => {
    // The folder is there when the pass starts (checked up front) and gone when it ends. Before the
    // node rewrite below, so the pass has no failure and writes its state; no chain pinned, for speed.
    const folder = mkdtempSync(join(dir, 'state-'));
    const stateFile = join(folder, 'monitor.json');
    const out = recorder();
    const removeFolder: Reporter = {
      ...out,
      ok: (s, d) => {
        rmSync(folder, { recursive: true, force: true });
        out.ok(s, d);
      },
    };
    await expect(
      auditMonitor(
        { logKeys: [logKey], witnesses: [], server: t.url, stateFile, token: t.tokens.auditor },
        removeFolder,
      ),
    ).rejects.toMatchObject({
      code: 'OUTPUT_UNWRITABLE',
      message: `--state ${stateFile}: cannot write (ENOENT)`,
    });
    expect(out.lines.join('\n')).toMatch(/^ok latest checkpoint signature/);
  }, 60_000);
});

describe('pavilion audit pin and verify against what the broker publishes', () => {
  it('audit pin warns on stderr when the broker publishes no RPC URL, and records --rpc when given', async () => {
    // This broker anchors with ANCHORING=rpc and no ANCHOR_PUBLIC_RPC_URL: GET /v1/audit/anchoring has rpc_url null.
    const pinned = await cli(['audit', 'pin', '--server', t.url, '--token', t.tokens.auditor]);
    expect(pinned.code, pinned.out).toBe(0);
    const file = JSON.parse(pinned.stdout);
    expect(file).toMatchObject({ chain: 'eip155:80002', logKeys: [logKey] });
    expect(file.contract.toLowerCase()).toBe(contract.toLowerCase());
    expect(file.rpc).toBeUndefined();
    expect(pinned.stderr).toBe(
      'warning: the broker publishes no RPC URL for eip155:80002: run again with --rpc URL (a node of that chain ' +
        'you trust) or add "rpc" to the file; without it audit verify and monitor do not check anchors\n',
    );
    const withRpc = await cli(['audit', 'pin', '--server', t.url, '--token', t.tokens.auditor, '--rpc', anvil.rpcUrl]);
    expect(withRpc.code, withRpc.out).toBe(0);
    expect(JSON.parse(withRpc.stdout).rpc).toBe(anvil.rpcUrl);
    expect(withRpc.stderr).toBe('');
  }, 60_000);

  it('audit verify with chain and contract pinned but no RPC names only --rpc, and exits 3 as documented', async () => {
    const { index, leafHash } = await verifyOnce(15);
    const receipt = await anchoredReceipt(index);
    const pinsFile = join(dir, 'pins-no-rpc.json');
    writeFileSync(pinsFile, (await cli(['audit', 'pin', '--server', t.url, '--token', t.tokens.auditor])).stdout);
    const auditor = ['--token', t.tokens.auditor];
    const noRpc = await cli(['audit', 'verify', receipt, '--config', pinsFile, '--leaf-hash', leafHash, ...auditor]);
    expect(noRpc.code, noRpc.out).toBe(3);
    expect(noRpc.stdout).toContain('anchor not checked: the receipt names one; pin --rpc to read it from the chain');
    expect(noRpc.stdout).not.toMatch(/FAIL|--chain|--contract|NOT ANCHORED/);
    expect(noRpc.stdout).toContain('receipt verified, anchor NOT CHECKED (chain not pinned)');
    // Nothing of the chain pinned: all three are named, and the exit is 3 (docs/audit.md), not 1.
    const none = await cli(['audit', 'verify', receipt, '--log-key', logKey, '--leaf-hash', leafHash]);
    expect(none.code, none.out).toBe(3);
    expect(none.stdout).toContain('pin --rpc, --chain and --contract to read it from the chain');
    // The pins file and --rpc together: anchored.
    const full = await cli([
      'audit',
      'verify',
      receipt,
      '--config',
      pinsFile,
      '--leaf-hash',
      leafHash,
      '--rpc',
      anvil.rpcUrl,
      ...auditor,
    ]);
    expect(full.code, full.out).toBe(0);
    // The monitor names the missing pin too, and says the anchors asked for were not read (exit 3).
    const { rpc: _rpc, ...withoutRpc } = pins;
    const out = recorder();
    const result = await auditMonitor(
      { ...withoutRpc, server: t.url, stateFile: join(dir, 'monitor-no-rpc.json'), token: t.tokens.auditor },
      out,
    );
    expect(result, out.lines.join('\n')).toEqual({ failures: [], anchorsNotChecked: true });
    expect(out.lines).toContain('anchors NOT CHECKED: pin --rpc to read them from the chain');
  }, 90_000);

  it('a broker that wants a token answers AUTH_MISSING (not SERVER_ERROR), saying to pass --token', async () => {
    const pin = await cli(['audit', 'pin', '--server', t.url]);
    expect(pin.code, pin.out).toBe(1);
    expect(pin.stderr).toBe(
      'pavilion: AUTH_MISSING: /v1/audit/key: 401 AUTH_MISSING: the broker wants a token: pass --token or set ' +
        '$PAVILION_TOKEN\n',
    );
    const { index, leafHash } = await verifyOnce(16);
    const receipt = await anchoredReceipt(index);
    const chain = ['--rpc', anvil.rpcUrl, '--chain', '80002', '--contract', contract];
    const noToken = await cli([
      'audit',
      'verify',
      receipt,
      '--log-key',
      logKey,
      '--leaf-hash',
      leafHash,
      '--server',
      t.url,
      ...chain,
    ]);
    // A refusal of the caller is no check of the receipt that failed: exit 4 (docs/audit.md), not 1, which says
    // "do not trust the receipt".
    expect(noToken.code, noToken.out).toBe(4);
    expect(noToken.stderr).toBe(
      'pavilion: AUTH_MISSING: /v1/audit/checkpoint: 401 AUTH_MISSING: the broker wants a token: pass --token or ' +
        'set $PAVILION_TOKEN\n',
    );
    expect(noToken.stdout).not.toMatch(/FAIL|NOT verified/);
    // A token without the right to read another party's entry: the broker's FORBIDDEN_ROLE, kept.
    const dpToken = await cli([
      'audit',
      'verify',
      receipt,
      '--log-key',
      logKey,
      '--server',
      t.url,
      '--token',
      t.tokens.dp,
      ...chain,
    ]);
    expect(dpToken.code, dpToken.out).toBe(4);
    expect(dpToken.stderr).toBe(
      `pavilion: FORBIDDEN_ROLE: /v1/audit/entries/${index}: 403 FORBIDDEN_ROLE: the broker refused the token ` +
        'given (--token or $PAVILION_TOKEN): pass one it accepts\n',
    );
    expect(dpToken.stdout).not.toMatch(/FAIL|NOT verified/);

    // The monitor without a token: the refusal, as what it is, not a failed signature check and "DIVERGENCE"
    // (an outside probe read that as a fork of the log). The pass ends there; the state file is not written.
    const state = join(dir, 'monitor-no-token.json');
    const monitor = await cli(['audit', 'monitor', '--server', t.url, '--state', state, '--log-key', logKey, ...chain]);
    expect(monitor.code, monitor.out).toBe(4);
    expect(monitor.stderr).toBe(
      'pavilion: AUTH_MISSING: /v1/audit/checkpoint: 401 AUTH_MISSING: the broker wants a token: pass --token or ' +
        'set $PAVILION_TOKEN\n',
    );
    expect(monitor.stdout).not.toMatch(/FAIL|DIVERGENCE|consistent/);
    expect(existsSync(state)).toBe(false);
  }, 90_000);

  it('audit verify --event takes the answer of GET /v1/audit/entries/{i} as well as the bare event', async () => {
    const { index } = await verifyOnce(17);
    const receipt = await anchoredReceipt(index);
    const answer = await api(t.url, 'GET', `/v1/audit/entries/${index}`, { token: t.tokens.auditor });
    expect(answer.status, answer.text).toBe(200);
    const entryFile = join(dir, `entry-${index}.json`);
    writeFileSync(entryFile, answer.text);
    const eventFile = join(dir, `event-${index}.json`);
    writeFileSync(eventFile, JSON.stringify((answer.json as { event: unknown }).event));
    const chain = ['--log-key', logKey, '--rpc', anvil.rpcUrl, '--chain', '80002', '--contract', contract];
    const fromEntry = await cli(['audit', 'verify', receipt, '--event', entryFile, ...chain]);
    expect(fromEntry.code, fromEntry.out).toBe(0);
    expect(fromEntry.stdout).toContain(
      `ok    leaf: hashed from the event in the entry file (GET /v1/audit/entries/${index})`,
    );
    const fromEvent = await cli(['audit', 'verify', receipt, '--event', eventFile, ...chain]);
    expect(fromEvent.code, fromEvent.out).toBe(0);
    expect(fromEvent.stdout).toContain('ok    leaf: hashed from the event file');

    // The entry of another leaf, or one whose event was edited, is named as such (not blamed on the proof).
    const other = await api(t.url, 'GET', `/v1/audit/entries/${index - 1}`, { token: t.tokens.auditor });
    const otherFile = join(dir, `entry-${index - 1}.json`);
    writeFileSync(otherFile, other.text);
    const wrongLeaf = await cli(['audit', 'verify', receipt, '--event', otherFile, ...chain]);
    expect(wrongLeaf.code, wrongLeaf.out).toBe(1);
    expect(wrongLeaf.stdout).toContain(
      `FAIL  leaf: LEAF_MISMATCH: the event file is the entry of leaf ${index - 1}, the receipt's is ${index}`,
    );
    const edited = answer.text.replace('"match"', '"no_match"');
    expect(edited).not.toBe(answer.text);
    const editedFile = join(dir, `entry-${index}-edited.json`);
    writeFileSync(editedFile, edited);
    const tampered = await cli(['audit', 'verify', receipt, '--event', editedFile, ...chain]);
    expect(tampered.code, tampered.out).toBe(1);
    expect(tampered.stdout).toContain(
      "FAIL  leaf: LEAF_MISMATCH: the event file's event does not hash to its leaf_hash",
    );
  }, 90_000);
});

/** A loopback port nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('pavilion audit verify and monitor: an outage is not evidence', () => {
  // An outside probe: a broker or RPC that did not answer, or a 5xx, was 'FAIL … SERVER_UNREACHABLE … TypeError'
  // and DIVERGENCE, or 'receipt NOT verified', exit 1: a cron monitor could not tell an outage from an attack.
  it('the broker or the chain not answering, or a 5xx, ends as pavilion: CODE: message, exit 4', async () => {
    const { index, leafHash } = await verifyOnce(1);
    const receipt = await anchoredReceipt(index);
    const down = `http://127.0.0.1:${await closedPort()}`;
    const chain = ['--rpc', anvil.rpcUrl, '--chain', '80002', '--contract', contract];
    const token = ['--token', t.tokens.auditor];
    const noBroker = `pavilion: SERVER_UNREACHABLE: cannot reach ${down}: ECONNREFUSED\n`;

    const verify = await cli(['audit', 'verify', receipt, '--log-key', logKey, '--server', down, ...chain, ...token]);
    expect(verify.code, verify.out).toBe(4);
    expect(verify.stderr).toBe(noBroker);
    expect(verify.stdout).not.toMatch(/FAIL|NOT verified/);

    const state = join(dir, 'monitor-outage.json');
    const monitor = await cli(['audit', 'monitor', '--server', down, '--state', state, '--log-key', logKey, ...chain]);
    expect(monitor.code, monitor.out).toBe(4);
    expect(monitor.stderr).toBe(noBroker);
    expect(monitor.stdout).not.toMatch(/FAIL|DIVERGENCE|consistent/);
    expect(existsSync(state)).toBe(false);

    // The chain's RPC down, the broker up: the checks of the log pass, then the pass ends without a verdict.
    const noRpc = ['--rpc', down, '--chain', '80002', '--contract', contract];
    const noChain = 'pavilion: CHAIN_UNREACHABLE: chain RPC unreachable (ECONNREFUSED): check --rpc\n';
    const monitorNoRpc = await cli([
      'audit',
      'monitor',
      '--server',
      t.url,
      '--state',
      state,
      '--log-key',
      logKey,
      ...noRpc,
      ...token,
    ]);
    expect(monitorNoRpc.code, monitorNoRpc.out).toBe(4);
    expect(monitorNoRpc.stdout).toMatch(/^ok {4}latest checkpoint signature/);
    expect(monitorNoRpc.stdout).not.toMatch(/FAIL|DIVERGENCE|consistent/);
    expect(monitorNoRpc.stderr).toBe(noChain);
    expect(existsSync(state)).toBe(false);
    const verifyNoRpc = await cli(['audit', 'verify', receipt, '--log-key', logKey, '--leaf-hash', leafHash, ...noRpc]);
    expect(verifyNoRpc.code, verifyNoRpc.out).toBe(4);
    expect(verifyNoRpc.stderr).toMatch(
      /^pavilion: CHAIN_UNREACHABLE: cannot reach the RPC for eip155:80002 \(ECONNREFUSED\): check --rpc\n$/,
    );
    expect(verifyNoRpc.stdout).not.toMatch(/FAIL|NOT verified/);

    // A broker answering 503 (a proxy in front of one that is down): the same.
    const failing = createServer((_req, res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('down'));
    await new Promise<void>((ready) => failing.listen(0, '127.0.0.1', ready));
    const url = `http://127.0.0.1:${(failing.address() as { port: number }).port}`;
    try {
      const monitor503 = await cli([
        'audit',
        'monitor',
        '--server',
        url,
        '--state',
        state,
        '--log-key',
        logKey,
        ...chain,
      ]);
      expect(monitor503.code, monitor503.out).toBe(4);
      expect(monitor503.stderr).toBe('pavilion: SERVER_ERROR: /v1/audit/checkpoint: 503 HTTP_503\n');
      expect(existsSync(state)).toBe(false);
      const verify503 = await cli(['audit', 'verify', receipt, '--log-key', logKey, '--server', url, ...chain]);
      expect(verify503.code, verify503.out).toBe(4);
      expect(verify503.stderr).toBe(`pavilion: SERVER_ERROR: /v1/audit/entries/${index}: 503 HTTP_503\n`);
    } finally {
      await new Promise<void>((done) => failing.close(() => done()));
    }
  }, 120_000);
});

describe('pavilion audit monitor: the chain pins', () => {
  it("the restore runbook's command: --rpc alone exits 3 naming the missing pins; the pins file, 0", async () => {
    // docs/operations.md's restore step 3 gave `--rpc RPC_URL --log-key KEY` and said it checked the anchors on
    // chain: it printed "anchors not checked", then "log consistent", exit 0.
    const { index } = await verifyOnce(18);
    await anchoredReceipt(index);
    const state = join(dir, 'monitor-runbook.json');
    const auditor = ['--server', t.url, '--state', state, '--token', t.tokens.auditor];
    const rpcOnly = await cli(['audit', 'monitor', ...auditor, '--rpc', anvil.rpcUrl, '--log-key', logKey]);
    expect(rpcOnly.code, rpcOnly.out).toBe(3);
    expect(rpcOnly.stdout).toContain('anchors NOT CHECKED: pin --chain and --contract to read them from the chain');
    expect(rpcOnly.stdout).toContain('log consistent, anchors NOT CHECKED (chain not pinned)');

    // The runbook's command now: the auditor's pins file (audit pin, with --rpc).
    const pinsFile = join(dir, 'pins-runbook.json');
    const pinned = await cli(['audit', 'pin', '--server', t.url, '--token', t.tokens.auditor, '--rpc', anvil.rpcUrl]);
    writeFileSync(pinsFile, pinned.stdout);
    const full = await cli(['audit', 'monitor', '--config', pinsFile, '--state', state, '--token', t.tokens.auditor]);
    expect(full.code, full.out).toBe(0);
    expect(full.stdout).toMatch(/ok {4}anchor of size \d+: block \d+/);
    expect(full.stdout).toMatch(/log consistent\n$/);
    const scan = JSON.parse(readFileSync(state, 'utf8'));
    expect(scan.nextBlock).toBeGreaterThan(0);

    // A later pass with no chain pin at all, on a state whose passes read the anchors: exit 3, the scan kept.
    const none = await cli(['audit', 'monitor', ...auditor, '--log-key', logKey]);
    expect(none.code, none.out).toBe(3);
    expect(none.stdout).toContain('anchors NOT CHECKED: pin --rpc, --chain and --contract');
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({
      nextBlock: scan.nextBlock,
      finalAnchoredSize: scan.finalAnchoredSize,
      contract: scan.contract,
      chain: scan.chain,
    });

    // A monitor that never asked for anchors (a log that does not anchor): exit 0, as before.
    const never = await cli([
      'audit',
      'monitor',
      '--server',
      t.url,
      '--state',
      join(dir, 'monitor-never-anchored.json'),
      '--token',
      t.tokens.auditor,
      '--log-key',
      logKey,
    ]);
    expect(never.code, never.out).toBe(0);
    expect(never.stdout).toContain('anchors not checked: pin --rpc, --chain and --contract');
  }, 120_000);
});

// Last: it rewrites the stored tree, which every later check of this log would see.
describe('pavilion audit monitor', () => {
  it('follows a consistent log, then reports a rewritten tree node', async () => {
    const state = join(dir, 'monitor.json');
    await verifyOnce(6);
    const first = recorder();
    expect(
      (await auditMonitor({ ...pins, server: t.url, stateFile: state, token: t.tokens.auditor }, first)).failures,
      first.lines.join('\n'),
    ).toEqual([]);

    // The log grows honestly: the next pass proves it an extension of the last.
    const { index } = await verifyOnce(7);
    await anchoredReceipt(index);
    const second = recorder();
    expect(
      (await auditMonitor({ ...pins, server: t.url, stateFile: state, token: t.tokens.auditor }, second)).failures,
      second.lines.join('\n'),
    ).toEqual([]);
    expect(second.lines.join('\n')).toMatch(/ok consistency with the last verified checkpoint/);

    // More entries and a new signed checkpoint, then the operator rewrites the
    // stored leaf hashes (a tree of this size has no rows above them, audit/schema.ts
    // isStoredLevel): the consistency proofs served no longer verify.
    // Two entries, not one: from a size that is a power of two to the next
    // size, the proof is a single leaf, which no rewrite of subtrees touches.
    await verifyOnce(8);
    const next = await verifyOnce(8);
    await anchoredReceipt(next.index);
    const sql = t.broker.db.sql;
    await sql`update audit_leaves set leaf_hash = sha256(leaf_hash)`;
    const third = recorder();
    const { failures: failed } = await auditMonitor(
      { ...pins, server: t.url, stateFile: state, token: t.tokens.auditor },
      third,
    );
    expect(failed, third.lines.join('\n')).toContain('consistency with the last verified checkpoint');
  }, 90_000);
});
