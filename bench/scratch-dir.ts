/**
 * A folder of the benchmark's own under the system's temporary directory, for brokers' state (master
 * key, audit signing key, identity key) and data files: removed when the process ends, failed or not
 * (the exit event), or is stopped by a signal such as Ctrl-C. Runs left hundreds of such folders, keys
 * included, in /tmp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const folders: string[] = [];

function removeAll(): void {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function scratchDir(prefix: string): string {
  if (folders.length === 0) {
    process.on('exit', removeAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        removeAll();
        // No listener is left: the signal's default action ends the process with its status (130 for Ctrl-C).
        process.kill(process.pid, signal);
      });
    }
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}
