/**
 * Files a process leaves behind when it is killed (SIGKILL, the OOM killer) before its own clean-up: the
 * embedded database's temporary folder (storage/embedded-server.ts) and a command's temporary output file
 * (cli/output.ts). Their names carry `<host>.<pid>.` (ownerTag) after a prefix of their own, and a later
 * process removes those whose owner has gone (leftByDeadProcess). The host goes with the pid because a folder
 * may be shared by hosts (a network file system, containers) and a pid means something on its own host only.
 */
import { hostname } from 'node:os';

/** This host's name as a name carries it: only characters a host name or a file name can hold. */
export function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'localhost';
}

/** `<host>.<pid>.`, for the name of a file or folder this process makes, before a random part. */
export function ownerTag(): string {
  return `${hostTag()}.${process.pid}.`;
}

/** `<host>.<pid>.<random part>`, optionally `.tmp`: what follows a name's prefix. */
const OWNED_NAME = /^(.+)\.(\d+)\.[A-Za-z0-9]+(?:\.tmp)?$/;

/**
 * Whether `rest`, a name after its prefix, was made by a process of this host that no longer runs. A name
 * without an owner tag (made by an older version, or not by us), another host's, or a running process's is not:
 * a reused pid keeps its files until a later clean-up.
 */
export function leftByDeadProcess(rest: string): boolean {
  const owner = OWNED_NAME.exec(rest);
  return owner !== null && owner[1] === hostTag() && !processIsRunning(Number(owner[2]));
}

/** False only when no process has this pid: kill(pid, 0) says ESRCH. A process of another user (EPERM) runs. */
function processIsRunning(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
