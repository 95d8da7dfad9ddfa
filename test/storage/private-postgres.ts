/**
 * A PostgreSQL server of the test's own (initdb in a temporary folder, a free loopback port), so fault
 * tests can stop it, kill it and start it again without touching the server other tests and other
 * engineers share. Needs the PostgreSQL server binaries (Debian's postgresql package: PG_BINDIR, or
 * `pg_config --bindir`, or /usr/lib/postgresql/<n>/bin); as root, the server runs as the `postgres` user.
 * `available` says whether they were found.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';

function findBinDir(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (config.status === 0) candidates.push(config.stdout.trim());
  if (existsSync('/usr/lib/postgresql'))
    for (const v of readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)))
      candidates.push(`/usr/lib/postgresql/${v}/bin`);
  return candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

const binDir = findBinDir();
const asRoot = process.getuid?.() === 0;
/** The server binaries were found (and, as root, a `postgres` user to run them exists). */
export const privatePostgresAvailable =
  binDir !== undefined && (!asRoot || spawnSync('id', ['-u', 'postgres']).status === 0);

function run(bin: string, args: string[]): string {
  const file = join(binDir!, bin);
  return asRoot
    ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8', stdio: 'pipe' })
    : execFileSync(file, args, { encoding: 'utf8', stdio: 'pipe' });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PrivatePostgres {
  /**
   * postgres://pavilion@127.0.0.1:<port>/pavilion (trust authentication on loopback), or with the password
   * (scram-sha-256 on loopback) when one was asked for.
   */
  url: string;
  port: number;
  /** `pg_ctl stop -m <mode>`: fast is an ordinary restart's first half, immediate a crash. */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** Stops the server and removes its folder. */
  destroy(): void;
}

/** `password`: the role `pavilion` has it, and TCP logins must give it (a wrong one is refused, 28P01). */
export async function startPrivatePostgres(opts: { password?: string } = {}): Promise<PrivatePostgres> {
  if (!privatePostgresAvailable)
    throw new Error('PostgreSQL server binaries not found (see test/storage/private-postgres.ts)');
  const dir = mkdtempSync(join(tmpdir(), 'pavilion-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    chmodSync(dir, 0o755);
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const auth = ['--auth=trust'];
  if (opts.password !== undefined) {
    const pwfile = join(dir, 'password');
    writeFileSync(pwfile, `${opts.password}\n`, { mode: 0o644 });
    auth.splice(0, 1, '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`);
  }
  run('initdb', ['-D', data, '-U', 'pavilion', ...auth, '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
  const start = () => {
    run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
  };
  start();
  const login = opts.password === undefined ? 'pavilion' : `pavilion:${encodeURIComponent(opts.password)}`;
  const admin = postgres(`postgres://${login}@127.0.0.1:${port}/postgres`, { max: 1, onnotice: () => {} });
  await admin.unsafe('create database pavilion');
  await admin.end();
  return {
    url: `postgres://${login}@127.0.0.1:${port}/pavilion`,
    port,
    stop,
    start,
    destroy() {
      try {
        stop('immediate');
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
