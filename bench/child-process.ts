/**
 * A benchmark's own script run as a child process (its broker, or a uWS hello-world), spoken to by lines:
 * it prints `READY <json>` once it serves, answers a command written to its stdin with one `<PREFIX> <json>`
 * line, and stops on SIGTERM. bench/server.ts and bench/big-dataset.ts use it, so that the process under
 * load is not the one generating it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Child<Ready = Record<string, unknown>> {
  child: ChildProcess;
  ready: Ready;
  lines: ReturnType<typeof createInterface>;
}

/** Runs `node <nodeArgs> --import tsx <script> <args>`; resolves with its READY line. */
export function startChild<Ready>(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<Child<Ready>> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env,
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve({ child, ready: JSON.parse(line.slice(6)) as Ready, lines });
    });
    child.on('exit', (code) => reject(new Error(`child ${args[0]} exited with ${code}`)));
  });
}

/** Writes a command line to a child and resolves with the JSON of its answer line (`prefix` JSON). */
export function askChild<T>(c: Child<unknown>, command: string, prefix: string): Promise<T> {
  return new Promise((resolve) => {
    const onLine = (line: string) => {
      if (!line.startsWith(prefix)) return;
      c.lines.off('line', onLine);
      resolve(JSON.parse(line.slice(prefix.length)) as T);
    };
    c.lines.on('line', onLine);
    c.child.stdin!.write(`${command}\n`);
  });
}

/** SIGTERM, then SIGKILL after `graceMs` if it has not exited. */
export function stopChild(c: Child<unknown>, graceMs = 10_000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (c.child.exitCode !== null || c.child.signalCode !== null) return resolve();
    c.child.once('exit', () => resolve());
    c.child.kill('SIGTERM');
    setTimeout(() => c.child.kill('SIGKILL'), graceMs).unref();
  });
}
