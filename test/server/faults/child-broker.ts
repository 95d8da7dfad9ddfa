/**
 * Starts test/server/faults/broker-child.ts and hands back its URL, tokens, whether it is still running
 * and what it wrote to stderr (the broker's warnings and errors, and a crash's stack).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface ChildBroker {
  url: string;
  tokens: Record<'rp' | 'rp2' | 'dp' | 'dp2' | 'auditor' | 'admin', string>;
  process: ChildProcess;
  /** Null while running. */
  exitCode(): number | null;
  stderr(): string;
  stop(): Promise<void>;
}

export async function startChildBroker(databaseUrl: string): Promise<ChildBroker> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'broker-child.ts')], {
    env: { ...process.env, CHILD_DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let exited: number | null = null;
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const done = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = code ?? (signal ? 128 : -1);
      resolve();
    }),
  );
  const first = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('exit', () => reject(new Error(`broker child exited before listening: ${err.slice(-2000)}`)));
  });
  const { url, tokens } = JSON.parse(first) as Pick<ChildBroker, 'url' | 'tokens'>;
  return {
    url,
    tokens,
    process: child,
    exitCode: () => exited,
    stderr: () => err,
    async stop() {
      if (exited === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(killer);
    },
  };
}
