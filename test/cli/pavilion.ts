/** Runs the `pavilion` CLI as a user does (a child process), from source (tsx), so tests need no prior build. */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fromRoot } from '../../common/paths.js';

const run = promisify(execFile);

export async function pavilion(
  args: string[],
  opts: { input?: string | Uint8Array } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = run(process.execPath, ['--import', 'tsx', fromRoot('cli', 'main.ts'), ...args], {
    cwd: fromRoot(),
    maxBuffer: 64 << 20,
  });
  if (opts.input !== undefined) {
    child.child.stdin!.end(opts.input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The same command as a child process to talk to while it runs (stdin, signals, a reader of stdout). */
export function spawnPavilion(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', fromRoot('cli', 'main.ts'), ...args], { cwd: fromRoot() });
}
