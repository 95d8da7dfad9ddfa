/**
 * `pavilion anchor deploy` (cli/anchor.ts, anchoring/deploy.ts) against a local chain (anvil): the MerkleAnchor
 * contract ANCHORING=rpc needs, deployed with the key in ANCHOR_PRIVATE_KEY (never a flag), the broker's settings
 * printed on stdout once the receipt is in; and errors that name what to fix (the key setting, --rpc) for a
 * missing or malformed key, an account without funds, an RPC that is not one, another chain. Never the key, never
 * the RPC URL. The broker anchoring to a contract deployed this way: test/server/wiring/anchoring.test.ts.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  type Anvil,
  deployBlockOf,
  merkleAnchorAt,
  startAnvil,
} from '../../anchoring/index.js';
import { fromRoot } from '../../common/paths.js';

let anvil: Anvil;
let notRpc: Server;
let notRpcUrl: string;

beforeAll(async () => {
  anvil = await startAnvil({ chainId: 80002 });
  // An HTTP server that is not a chain node (the broker's URL given by mistake, say).
  notRpc = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>no</h1>'));
  await new Promise<void>((res) => notRpc.listen(0, '127.0.0.1', res));
  notRpcUrl = `http://127.0.0.1:${(notRpc.address() as AddressInfo).port}/secret-api-key`;
}, 60_000);
afterAll(async () => {
  await anvil?.stop();
  await new Promise((res) => notRpc?.close(res));
});

/** The real command line, with ANCHOR_PRIVATE_KEY set to `key` (or unset). */
function deploy(args: string[], key: string | undefined) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (key !== undefined) env.ANCHOR_PRIVATE_KEY = key;
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', fromRoot('cli', 'main.ts'), 'anchor', 'deploy', ...args],
      { cwd: fromRoot(), env, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe('pavilion anchor deploy', () => {
  it('deploys, waits for the receipt, prints ANCHOR_CONTRACT, ANCHOR_DEPLOY_BLOCK and ANCHOR_CHAIN_ID', async () => {
    const key = ANVIL_DEV_PRIVATE_KEYS[2]!;
    const r = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', '80002'], key);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ANCHOR_CONTRACT=0x[0-9a-fA-F]{40}$/);
    expect(lines[1]).toMatch(/^ANCHOR_DEPLOY_BLOCK=\d+$/);
    expect(lines[2]).toBe('ANCHOR_CHAIN_ID=80002');
    const contract = lines[0]!.split('=')[1]!;
    const block = Number(lines[1]!.split('=')[1]);
    // Mined (the receipt was waited for), at the block the chain says, owned by the key's account.
    expect(await deployBlockOf(anvil.rpcUrl, 80002, contract)).toBe(block);
    const provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
    try {
      const owner = new Wallet(key).address;
      expect(await merkleAnchorAt(contract, provider).owner!()).toBe(owner);
      expect(r.stderr).toContain(`from ${owner} (the account of ANCHOR_PRIVATE_KEY`);
      expect(r.stderr).toMatch(/transaction 0x[0-9a-f]{64}; waiting for its block/);
    } finally {
      provider.destroy();
    }
    expect(r.stdout + r.stderr).not.toContain(key.slice(2));
  }, 60_000);

  it('names ANCHOR_PRIVATE_KEY when it is unset, not a key, or an account without funds; never the key', async () => {
    const unset = await deploy(['--rpc', anvil.rpcUrl], undefined);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(/^pavilion: CONFIG_INVALID: invalid setting\(s\): ANCHOR_PRIVATE_KEY \(not set: /);

    const bad = await deploy(['--rpc', anvil.rpcUrl], '0xzz');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'pavilion: ANCHOR_INVALID_KEY: ANCHOR_PRIVATE_KEY is not a valid secp256k1 private key (32 bytes of hex, 0x ' +
        'optional)\n',
    );

    // No funds at all, then some but not enough for the deployment at current fees.
    const empty = Wallet.createRandom();
    const funds = (holds: string) =>
      `pavilion: ANCHOR_INSUFFICIENT_FUNDS: the account of ANCHOR_PRIVATE_KEY (${empty.address}) holds ${holds} on ` +
      'chain 80002, the deployment may cost up to ';
    const poor = await deploy(['--rpc', anvil.rpcUrl], empty.privateKey);
    expect(poor.code).toBe(1);
    expect(poor.stderr.startsWith(funds('0.0')), poor.stderr).toBe(true);
    expect(poor.stderr).toMatch(
      / at current fees: send it funds \(POL on Polygon; a faucet on Amoy\) and run again\n$/,
    );
    const provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
    await provider.send('anvil_setBalance', [empty.address, '0x3e8']).finally(() => provider.destroy());
    const short = await deploy(['--rpc', anvil.rpcUrl], empty.privateKey);
    expect(short.code).toBe(1);
    expect(short.stderr.startsWith(funds('0.000000000000001')), short.stderr).toBe(true);
    expect(poor.stdout + poor.stderr + short.stderr).not.toContain(empty.privateKey.slice(2));
  }, 60_000);

  it('names --rpc for an RPC that is down or not a chain node, and refuses another chain; never the URL', async () => {
    for (const url of [notRpcUrl, 'http://127.0.0.1:9/secret-api-key']) {
      const r = await deploy(['--rpc', url], ANVIL_DEV_PRIVATE_KEYS[2]!);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /^pavilion: CHAIN_UNREACHABLE: --rpc does not answer as an EVM JSON-RPC node \([A-Z_]+\): check the URL/,
      );
      expect(r.stderr).not.toContain('secret-api-key');
    }
    const other = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', '137'], ANVIL_DEV_PRIVATE_KEYS[2]!);
    expect(other.code).toBe(1);
    expect(other.stderr).toBe('pavilion: CHAIN_ID_MISMATCH: --rpc serves chain 80002, not 137\n');
    // Not an http(s) URL: a usage error, exit 2.
    expect((await deploy(['--rpc', 'anvil:8545'], ANVIL_DEV_PRIVATE_KEYS[2]!)).code).toBe(2);
  }, 60_000);
});
