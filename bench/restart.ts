/**
 * How long a broker restart takes with 1M records loaded (the stack asks for
 * under 5 minutes): a database holding a published 1M-record dataset version,
 * then `pavilion serve` started as a separate process, timed from spawn until
 * /readyz answers 200 (the broker reloads every active dataset version into
 * the engine before it listens, so ready means serving), and its graceful stop
 * (SIGTERM until exit). The baseline, measured in the same run: the same start
 * on an empty database.
 *
 *   DATABASE_URL=postgres://…/postgres npm run -s bench:restart -- [records] [restarts]
 *
 * DATABASE_URL names a server (a database on it is created and dropped). Results: docs/operations.md.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadDemoSchema } from '../demo/people.js';
import { startBroker } from '../server/app.js';
import { loadConfig } from '../server/config.js';
import { integer, parseBenchArgs } from './options.js';
import { randomFilters } from './random-filters.js';
import { describeMachine, machineLine } from './report.js';
import { createScratchDatabase } from './scratch-database.js';
import { scratchDir } from './scratch-dir.js';

const { values: o, fail } = parseBenchArgs({
  name: 'bench:restart',
  run: 'DATABASE_URL=postgres://…/postgres npm run -s bench:restart --',
  about: 'How long `pavilion serve` takes to be ready and to stop with a published dataset, beside an empty one.',
  positionals: {
    records: integer('records', 'records in the published dataset (default 1,000,000)'),
    restarts: integer('restarts', 'timed restarts with them (default 2)'),
  },
  options: {},
});
const records = o.records ?? 1_000_000;
const restarts = o.restarts ?? 2;
const server = process.env.DATABASE_URL || fail('DATABASE_URL must name a PostgreSQL server');
const ROOT = join(import.meta.dirname, '..');
const common = {
  ANCHORING: 'off',
  ENGINE_THREADS: '2',
  LOG_LEVEL: 'info',
  MASTER_KEY: randomBytes(32).toString('base64'),
};

/** Loads `records` random 1024-bit CLKs (about 25% of bits set, as real CLKs) as dataset `big`. */
async function load(databaseUrl: string): Promise<number> {
  const config = loadConfig(
    {},
    {
      ...common,
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      STATE_DIR: scratchDir('pv-restart-'),
      LOG_LEVEL: 'warn',
    },
  );
  const broker = await startBroker(config);
  const owner = { subject: 'restart-dp', roles: new Set(['dp'] as const), expiresAt: Number.MAX_SAFE_INTEGER };
  await broker.datasets.define(owner, 'big', { schema: loadDemoSchema(), claims: ['over_18'] });
  const a = randomFilters(records, 'sparse');
  const refs = Array.from({ length: records }, (_, i) => `r${i}`);
  const claim = { over_18: true };
  const t = performance.now();
  await broker.datasets.publishRows('restart-dp', 'big', { refs, clks: a, claims: refs.map(() => claim) });
  const ms = performance.now() - t;
  await broker.close();
  return ms;
}

/** Spawns `pavilion serve`, times it to /readyz 200, then SIGTERM to exit. */
async function restart(databaseUrl: string): Promise<{ readyMs: number; stopMs: number; rssMiB: number }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const started = performance.now();
  const child = spawn('node', ['bin/pavilion.js', 'serve'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      ...common,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEMO_RECORDS: '0',
      STATE_DIR: scratchDir('pv-restart-'),
    },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let readyMs = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pavilion serve exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      readyMs = performance.now() - started;
      break;
    }
    if (performance.now() - started > 600_000) throw new Error('not ready within 10 minutes');
    await new Promise((r) => setTimeout(r, 100));
  }
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const rss = Number(/^pavilion_process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1] ?? 0);
  const records = /^pavilion_dataset_records (\S+)$/m.exec(metrics)?.[1];
  const stopAt = performance.now();
  child.kill('SIGTERM');
  await exited;
  if (records !== undefined) console.log(`  served with ${records} records (all datasets)`);
  return { readyMs, stopMs: performance.now() - stopAt, rssMiB: Math.round(rss / 2 ** 20) };
}

const machine = describeMachine();
console.log(`machine: ${machineLine(machine)}`);
const emptyDatabase = await createScratchDatabase(server!, 'pv_restart');
const loadedDatabase = await createScratchDatabase(server!, 'pv_restart');
const empty = emptyDatabase.url;
const loaded = loadedDatabase.url;
try {
  // Baseline: the first start migrates an empty database; the second is the restart compared against.
  await restart(empty);
  const baseline = await restart(empty);
  console.log(
    `baseline, empty database: ready in ${(baseline.readyMs / 1000).toFixed(1)} s, stop ` +
      `${(baseline.stopMs / 1000).toFixed(1)} s, RSS ${baseline.rssMiB} MiB`,
  );
  const publishMs = await load(loaded);
  console.log(`published ${records} records in ${(publishMs / 1000).toFixed(1)} s`);
  for (let i = 0; i < restarts; i++) {
    const r = await restart(loaded);
    console.log(
      `restart ${i + 1} with ${records} records: ready in ${(r.readyMs / 1000).toFixed(1)} s, stop ` +
        `${(r.stopMs / 1000).toFixed(1)} s, RSS ${r.rssMiB} MiB (load average ${loadavg()[0]!.toFixed(1)})`,
    );
  }
} finally {
  await emptyDatabase.drop();
  await loadedDatabase.drop();
}
