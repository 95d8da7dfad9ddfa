/**
 * `pavilion audit monitor` reads back only a state it could have written
 * (cli/audit-monitor-state.ts): a field out of its range is
 * MONITOR_STATE_INVALID naming the field, never a value, and never a check
 * of the log that failed (a negative size was reported as DIVERGENCE) or a
 * pass that skips what it should read (a scan position far beyond the chain
 * printed "log consistent"). The range checks need no broker; the scan
 * position is checked against the head of a real chain (anvil).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, type Anvil, deployMerkleAnchor, startAnvil } from '../../anchoring/index.js';
import { generateSignerKey, parseSignerKey } from '../../audit/index.js';
import { auditMonitor, type Reporter } from '../../cli/audit.js';
import type { AuditorPins } from '../../cli/audit-pins.js';
import { loadDemoSchema } from '../../demo/people.js';
import { api, startTestBroker, type TestBroker } from '../server/helpers.js';
import { pavilion } from './pavilion.js';

const silent: Reporter = { ok: () => {}, fail: () => {}, note: () => {} };
const dir = mkdtempSync(join(tmpdir(), 'pavilion-monitor-state-range-'));

/** A state as a pass that read the anchors writes it. */
const written = {
  origin: 'log.example.org/test',
  verifierKey: parseSignerKey(generateSignerKey('log.example.org/test')).verifierKey,
  size: 33,
  root: Buffer.alloc(32, 7).toString('base64'),
  anchoredSize: 30,
  nextBlock: 120,
  finalAnchoredSize: 20,
  contract: `0x${'ab'.repeat(20)}`,
  chain: 'eip155:80002',
};

describe('pavilion audit monitor: every field of the state in its range', () => {
  const monitor = async (state: Record<string, unknown>, name: string) => {
    const stateFile = join(dir, `${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(stateFile, JSON.stringify(state));
    return (await auditMonitor({ server: 'http://127.0.0.1:9', stateFile, logKeys: [], witnesses: [] }, silent))
      .failures;
  };

  it('a state as the monitor writes it is read (the pass ends on the unreachable broker instead)', async () => {
    const unreachable = { code: 'SERVER_UNREACHABLE' };
    await expect(monitor(written, 'written')).rejects.toMatchObject(unreachable);
    const { nextBlock, finalAnchoredSize, contract, chain, ...withoutScan } = written;
    await expect(monitor(withoutScan, 'no-scan')).rejects.toMatchObject(unreachable);
    const { anchoredSize, ...firstVersion } = withoutScan;
    await expect(monitor(firstVersion, 'no-anchored-size')).rejects.toMatchObject(unreachable);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a negative size', { size: -1 }, 'size must be a non-negative integer'],
    ['a fractional size', { size: 32.5 }, 'size must be a non-negative integer'],
    ['a size beyond 2^53', { size: 2 ** 53 }, 'size must be a non-negative integer'],
    ['a negative anchoredSize', { anchoredSize: -1 }, 'anchoredSize must be a non-negative integer'],
    ['an anchoredSize beyond size', { anchoredSize: 100 }, 'anchoredSize is beyond size'],
    ['a negative nextBlock', { nextBlock: -5 }, 'nextBlock must be a non-negative integer'],
    ['a fractional nextBlock', { nextBlock: 1.5 }, 'nextBlock must be a non-negative integer'],
    ['a finalAnchoredSize beyond anchoredSize', { finalAnchoredSize: 31 }, 'finalAnchoredSize is beyond anchoredSize'],
    ['a root of 31 bytes', { root: Buffer.alloc(31, 7).toString('base64') }, 'root must be 32 bytes'],
    ['a root not in base64', { root: 'not base64 at all!' }, 'root must be 32 bytes'],
    ['a verifierKey that does not parse', { verifierKey: 'log+00000000+AAAA' }, 'verifierKey is not a log verifier'],
    ['an empty origin', { origin: '' }, 'origin must be a non-empty single line'],
    ['a contract that is no address', { contract: '0x1234' }, 'contract must be a 20-byte 0x address'],
    ['a chain that is no CAIP-2 id', { chain: '80002' }, 'chain must be a CAIP-2 id'],
    ['a scan position without the chain it is on', { chain: undefined }, 'without chain'],
    ['a field the monitor never writes', { lastSeen: 'yesterday' }, 'unknown field(s) "lastSeen"'],
  ])('%s is MONITOR_STATE_INVALID, naming the field', async (name, change, detail) => {
    const err = await monitor({ ...written, ...change }, name).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe('MONITOR_STATE_INVALID');
    expect(err?.message).toContain(detail);
    // Never a value from the file.
    for (const value of Object.values(change).filter((v) => typeof v === 'string' && v !== ''))
      expect(err?.message).not.toContain(String(value));
  });
});

describe('pavilion audit monitor: the scan position against the chain', () => {
  let anvil: Anvil;
  let t: TestBroker;
  let pins: AuditorPins;
  let provider: JsonRpcProvider;

  beforeAll(async () => {
    anvil = await startAnvil({ chainId: 80002 });
    provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
    const contract = await deployMerkleAnchor(new Wallet(ANVIL_DEV_PRIVATE_KEYS[0]!, provider));
    t = await startTestBroker({ AUDIT_CHECKPOINT_LEAVES: '1', AUDIT_CHECKPOINT_MS: '100' });
    pins = {
      logKeys: [t.broker.audit.verifierKey],
      witnesses: [],
      rpc: anvil.rpcUrl,
      chain: 'eip155:80002',
      contract,
    };
    // An audited change, so the log (and the states below) have a size.
    const put = await api(t.url, 'PUT', '/v1/datasets/people', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    expect(put.status, put.text).toBeLessThan(300);
  }, 120_000);

  afterAll(async () => {
    provider?.destroy();
    await t?.broker.close();
    await anvil?.stop();
  });

  const cli = (stateFile: string, extra: string[] = []) =>
    pavilion([
      'audit',
      'monitor',
      '--server',
      t.url,
      '--token',
      t.tokens.auditor,
      '--log-key',
      pins.logKeys[0]!,
      '--rpc',
      pins.rpc!,
      '--chain',
      pins.chain!,
      '--contract',
      pins.contract!,
      '--state',
      stateFile,
      ...extra,
    ]);

  /** A state the monitor wrote, with `change` made by hand. */
  async function editedState(name: string, change: Record<string, unknown>): Promise<[string, string]> {
    const stateFile = join(dir, `${name}.json`);
    const pass = await auditMonitor({ ...pins, server: t.url, stateFile, token: t.tokens.auditor }, silent);
    expect(pass.failures).toEqual([]);
    const text = JSON.stringify({ ...JSON.parse(readFileSync(stateFile, 'utf8')), ...change });
    writeFileSync(stateFile, text);
    return [stateFile, text];
  }

  it('a state the monitor wrote is read back, pass after pass', async () => {
    const stateFile = join(dir, 'chain-ok.json');
    for (let pass = 0; pass < 2; pass++) {
      const r = await cli(stateFile);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/log consistent\n$/);
      expect(r.code).toBe(0);
    }
    const head = await provider.getBlockNumber();
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).nextBlock).toBeLessThanOrEqual(head + 1);
  }, 60_000);

  it('a nextBlock beyond the head of the chain is MONITOR_STATE_INVALID, not "log consistent"', async () => {
    const [stateFile, text] = await editedState('chain-next-block', { nextBlock: 99_999_999 });
    const r = await cli(stateFile);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/log consistent|DIVERGENCE/);
    expect(r.stderr).toMatch(
      new RegExp(
        `^pavilion: MONITOR_STATE_INVALID: ${stateFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a monitor ` +
          'state file: nextBlock is beyond the head of the chain \\(block \\d+\\)',
      ),
    );
    expect(r.stderr).not.toContain('99999999');
    expect(readFileSync(stateFile, 'utf8')).toBe(text);
  }, 60_000);

  it.each<[string, Record<string, unknown>, string]>([
    ['a negative size', { size: -1 }, 'size must be a non-negative integer'],
    ['an anchoredSize beyond size', { anchoredSize: 100 }, 'anchoredSize is beyond size'],
  ])(
    '%s is MONITOR_STATE_INVALID before any check, not DIVERGENCE',
    async (name, change, detail) => {
      const [stateFile, text] = await editedState(`chain-${name.replace(/\W+/g, '-')}`, change);
      const r = await cli(stateFile);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`pavilion: MONITOR_STATE_INVALID: ${stateFile}: not a monitor state file: ${detail}\n`);
      expect(readFileSync(stateFile, 'utf8')).toBe(text);
    },
    60_000,
  );

  it('a --deploy-block beyond the head fails the pass (PINS_INVALID) and is not kept as a scan position', async () => {
    const stateFile = join(dir, 'chain-deploy-block.json');
    const first = await cli(stateFile, ['--deploy-block', '99999999']);
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/PINS_INVALID: the pinned deploy block 99999999 is beyond the head/);
    expect(existsSync(stateFile)).toBe(false); // a failed pass writes no state
    const second = await cli(stateFile);
    expect(second.stderr).toBe('');
    expect(second.stdout).toMatch(/log consistent\n$/);
  }, 60_000);
});
