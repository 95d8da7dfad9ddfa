/**
 * Whether a process of this host still runs, for the files a process leaves behind when it is killed
 * (SIGKILL, the OOM killer) before its own clean-up: the embedded database's temporary folder
 * (storage/embedded-server.ts) and a command's temporary output file (cli/output.ts). The host name goes
 * with the pid in what those files record, as a folder may be shared by hosts (a network file system,
 * containers) and a pid means something on its own host only.
 */
import { hostname } from 'node:os';

/** This host's name as recorded beside a pid: only characters a host name or a file name can hold. */
export function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'localhost';
}

/**
 * False only when no process has this pid: kill(pid, 0) says ESRCH. A process of another user (EPERM) runs;
 * so does one that took a dead process's pid, whose files then wait for a later clean-up.
 */
export function processIsRunning(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
