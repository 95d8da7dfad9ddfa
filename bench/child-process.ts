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

/**
 * The child's role (what it serves, with its parameters), handed over in this variable with the parent's pid
 * rather than on the command line: an option a user types cannot start a child's server that never exits (it
 * is an unknown option, exit 2), nor can the variable left in a shell.
 */
const ROLE_ENV = 'PAVILION_BENCH_CHILD';

/** Runs `node <nodeArgs> --import tsx <script>` in `role` (see childRole); resolves with its READY line. */
export function startChild<Ready>(
  script: string,
  role: { mode: string },
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<Child<Ready>> {
  // The mode as the only argument names the child in `ps` and in the error below; the child does not read it.
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, role.mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...env, [ROLE_ENV]: JSON.stringify({ ...role, parent: process.pid }) },
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve({ child, ready: JSON.parse(line.slice(6)) as Ready, lines });
    });
    child.on('exit', (code) => reject(new Error(`child ${role.mode} exited with ${code}`)));
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

/**
 * In a child started by startChild, its role; undefined in the benchmark's own process. A child ends with its
 * parent, however that ends (a signal to the parent alone, even SIGKILL): its stdin is a pipe from the parent,
 * closed when the parent exits, and a server left behind would never exit.
 */
export function childRole<Role extends { mode: string }>(): Role | undefined {
  const raw = process.env[ROLE_ENV];
  if (raw === undefined) return undefined;
  const { parent, ...role } = JSON.parse(raw) as Role & { parent: number };
  if (parent !== process.ppid) return undefined;
  process.stdin.on('end', () => process.exit(1)).resume();
  // Watching stdin must not keep a child alive that is done (bench:big's writer exits once it has written).
  (process.stdin as NodeJS.ReadStream & { unref?: () => void }).unref?.();
  return role as unknown as Role;
}
