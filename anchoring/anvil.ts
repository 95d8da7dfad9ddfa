/**
 * A local EVM for development and tests: anvil from @foundry-rs/anvil.
 *
 * The platform binary is started directly, not through the package's npx
 * wrapper: killing the wrapper leaves anvil running (docs/decisions.md, "Processes that die"). The
 * child dies with this process:
 * - on Linux it is started through util-linux `setpriv --pdeathsig SIGKILL`,
 *   so the kernel kills it even when this process is SIGKILLed;
 * - everywhere, an 'exit' hook kills every anvil still running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PavilionError } from '../common/errors.js';
import { POLYGON_AMOY } from './ids.js';

/**
 * Private keys of anvil's default dev accounts (mnemonic "test test test test
 * test test test test test test test junk", m/44'/60'/0'/0/i). Public
 * knowledge, funded only on local dev chains: for tests and demos, never for a
 * real chain.
 */
export const ANVIL_DEV_PRIVATE_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
] as const;

export interface AnvilOptions {
  /** EIP-155 chain id; default 80002 (Amoy) so Polygon's fee rules are exercised. */
  chainId?: number;
  /** Default 0: any free loopback port. */
  port?: number;
  /**
   * anvil reports `finalized` = latest − 2 × slots and `safe` = latest − slots
   * (checked with anvil 1.7.1); default 32 like Ethereum mainnet.
   */
  slotsInAnEpoch?: number;
  /** Interval mining; absent → a block per transaction (automine). */
  blockTimeSeconds?: number;
  /** More anvil flags, e.g. ['--no-mining']. */
  extraArgs?: string[];
  readyTimeoutMs?: number;
}

export interface Anvil {
  rpcUrl: string;
  chainId: number;
  port: number;
  pid: number;
  /** Stops anvil; safe to call more than once, resolves when the process is gone. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill() is.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Path of the anvil binary shipped in the platform package of @foundry-rs/anvil. */
export function anvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${arch}`;
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve(`${platformPackage}/package.json`));
  } catch {
    throw new PavilionError(
      'ANVIL_NOT_INSTALLED',
      `${platformPackage} is not installed (optional dependency of @foundry-rs/anvil)`,
    );
  }
  const binary = join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  if (!existsSync(binary)) throw new PavilionError('ANVIL_NOT_INSTALLED', `${platformPackage} has no bin/anvil`);
  return binary;
}

const SETPRIV = '/usr/bin/setpriv';

export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const chainId = opts.chainId ?? POLYGON_AMOY;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(opts.port ?? 0),
    '--chain-id',
    String(chainId),
    '--slots-in-an-epoch',
    String(opts.slotsInAnEpoch ?? 32),
    ...(opts.blockTimeSeconds ? ['--block-time', String(opts.blockTimeSeconds)] : []),
    ...(opts.extraArgs ?? []),
  ];
  const binary = anvilBinary();
  const usePdeathsig = process.platform === 'linux' && existsSync(SETPRIV);
  const child = usePdeathsig
    ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  installExitHook();
  running.add(child);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  void exited.then(() => running.delete(child));

  // anvil logs every RPC call to stdout: keep draining it (a full pipe would
  // block anvil), remembering only the tail for error messages.
  let tail = '';
  const remember = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-2000);
  };
  child.stderr!.on('data', remember);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    })();
    return stopping;
  };

  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buffered = '';
      let listening = false;
      const timer = setTimeout(
        () =>
          reject(
            new PavilionError('ANVIL_START_FAILED', `anvil did not listen within ${opts.readyTimeoutMs ?? 15000} ms`),
          ),
        opts.readyTimeoutMs ?? 15000,
      );
      child.stdout!.on('data', (chunk: Buffer) => {
        remember(chunk);
        if (listening) return;
        buffered += chunk.toString('utf8');
        const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(buffered);
        if (m) {
          clearTimeout(timer);
          listening = true;
          buffered = '';
          resolve(Number(m[1]));
        } else if (buffered.length > 65536) {
          buffered = buffered.slice(-1024);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(
          new PavilionError(
            'ANVIL_START_FAILED',
            `anvil exited before listening: ${tail.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
      });
    });
    const rpcUrl = `http://127.0.0.1:${port}`;
    await waitForRpc(rpcUrl, chainId, opts.readyTimeoutMs ?? 15000);
    return { rpcUrl, chainId, port, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitForRpc(rpcUrl: string, chainId: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { result?: string };
      if (body.result !== undefined) {
        if (Number(body.result) !== chainId) {
          throw new PavilionError(
            'ANVIL_START_FAILED',
            `anvil answered chain id ${Number(body.result)}, expected ${chainId}`,
          );
        }
        return;
      }
    } catch (err) {
      if (err instanceof PavilionError) throw err;
    }
    if (Date.now() > deadline) throw new PavilionError('ANVIL_START_FAILED', 'anvil RPC did not answer in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
