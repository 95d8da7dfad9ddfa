/**
 * A blocked linkage job through the server, on one broker and on two sharing the job's chunks
 * (server/linkage/chunked-jobs.ts): `N × N` people of the seeded population (demo/population, clkhash's FEBRL
 * schema), Hamming LSH of 100 bands × 20 bits at 0.85, `--chunks` chunks (default 8). Each broker is its own
 * process (`server/main.ts`, two engine threads) on one database; wall time is from the job's creation to
 * its end as its row says, peak RSS is each broker's VmHWM; one and two brokers alternate, twice. The baseline,
 * measured in the same run: the same linkage in this process through the engine (linkParties, no server, no
 * guidance).
 *
 *   DATABASE_URL=postgres://…/postgres npm run -s bench:linkage-jobs -- [N] [--chunks C]
 *
 * DATABASE_URL names a server (a database on it is created and dropped). Results: docs/linkage.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../common/paths.js';
import { loadDemoSchema } from '../demo/people.js';
import { Population } from '../demo/population/generator.js';
import { createEngine, lshConfig } from '../engine/index.js';
import { startBroker } from '../server/app.js';
import { loadConfig } from '../server/config.js';
import { encodeBinaryDataset } from '../server/datasets/upload.js';
import { integer, parseBenchArgs } from './options.js';
import { describeMachine, machineLine } from './report.js';
import { createScratchDatabase } from './scratch-database.js';
import { scratchDir } from './scratch-dir.js';

const { values: o, fail } = parseBenchArgs({
  name: 'bench:linkage-jobs',
  run: 'DATABASE_URL=postgres://…/postgres npm run -s bench:linkage-jobs --',
  about: 'A blocked linkage job on one broker and on two sharing its chunks, beside the engine alone.',
  positionals: { n: integer('N', 'people per party (default 100,000)') },
  options: { chunks: integer('C', "the job's chunks (default 8)") },
});
const n = o.n ?? 100_000;
const chunks = o.chunks ?? 8;
const server = process.env.DATABASE_URL || fail('DATABASE_URL must name a PostgreSQL server');
const THRESHOLD = 0.85;
const LSH = lshConfig(100, 20, 1);
const BYTES = 128;
const schema = JSON.parse(readFileSync(fromRoot('test', 'fixtures', 'clkhash', 'febrl_schema_v3_final.json'), 'utf8'));
const common = { ANCHORING: 'off', ENGINE_THREADS: '2', MASTER_KEY: randomBytes(32).toString('base64') };
const stateDir = scratchDir('pv-jobs-bench-');

interface JobView {
  status: string;
  created_at: string;
  finished_at: string;
  pair_count: number;
  comparisons: { compared: number; full: number } | null;
}

const machine = describeMachine();
console.log(`machine: ${machineLine(machine)}`);

// The people: party 0 the dataset, party 1 the queries.
const pop = new Population({ seed: 3, parties: 2, size: n, overlap: 0.5 });
const engine = await createEngine({ threads: 2 });
const t0 = performance.now();
const [dataset, queries] = [
  await engine.encode(schema, 'bench-jobs', pop.records(0)),
  await engine.encode(schema, 'bench-jobs', pop.records(1)),
];
console.log(`encoded 2 × ${n} records in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// Baseline: the same linkage through the engine, in this process.
const b0 = performance.now();
const direct = await engine.linkParties([dataset, queries], {
  filterBits: 1024,
  threshold: THRESHOLD,
  blocking: {
    type: 'lsh',
    config: LSH,
  },
});
const baselineSeconds = (performance.now() - b0) / 1000;
console.log(
  `baseline, engine.linkParties in-process: ${baselineSeconds.toFixed(1)} s, ${direct.pairs.length} pairs, ` +
    `${direct.comparisons} comparisons (${((100 * direct.comparisons) / direct.fullComparisons).toFixed(2)}% of ` +
    `the product); RSS ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MiB`,
);
await engine.close();

const scratch = await createScratchDatabase(server, 'pv_jobs_bench');
const databaseUrl = scratch.url;

const children: ChildProcess[] = [];
try {
  // Define and publish the dataset; mint an rp token from the brokers' shared development issuer.
  const setup = await startBroker(
    loadConfig({}, { ...common, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', STATE_DIR: stateDir }),
  );
  const dp = await setup.localIdentity!.mint({ sub: 'bench-dp', roles: ['dp'] });
  const rp = await setup.localIdentity!.mint({ sub: 'bench-rp', roles: ['rp'] });
  const call = async (base: string, method: string, path: string, token: string, body: unknown, type?: string) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': type ?? 'application/json' },
      body: type ? (body as string) : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  await call(setup.url, 'PUT', '/v1/datasets/people', dp, { schema: loadDemoSchema(), claims: ['over_18'] });
  const rows = Array.from({ length: n }, (_, i) => ({
    ref: `p${i}`,
    clk: dataset.subarray(i * BYTES, (i + 1) * BYTES),
  }));
  await call(
    setup.url,
    'POST',
    '/v1/datasets/people/versions',
    dp,
    encodeBinaryDataset(1024, rows),
    'application/vnd.pavilion.dataset',
  );
  await setup.close();
  const clks = Array.from({ length: n }, (_, i) =>
    Buffer.from(queries.subarray(i * BYTES, (i + 1) * BYTES)).toString('base64'),
  );

  const startServe = async (): Promise<{ child: ChildProcess; base: string }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: fromRoot(),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        ...common,
        DATABASE_URL: databaseUrl,
        PORT: '0',
        HOST: '127.0.0.1',
        DEMO_RECORDS: '0',
        STATE_DIR: stateDir,
        LOG_LEVEL: 'warn',
      },
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    for (let i = 0; ; i++) {
      const m = /listening on (\S+)/.exec(out);
      if (m) return { child, base: m[1]! };
      if (child.exitCode !== null || i > 2400) throw new Error('a broker did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const status = (pid: number, field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) /
    1024;

  const runOn = async (brokers: number) => {
    const started = await Promise.all(Array.from({ length: brokers }, startServe));
    const loadBefore = describeMachine().loadAverage;
    const job = await call(started[0]!.base, 'POST', '/v1/linkage-jobs', rp, {
      dataset: 'people',
      clks,
      threshold: THRESHOLD,
      purpose: 'age_verification',
      blocking: LSH,
      chunks,
    });
    const submitted = performance.now();
    let view: JobView | undefined;
    for (;;) {
      view = await call(started[0]!.base, 'GET', `/v1/linkage-jobs/${job.id}`, rp, undefined, undefined).catch(
        () => undefined,
      );
      if (view?.status === 'done' || view?.status === 'failed') break;
      if (performance.now() - submitted > 540_000) throw new Error('the job took over 9 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const wall = (Date.parse(view.finished_at) - Date.parse(view.created_at)) / 1000;
    const rss = started.map((s) => `${Math.round(status(s.child.pid!, 'VmHWM'))}`);
    console.log(
      `${brokers} broker(s): job ${view.status} in ${wall.toFixed(1)} s (created → finished), ${view.pair_count} ` +
        `pairs, ${view.comparisons?.compared} compared of ${view.comparisons?.full}, ${chunks} chunks; peak RSS ` +
        `per broker ${rss.join(' + ')} MiB; load average ${loadBefore} before, ${describeMachine().loadAverage} after`,
    );
    for (const s of started) s.child.kill('SIGTERM');
    await Promise.all(
      started.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))),
    );
    return view;
  };
  // Alternated, twice: the first job on a database also warms its caches.
  for (const brokers of [1, 2, 1, 2]) {
    const view = await runOn(brokers);
    if (view.pair_count !== direct.pairs.length) throw new Error('the server and the engine disagree');
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await scratch.drop();
}
console.log(`machine at the end: ${machineLine(machine)}`);
