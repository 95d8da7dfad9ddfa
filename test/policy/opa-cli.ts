/** Locates the `opa` CLI for tests that need it: PATH first, then `go install`'s bin. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const REQUIRED_OPA_VERSION = '1.22.3';

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** Absolute path or command name of a working opa, or undefined. */
export function findOpa(): string | undefined {
  if (tryRun('opa', ['version']) !== undefined) return 'opa';
  const gopath = tryRun('go', ['env', 'GOPATH'])?.trim();
  if (gopath) {
    const candidate = join(gopath, 'bin', 'opa');
    if (existsSync(candidate) && tryRun(candidate, ['version']) !== undefined) return candidate;
  }
  return undefined;
}

export function opaVersion(opa: string): string | undefined {
  return /^Version:\s*(\S+)/m.exec(tryRun(opa, ['version']) ?? '')?.[1];
}

export const OPA_MISSING_REASON =
  `opa CLI not found on PATH or in $(go env GOPATH)/bin; install with: go install ` +
  `github.com/open-policy-agent/opa@v${REQUIRED_OPA_VERSION}`;
