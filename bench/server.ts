/**
 * `npm run bench:server` (node --import tsx bench/server.ts [--quick] [--json]):
 * the broker under autocannon on loopback, bounded in time (~2–3 min):
 *
 *   1. uWS hello-world, the ceiling of this machine with this load generator (measured again just before and
 *      after each database's cache-hit run at 128 connections, whose share of hello-world is of their mean);
 *   2. cache-hit verification over HTTP (one question asked again and again);
 *   3. cold verification against 100k and 1M records (a fresh random CLK per
 *      request, so every request misses the cache and scans the dataset);
 *   4. WebSocket verification (many in flight per socket);
 *   5. audit inclusion proofs over HTTP, from the hashes the broker holds;
 *   plus the 1M-version publish and reload times and the broker's RSS.
 *
 * The broker and the hello-world server run as child processes (this same
 * file, told its role by bench/child-process.ts) so the load generator does not share their
 * event loop; on 2 cores they still share the CPU, as in docs/decisions.md's numbers.
 * The brokers' state folders and query files live in one folder under the
 * system's temporary folder, removed when the run ends, however it ends.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { askChild, type Child as ChildOf, childRole, startChild, stopChild } from './child-process.js';
import { flag, nameList, names, parseBenchArgs, text, type Values, value } from './options.js';
import { randomFilters } from './random-filters.js';
import { describeMachine, machineLine } from './report.js';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.js';
import { scratchDir } from './scratch-dir.js';

const SELF = fileURLToPath(import.meta.url);

/** What a child of this script serves; a broker keeps its state and query files under `workDir`. */
type ChildRole = { mode: 'hello' } | { mode: 'serve'; bigRows: number; workDir: string };

// ---------------------------------------------------------------- children

async function serveHello(): Promise<void> {
  const { default: uWS } = await import('uWebSockets.js');
  const app = uWS.App().get('/*', (res) => {
    res.end('Hello World!');
  });
  app.listen('127.0.0.1', 0, (s) => {
    if (!s) process.exit(1);
    console.log(`READY ${JSON.stringify({ url: `http://127.0.0.1:${uWS.us_socket_local_port(s as never)}` })}`);
  });
}

async function serveBroker(bigRows: number, workDir: string): Promise<void> {
  if (process.env.BENCH_SEMI)
    (await import('node:v8')).setFlagsFromString(`--max-semi-space-size=${process.env.BENCH_SEMI}`);
  // --from-dist: the broker from the compiled dist/ tree (`npm run build:ts` first), whose line numbers
  // CPU and heap profiles can point at (tsx's transform puts a module on one line).
  const root = process.env.BENCH_FROM_DIST ? '../dist/' : '../';
  const { loadConfig } = (await import(`${root}server/config.js`)) as typeof import('../server/config.js');
  const { startBroker } = (await import(`${root}server/app.js`)) as typeof import('../server/app.js');
  const { loadDemoDataset, demoQuery } = (await import(`${root}server/demo.js`)) as typeof import('../server/demo.js');
  const { loadDemoSchema } = (await import(`${root}demo/people.js`)) as typeof import('../demo/people.js');
  const config = loadConfig(process.env, {
    PORT: '0',
    HOST: '127.0.0.1',
    STATE_DIR: mkdtempSync(join(workDir, 'state-')),
    LOG_LEVEL: 'warn',
  });
  const broker = await startBroker(config);
  const times: Record<string, number> = {};

  let t = performance.now();
  const demo = await loadDemoDataset(broker, 100_000);
  times.demo_encode_publish_100k_ms = Math.round(performance.now() - t);

  if (bigRows > 0) {
    const owner = { subject: 'bench-dp', roles: new Set(['dp'] as const), expiresAt: Number.MAX_SAFE_INTEGER };
    await broker.datasets.define(owner, 'big', { schema: loadDemoSchema(), claims: ['over_18'] });
    const a = randomFilters(bigRows, 'sparse');
    const refs = Array.from({ length: bigRows }, (_, i) => `b${i}`);
    const claim = { over_18: true };
    t = performance.now();
    const { version } = await broker.datasets.publishRows('bench-dp', 'big', {
      refs,
      clks: a,
      claims: refs.map(() => claim),
    });
    times.big_publish_ms = Math.round(performance.now() - t);
    t = performance.now();
    const rows = await broker.datasetStore.readVersion('big', version, 1024);
    times.big_reload_from_db_ms = Math.round(performance.now() - t);
    if (rows.refs.length !== bigRows) throw new Error('reload lost rows');
  }
  // Cold queries shaped like each dataset's rows (the kernels skip filters whose
  // popcount cannot reach the threshold, so off-density random queries would
  // measure nothing): other synthetic people for `demo`, fresh random filters of
  // the same density for `big`. Written to files the parent reads.
  const dir = mkdtempSync(join(workDir, 'queries-'));
  const { syntheticPeople } = await import('../demo/people.js');
  const { writeFileSync } = await import('node:fs');
  const demoQueries = await broker.engine.encode(demo.schema, demo.secret, syntheticPeople(15_000, 777));
  writeFileSync(join(dir, 'demo.bin'), demoQueries);
  writeFileSync(join(dir, 'big.bin'), randomFilters(15_000, 'sparse'));
  global.gc?.();
  const token = await broker.localIdentity!.mint({ sub: 'bench-rp', roles: ['rp'], ttlSec: 3600 });
  const hitClk = await demoQuery(broker, demo, 50_000);
  console.log(
    `READY ${JSON.stringify({
      url: broker.url,
      token,
      hitClk,
      times,
      queryDir: dir,
      kernel: broker.engine.kernel,
      threads: broker.engine.threads,
    })}`,
  );
  process.on('SIGTERM', () => void broker.close().then(() => process.exit(0)));
  profileOnRequest(broker);
}

/**
 * `profile-start` / `profile-stop FILE` lines on stdin (bench:server --cpu-prof=DIR): a V8 CPU profile of
 * this process's main thread over one scenario, written to FILE.
 */
function profileOnRequest(broker: { audit: { recentBatchSizes: readonly number[] } }): void {
  let session: import('node:inspector').Session | null = null;
  let heap = false;
  // Garbage collections since the last `stats` line: young-generation (scavenge) and full, count and ms.
  const gc = { scavenges: 0, scavenge_ms: 0, major: 0, major_ms: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        gc.scavenges++;
        gc.scavenge_ms += e.duration;
      } else {
        gc.major++;
        gc.major_ms += e.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line === 'stats') {
      // Sizes of the audit log's recent group commits (how many appends share one commit), and the GCs.
      const sizes = broker.audit.recentBatchSizes.slice(-2000);
      const mean = sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length);
      const round = (x: number) => Math.round(x);
      const out = {
        batch_mean: Number(mean.toFixed(1)),
        batch_max: Math.max(0, ...sizes),
        scavenges: gc.scavenges,
        scavenge_ms: round(gc.scavenge_ms),
        major_gcs: gc.major,
        major_ms: round(gc.major_ms),
      };
      Object.assign(gc, { scavenges: 0, scavenge_ms: 0, major: 0, major_ms: 0 });
      console.log(`STATS ${JSON.stringify(out)}`);
      return;
    }
    const { Session } = await import('node:inspector');
    const post = (method: string, params?: object) =>
      new Promise<unknown>((resolve, reject) =>
        session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))),
      );
    // `profile-start heap`: a sampling heap profile instead (where the scenario allocates, the young
    // generation's garbage included), for GC hunting.
    if (line.startsWith('profile-start')) {
      heap = line === 'profile-start heap';
      session = new Session();
      session.connect();
      if (heap) {
        await post('HeapProfiler.enable');
        await post('HeapProfiler.startSampling', {
          samplingInterval: 1024,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      } else {
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: 200 });
        await post('Profiler.start');
      }
    } else if (line.startsWith('profile-stop ') && session) {
      const { profile } = (await post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop')) as { profile: unknown };
      const { writeFileSync } = await import('node:fs');
      writeFileSync(line.slice(13), JSON.stringify(profile));
      session.disconnect();
      session = null;
      console.log('PROFILED');
    }
  });
}

// ---------------------------------------------------------------- parent

interface Ready {
  url: string;
  token?: string;
  hitClk?: string;
  times?: Record<string, number>;
  kernel?: string;
  threads?: number;
  queryDir?: string;
}

type Child = ChildOf<Ready>;

function startBenchChild(o: Options, role: ChildRole, env: NodeJS.ProcessEnv = process.env): Promise<Child> {
  // --cpu-prof-threads=DIR: node's own --cpu-prof for the broker, one profile per thread (the embedded
  // database's, the engine's) over the process's whole life; bench/profile-summary.ts --last=S cuts the end.
  const threadsDir = o['cpu-prof-threads'];
  const prof = threadsDir && role.mode === 'serve' ? ['--cpu-prof', `--cpu-prof-dir=${threadsDir}`] : [];
  const childEnv = o['from-dist'] ? { ...env, BENCH_FROM_DIST: '1' } : env;
  return startChild<Ready>(SELF, role, childEnv, [...prof, '--expose-gc']);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

const CLOCK_TICKS = 100;
/** CPU seconds (user + system) of a process (all threads) and of its main thread, from /proc (Linux). */
function cpuSeconds(pid: number): { all: number; main: number } {
  const ticks = (path: string) => {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const f = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  return { all: ticks(`/proc/${pid}/stat`) / CLOCK_TICKS, main: ticks(`/proc/${pid}/task/${pid}/stat`) / CLOCK_TICKS };
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The server's CPU per answered request, µs: all its threads, and its main (event-loop) thread. */
  cpu_us?: number;
  main_us?: number;
  /** The load generator's (autocannon, this process) CPU per request, µs. */
  loadgen_us?: number;
  /** The broker during the run: audit group commits (mean and largest batch), garbage collections. */
  stats?: unknown;
}

interface Row extends Measured {
  scenario: string;
  database: string;
  connections: string;
  target: string;
  pass?: boolean;
}

async function cannon(opts: Record<string, unknown>, serverPid?: number): Promise<Measured> {
  const { default: autocannon } = await import('autocannon');
  const before = serverPid === undefined ? undefined : cpuSeconds(serverPid);
  const selfBefore = process.cpuUsage();
  const r = await autocannon(opts as never);
  const self = process.cpuUsage(selfBefore);
  const out: Measured = {
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
  if (before && serverPid !== undefined && r.requests.total > 0) {
    const after = cpuSeconds(serverPid);
    out.cpu_us = Math.round(((after.all - before.all) * 1e6) / r.requests.total);
    out.main_us = Math.round(((after.main - before.main) * 1e6) / r.requests.total);
    out.loadgen_us = Math.round((self.user + self.system) / r.requests.total);
  }
  return out;
}

function verifyBody(dataset: string, clk: string): string {
  return JSON.stringify({ dataset, clk, claims: ['over_18'], purpose: 'age_verification' });
}

async function wsBench(
  url: string,
  token: string,
  body: Record<string, unknown>,
  seconds: number,
  sockets: number,
  inFlight: number,
): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const { default: WebSocket } = await import('ws');
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from(
      { length: sockets },
      () =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, {
            headers: { authorization: `Bearer ${token}` },
          });
          const sent = new Map<number, number>();
          let next = 0;
          const fire = () => {
            const id = next++;
            sent.set(id, performance.now());
            ws.send(JSON.stringify({ type: 'verify', id, ...body }));
          };
          ws.on('open', () => {
            for (let i = 0; i < inFlight; i++) fire();
          });
          ws.on('message', (data) => {
            const m = JSON.parse(String(data));
            const t0 = sent.get(m.id);
            if (t0 === undefined) return;
            sent.delete(m.id);
            if (m.type === 'result') latencies.push(performance.now() - t0);
            else errors++;
            if (performance.now() < deadline) fire();
            else if (sent.size === 0) {
              ws.close();
              resolve();
            }
          });
          ws.on('error', reject);
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2));
  return { rps: Math.round(latencies.length / seconds), p50: q(0.5), p99: q(0.99), errors };
}

/**
 * The committed baseline (bench/baselines/server.json): the cache-hit path at 128 connections as a share
 * of uWS hello-world at 128 connections measured around it (the mean of just before and just after), per
 * database. A run whose share falls below `ratio × (1 − tolerance)` is a regression: the bench says so and
 * exits 1.
 */
interface Baseline {
  cache_hit_share_of_hello: Record<string, number>;
  tolerance: number;
  measured: string;
}
const BASELINE_FILE = fileURLToPath(new URL('./baselines/server.json', import.meta.url));
/** The issue's target: the cache-hit path at ≥ 25% of hello-world, p99 < 50 ms, at 128 connections. */
const HIT_SHARE_TARGET = 0.25;
const HIT_P99_TARGET_MS = 50;

const SCENARIOS = ['hello', 'health', 'hit', 'cold', 'ws', 'proof'] as const;
const DATABASES = ['embedded', 'postgres'] as const;
type DatabaseKind = (typeof DATABASES)[number];

/** The command line (bench/options.ts); the children are told their role by bench/child-process.ts, not on it. */
const COMMAND = {
  name: 'bench:server',
  run: 'npm run bench:server --',
  about: 'The broker under autocannon on loopback, beside a uWS hello-world, checked against baselines/server.json.',
  options: {
    quick: flag('4 s per point and 200k cold records instead of 10 s and 1M'),
    only: names('A,B', SCENARIOS, 'scenarios to run (default: all but health)'),
    db: value('embedded,postgres|both', 'databases (default postgres when DATABASE_URL is set, else embedded)', (v) =>
      v === 'both' ? [...DATABASES] : nameList(v, DATABASES),
    ),
    'cpu-prof': text('DIR', "a CPU profile of the broker's main thread per scenario, written to DIR"),
    'cpu-prof-threads': text('DIR', "node's --cpu-prof for the broker: one profile per thread, written to DIR"),
    'heap-prof': text('DIR', 'sampling heap profiles per scenario instead, written to DIR'),
    'from-dist': flag('the broker from the compiled dist/ tree (npm run build:ts first)'),
    json: flag('one JSON object on stdout instead of the table'),
  },
};
type Options = Values<typeof COMMAND.options>;

async function runBench(): Promise<void> {
  const { values: o, fail } = parseBenchArgs(COMMAND);
  const quick = o.quick;
  // --only=hello,health,hit,cold,ws,proof runs a subset (default: all but health).
  const only = new Set<string>(o.only ?? ['hello', 'hit', 'cold', 'ws', 'proof']);
  // --db=embedded,postgres (default: postgres when DATABASE_URL is set, else embedded; `both`).
  const databases = o.db ?? [process.env.DATABASE_URL ? 'postgres' : 'embedded'];
  if (databases.includes('postgres') && !process.env.DATABASE_URL) fail('--db=postgres needs DATABASE_URL');
  // --heap-prof=DIR: sampling heap profiles instead (allocation sites, collected garbage included).
  const heapProfile = o['heap-prof'] !== undefined;
  const profDir = o['cpu-prof'] ?? o['heap-prof'];
  // the broker writes the profiles there: a folder that does not exist yet is made, not a crash at the end
  if (profDir) mkdirSync(profDir, { recursive: true });
  const json = o.json;
  // The brokers' state folders and query files (bench/scratch-dir.ts: removed however the run ends).
  const workDir = scratchDir('pavilion-bench-');
  const dur = quick ? 4 : 10;
  const bigRows = !only.has('cold') ? 0 : quick ? 200_000 : 1_000_000;
  // Load average included: on a shared 2-core machine it explains most variance.
  const machine = describeMachine();
  const log = (s: string) => !json && console.error(s);
  const rows: Row[] = [];
  const brokers: Record<string, Record<string, unknown>> = {};

  /** uWS hello-world at each of `connections`, in a child of its own. */
  async function helloWorld(connections: readonly number[]): Promise<Measured[]> {
    const hello = await startBenchChild(o, { mode: 'hello' });
    try {
      const out: Measured[] = [];
      for (const c of connections)
        out.push(await cannon({ url: hello.ready.url, connections: c, duration: dur }, hello.child.pid));
      return out;
    } finally {
      await stopChild(hello);
    }
  }

  if (only.has('hello')) {
    log('uWS hello-world baseline…');
    const measured = await helloWorld([32, 128]);
    measured.forEach((r, i) => {
      rows.push({
        scenario: 'uWS hello-world (baseline)',
        database: '—',
        connections: i === 0 ? '32' : '128',
        ...r,
        target: '—',
      });
    });
  }

  const shares: Record<string, number> = {};
  for (const database of databases) {
    const result = await benchBroker(database);
    brokers[database] = result.broker;
    if (result.hit128 && result.hello128) shares[database] = Number((result.hit128.rps / result.hello128).toFixed(4));
  }

  async function benchBroker(
    database: DatabaseKind,
  ): Promise<{ broker: Record<string, unknown>; hit128?: Measured; hello128?: number }> {
    // On a real Postgres the benchmark works in a database of its own, dropped at the end.
    let scratch: ScratchDatabase | undefined;
    let childEnv: NodeJS.ProcessEnv = { ...process.env };
    if (database === 'postgres') {
      scratch = await createScratchDatabase(process.env.DATABASE_URL!, 'pv_bench');
      childEnv.DATABASE_URL = scratch.url;
    } else {
      childEnv = Object.fromEntries(Object.entries(childEnv).filter(([k]) => k !== 'DATABASE_URL'));
    }
    const dbLabel = database === 'postgres' ? 'Postgres' : 'embedded PGlite';
    log(
      `starting the broker with 100k demo + ${bigRows / 1000}k random records ` +
        `(${dbLabel}, ${process.env.REDIS_URL ? 'Redis + LRU' : 'LRU'})…`,
    );
    const t0 = performance.now();
    let b: Child;
    try {
      b = await startBenchChild(o, { mode: 'serve', bigRows, workDir }, childEnv);
    } catch (err) {
      await scratch?.drop();
      throw err;
    }
    const pid = b.child.pid!;
    const startSeconds = (performance.now() - t0) / 1000;
    const { url, token, hitClk } = b.ready as Required<Ready>;
    const rss = rssMiB(pid);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const add = (row: Omit<Row, 'database'>) => rows.push({ ...row, database: dbLabel });
    // --cpu-prof=DIR: a CPU profile of the broker's main thread per scenario (bench/profile-summary.ts reads it).
    const profiled = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      if (!profDir) return run();
      b.child.stdin!.write(heapProfile ? 'profile-start heap\n' : 'profile-start\n');
      try {
        return await run();
      } finally {
        const written = new Promise<void>((resolve) => {
          const onLine = (line: string) => {
            if (line !== 'PROFILED') return;
            b.lines.off('line', onLine);
            resolve();
          };
          b.lines.on('line', onLine);
        });
        const file = `${name}-${database}.${heapProfile ? 'heapprofile' : 'cpuprofile'}`;
        b.child.stdin!.write(`profile-stop ${join(profDir, file)}\n`);
        await written;
      }
    };
    let hit128: Measured | undefined;
    let hello128: number | undefined;
    try {
      const hitBody = verifyBody('demo', hitClk);
      await fetch(`${url}/v1/verifications`, { method: 'POST', headers, body: hitBody });
      if (only.has('hit')) {
        for (const connections of [32, 128]) {
          log(`cache-hit verification, ${connections} connections…`);
          const opts = { url: `${url}/v1/verifications`, method: 'POST', headers, body: hitBody, connections };
          // A short warm-up at this concurrency (JIT, batch sizes, allocation) before the measured run.
          await cannon({ ...opts, duration: 2 });
          await askChild(b, 'stats', 'STATS ');
          // The share's hello-world is measured just before and just after this run, and their mean taken:
          // this machine's speed drifts by the minute (hello-world alone 59k–105k requests/s between runs of
          // one sitting), and a baseline from the start of the bench was a minute or more away.
          const before = connections === 128 && only.has('hello') ? await helloWorld([128]) : [];
          const hit = await profiled(`hit${connections}`, () => cannon({ ...opts, duration: dur + 5 }, pid));
          hit.stats = await askChild(b, 'stats', 'STATS ');
          if (before.length > 0) hello128 = (before[0]!.rps + (await helloWorld([128]))[0]!.rps) / 2;
          const share = connections === 128 && hello128 ? hit.rps / hello128 : undefined;
          const ofHello =
            share === undefined ? '' : ` (${(share * 100).toFixed(1)}% of ${(hello128! / 1000).toFixed(1)}k)`;
          if (connections === 128) hit128 = hit;
          add({
            scenario: 'cache-hit verification, HTTP',
            connections: String(connections),
            ...hit,
            target: connections === 128 ? `≥ 25% of hello-world${ofHello}, p99 < 50 ms` : '—',
            pass:
              connections === 128 && share !== undefined
                ? share >= HIT_SHARE_TARGET && hit.p99 < HIT_P99_TARGET_MS && hit.errors === 0
                : undefined,
          });
        }
      }

      if (only.has('health')) {
        // The router's floor: a public GET answered synchronously (no token, body, database or audit).
        log('GET /healthz, 128 connections…');
        const health = await profiled('health128', () =>
          cannon({ url: `${url}/healthz`, connections: 128, duration: dur }, pid),
        );
        add({ scenario: 'GET /healthz (router floor)', connections: '128', ...health, target: '—' });
      }

      if (only.has('proof')) {
        // The log holds an entry per verification asked above (or at least the demo's).
        const size = Number((await fetch(`${url}/v1/audit/checkpoint`, { headers })).headers.get('x-tree-size'));
        log(`audit inclusion proofs at ${size} entries…`);
        const proof = await cannon(
          {
            url: `${url}/v1/audit/proofs/inclusion?index=${Math.floor(size / 3)}&size=${size}`,
            headers,
            connections: 32,
            duration: dur,
          },
          pid,
        );
        add({
          scenario: `audit inclusion proof, HTTP (${size.toLocaleString('en-US')} entries)`,
          connections: '32',
          ...proof,
          target: '—',
        });
      }

      const coldSets = only.has('cold')
        ? ([
            ['demo', '100k', 4],
            ['big', `${bigRows / 1000}k`, 4],
          ] as const)
        : [];
      for (const [dataset, size, conns] of coldSets) {
        log(`cold verification vs ${size}…`);
        const queries = readFileSync(join(b.ready.queryDir!, `${dataset}.bin`));
        const count = queries.length / 128;
        let next = 0;
        const cold = await profiled(`cold-${dataset}`, () =>
          cannon(
            {
              url: `${url}/v1/verifications`,
              connections: conns,
              duration: dur,
              // A different query per request (cycling through thousands): every request misses the cache.
              requests: [
                {
                  method: 'POST',
                  headers,
                  setupRequest: (req: Record<string, unknown>) => {
                    const i = next++ % count;
                    const clk = queries.subarray(i * 128, (i + 1) * 128).toString('base64');
                    return { ...req, body: verifyBody(dataset, clk) };
                  },
                },
              ],
            },
            pid,
          ),
        );
        if (next > count) log(`  (${next} requests cycled through ${count} queries: some were cache hits)`);
        const is1M = dataset === 'big' && bigRows === 1_000_000;
        add({
          scenario: `cold verification, 1:N over ${size}`,
          connections: String(conns),
          ...cold,
          target: is1M ? 'p99 < 100 ms' : '< 200 ms end to end (prod)',
          pass: is1M ? cold.p99 < 100 && cold.errors === 0 : cold.p99 < 200 && cold.errors === 0,
        });
      }

      if (only.has('ws')) {
        log('WebSocket verification…');
        const before = cpuSeconds(pid);
        const ws = await wsBench(url, token, JSON.parse(hitBody), dur, 8, 16);
        const after = cpuSeconds(pid);
        const answered = ws.rps * dur;
        add({
          scenario: 'cache-hit verification, WebSocket',
          connections: '8 sockets × 16 in flight',
          ...ws,
          cpu_us: Math.round(((after.all - before.all) * 1e6) / answered),
          main_us: Math.round(((after.main - before.main) * 1e6) / answered),
          target: '< 50 ms cache hit (prod)',
          pass: ws.p99 < 50 && ws.errors === 0,
        });
      }
    } finally {
      await stopChild(b);
      await scratch?.drop();
    }
    return {
      hit128,
      hello128,
      broker: {
        database: dbLabel,
        cache: process.env.REDIS_URL ? 'redis + lru' : 'lru',
        kernel: b.ready.kernel,
        threads: b.ready.threads,
        start_seconds: Number(startSeconds.toFixed(1)),
        rss_mib: rss,
        records: `100k + ${bigRows / 1000}k`,
        ...b.ready.times,
      },
    };
  }

  // The committed baseline share, per database: a share below it (less the tolerance) is a regression.
  const baseline = JSON.parse(readFileSync(BASELINE_FILE, 'utf8')) as Baseline;
  const regressions: string[] = [];
  for (const [database, share] of Object.entries(shares)) {
    const base = baseline.cache_hit_share_of_hello[database];
    if (base !== undefined && share < base * (1 - baseline.tolerance))
      regressions.push(
        `cache-hit at 128 connections on ${database} is ${(share * 100).toFixed(1)}% of hello-world; ` +
          `the committed baseline is ${(base * 100).toFixed(1)}% ` +
          `(tolerance ${baseline.tolerance * 100}%, ${baseline.measured})`,
      );
  }

  const out = {
    // The table's machine line gives the load average at start and at end: so does the JSON.
    machine: { ...machine, loadAverageAtEnd: Number(loadavg()[0]!.toFixed(1)) },
    brokers,
    cache_hit_share_of_hello: shares,
    baseline,
    regressions,
    seed_targets: {
      mvp: '100 rps, < 200 ms cache hit, < 800 ms end to end',
      production: '10,000 rps per region, < 50 ms cache hit, < 200 ms end to end',
    },
    rows,
  };
  if (json) {
    console.log(JSON.stringify(out, null, 2));
  } else {
    const header = [
      'scenario',
      'database',
      'conns',
      'rps',
      'p50 ms',
      'p99 ms',
      'errors',
      'cpu µs',
      'main µs',
      'gen µs',
      'target',
      '',
    ];
    const cells = rows.map((r) => [
      r.scenario,
      r.database,
      r.connections,
      String(r.rps),
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      String(r.errors),
      r.cpu_us === undefined ? '' : String(r.cpu_us),
      r.main_us === undefined ? '' : String(r.main_us),
      r.loadgen_us === undefined ? '' : String(r.loadgen_us),
      r.target,
      r.pass === undefined ? '' : r.pass ? 'ok' : 'MISSED',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[]) =>
      c
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const c of cells) console.log(line(c));
    console.log(
      "\ncpu µs / main µs: the server's CPU per answered request, all its threads / its event-loop thread; " +
        "gen µs: the load generator's (autocannon)",
    );
    console.log(`seed targets: MVP ${out.seed_targets.mvp}; production ${out.seed_targets.production}`);
    for (const r of rows.filter((r) => r.stats))
      console.log(
        `broker during ${r.scenario}, ${r.database}, ${r.connections} connections: ${JSON.stringify(r.stats)}`,
      );
    for (const [database, info] of Object.entries(brokers))
      console.log(`broker (${database}): ${JSON.stringify(info)}`);
    console.log(machineLine(machine));
    for (const r of regressions) console.log(`\nREGRESSION: ${r}`);
  }
  if (regressions.length > 0) process.exitCode = 1;
}

// Last, so every constant above is initialised before the run starts.
const role = childRole<ChildRole>();
if (role?.mode === 'hello') await serveHello();
else if (role?.mode === 'serve') await serveBroker(role.bigRows, role.workDir);
else await runBench();
