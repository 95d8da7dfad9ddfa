/**
 * The anvil launcher: the real binary, started directly, on loopback; stop()
 * is idempotent and the process never outlives the one that started it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anvilBinary, startAnvil } from '../../anchoring/anvil.js';
import { waitFor } from './support.js';

/** Alive and not a zombie (an orphan may sit unreaped in a container without init). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function rpc(url: string, method: string): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }),
  });
  return ((await res.json()) as { result: unknown }).result;
}

const launcher = fileURLToPath(new URL('../../anchoring/anvil.ts', import.meta.url));

/** A separate Node process that starts anvil, prints its pid, then does `then`. */
function childStartingAnvil(then: string): Promise<{ child: ReturnType<typeof spawn>; anvilPid: number }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { startAnvil } from ${JSON.stringify(launcher)}; const a = await startAnvil(); console.log('pid', ` +
        `a.pid); ${then}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /pid (\d+)/.exec(out);
      if (m) resolve({ child, anvilPid: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
}

describe('startAnvil', () => {
  it('runs the platform binary on loopback with the chain id asked for, and stops idempotently', async () => {
    expect(anvilBinary()).toMatch(/@foundry-rs\/anvil-linux-amd64\/bin\/anvil$/);
    const anvil = await startAnvil({ chainId: 80002 });
    expect(anvil.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await rpc(anvil.rpcUrl, 'eth_chainId')).toBe('0x13882');
    expect(alive(anvil.pid)).toBe(true);
    await Promise.all([anvil.stop(), anvil.stop()]);
    await anvil.stop();
    expect(alive(anvil.pid)).toBe(false);
  });

  it('fails with ANVIL_START_FAILED when the port is taken, leaving nothing behind', async () => {
    const first = await startAnvil({ chainId: 137 });
    try {
      await expect(startAnvil({ port: first.port })).rejects.toMatchObject({ code: 'ANVIL_START_FAILED' });
      expect(await rpc(first.rpcUrl, 'eth_chainId')).toBe('0x89');
    } finally {
      await first.stop();
    }
  });

  it('dies with its parent, even when the parent is SIGKILLed', async () => {
    const { child, anvilPid } = await childStartingAnvil('setInterval(() => {}, 1000);');
    expect(alive(anvilPid)).toBe(true);
    child.kill('SIGKILL');
    await waitFor(() => !alive(anvilPid), 5000);
  });

  it('dies when the parent exits normally without stopping it', async () => {
    const { child, anvilPid } = await childStartingAnvil('process.exit(0);');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    await waitFor(() => !alive(anvilPid), 5000);
  });
});
