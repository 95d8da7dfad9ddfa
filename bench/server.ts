/**
 * `npm run bench:server` (node --import tsx bench/server.ts [--quick] [--json]):
 * the broker under autocannon on loopback, bounded in time (~2–3 min):
 *
 *   1. uWS hello-world, the ceiling of this machine with this load generator;
 *   2. cache-hit verification over HTTP (one question asked again and again);
 *   3. cold verification against 100k and 1M records (a fresh random CLK per
 *      request, so every request misses the cache and scans the dataset);
 *   4. WebSocket verification (many in flight per socket);
 *   5. audit inclusion proofs over HTTP, from the hashes the broker holds;
 *   plus the 1M-version publish and reload times and the broker's RSS.
 *
 * The broker and the hello-world server run as child processes (this same
 * file with --serve / --hello) so the load generator does not share their
 * event loop; on 2 cores they still share the CPU, as in docs/decisions.md's numbers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describeMachine, machineLine } from './report.js';

const SELF = fileURLToPath(import.meta.url);
const mode = process.argv[2];

if (mode === '--hello') await serveHello();
else if (mode === '--serve') await serveBroker(Number(process.argv[3] ?? 1_000_000));
else await runBench();

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

async function serveBroker(bigRows: number): Promise<void> {
  const { loadConfig } = await import('../server/config.js');
  const { startBroker } = await import('../server/app.js');
  const { loadDemoDataset, demoQuery } = await import('../server/demo.js');
  const { loadDemoSchema } = await import('../demo/people.js');
  const config = loadConfig(process.env, {
    PORT: '0',
    HOST: '127.0.0.1',
    STATE_DIR: mkdtempSync(join(tmpdir(), 'pavilion-bench-')),
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
    // Random filters with ~25% of bits set (two random bytes ANDed): as dense as real CLKs, and no two alike.
    const a = randomBytes(bigRows * 128);
    const b = randomBytes(bigRows * 128);
    for (let i = 0; i < a.length; i++) a[i]! &= b[i]!;
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
  const dir = mkdtempSync(join(tmpdir(), 'pavilion-bench-queries-'));
  const { syntheticPeople } = await import('../demo/people.js');
  const { writeFileSync } = await import('node:fs');
  const demoQueries = await broker.engine.encode(demo.schema, demo.secret, syntheticPeople(15_000, 777));
  writeFileSync(join(dir, 'demo.bin'), demoQueries);
  const qa = randomBytes(15_000 * 128);
  const qb = randomBytes(15_000 * 128);
  for (let i = 0; i < qa.length; i++) qa[i]! &= qb[i]!;
  writeFileSync(join(dir, 'big.bin'), qa);
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

function startChild(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve({ child, ready: JSON.parse(line.slice(6)) });
    });
    child.on('exit', (code) => reject(new Error(`child ${args[0]} exited with ${code}`)));
  });
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

interface Row {
  scenario: string;
  connections: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  target: string;
  pass?: boolean;
}

async function cannon(
  opts: Record<string, unknown>,
): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon(opts as never);
  return {
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
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

async function runBench(): Promise<void> {
  const quick = process.argv.includes('--quick');
  // --only=hello,hit,cold,ws,proof runs a subset (default: all).
  const onlyArg = process.argv.find((a) => a.startsWith('--only='));
  const only = new Set(onlyArg ? onlyArg.slice(7).split(',') : ['hello', 'hit', 'cold', 'ws', 'proof']);
  const json = process.argv.includes('--json');
  const dur = quick ? 4 : 10;
  const bigRows = !only.has('cold') ? 0 : quick ? 200_000 : 1_000_000;
  // Load average included: on a shared 2-core machine it explains most variance.
  const machine = describeMachine();
  const log = (s: string) => !json && console.error(s);
  const rows: Row[] = [];

  if (only.has('hello')) {
    log('uWS hello-world baseline…');
    const hello = await startChild(['--hello']);
    try {
      const r = await cannon({ url: hello.ready.url, connections: 32, duration: dur });
      rows.push({ scenario: 'uWS hello-world (baseline)', connections: '32', ...r, target: '—' });
    } finally {
      hello.child.kill('SIGKILL');
    }
  }

  // On a real Postgres the benchmark works in a database of its own, dropped at the end.
  let dropDatabase: (() => Promise<void>) | null = null;
  let childEnv: NodeJS.ProcessEnv = process.env;
  if (process.env.DATABASE_URL) {
    const { default: postgres } = await import('postgres');
    const name = `pv_bench_${randomBytes(6).toString('hex')}`;
    const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    childEnv = { ...process.env, DATABASE_URL: url.toString() };
    dropDatabase = async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
      await admin.end();
    };
  }
  log(
    `starting the broker with 100k demo + ${bigRows / 1000}k random records ` +
      `(${process.env.DATABASE_URL ? 'Postgres' : 'embedded PGlite'}, ` +
      `${process.env.REDIS_URL ? 'Redis + LRU' : 'LRU'})…`,
  );
  const t0 = performance.now();
  const b = await startChild(['--serve', String(bigRows)], childEnv);
  const startSeconds = (performance.now() - t0) / 1000;
  const { url, token, hitClk } = b.ready as Required<Ready>;
  const rss = rssMiB(b.child.pid!);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  try {
    const hitBody = verifyBody('demo', hitClk);
    await fetch(`${url}/v1/verifications`, { method: 'POST', headers, body: hitBody });
    if (only.has('hit')) {
      log('cache-hit verification…');
      const hit = await cannon({
        url: `${url}/v1/verifications`,
        method: 'POST',
        headers,
        body: hitBody,
        connections: 32,
        duration: dur + 5,
      });
      rows.push({
        scenario: 'cache-hit verification, HTTP',
        connections: '32',
        ...hit,
        target: '≥10,000 rps, p99 < 10 ms',
        pass: hit.rps >= 10_000 && hit.p99 < 10 && hit.errors === 0,
      });
    }

    if (only.has('proof')) {
      // The log holds an entry per verification asked above (or at least the demo's).
      const size = Number((await fetch(`${url}/v1/audit/checkpoint`, { headers })).headers.get('x-tree-size'));
      log(`audit inclusion proofs at ${size} entries…`);
      const proof = await cannon({
        url: `${url}/v1/audit/proofs/inclusion?index=${Math.floor(size / 3)}&size=${size}`,
        headers,
        connections: 32,
        duration: dur,
      });
      rows.push({
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
      const cold = await cannon({
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
              return { ...req, body: verifyBody(dataset, queries.subarray(i * 128, (i + 1) * 128).toString('base64')) };
            },
          },
        ],
      });
      if (next > count) log(`  (${next} requests cycled through ${count} queries: some were cache hits)`);
      const is1M = dataset === 'big' && bigRows === 1_000_000;
      rows.push({
        scenario: `cold verification, 1:N over ${size}`,
        connections: String(conns),
        ...cold,
        target: is1M ? 'p99 < 100 ms' : '< 200 ms end to end (prod)',
        pass: is1M ? cold.p99 < 100 && cold.errors === 0 : cold.p99 < 200 && cold.errors === 0,
      });
    }

    if (only.has('ws')) {
      log('WebSocket verification…');
      const ws = await wsBench(url, token, JSON.parse(hitBody), dur, 8, 16);
      rows.push({
        scenario: 'cache-hit verification, WebSocket',
        connections: '8 sockets × 16 in flight',
        ...ws,
        target: '< 50 ms cache hit (prod)',
        pass: ws.p99 < 50 && ws.errors === 0,
      });
    }
  } finally {
    await new Promise<void>((resolve) => {
      b.child.once('exit', () => resolve());
      b.child.kill('SIGTERM');
      setTimeout(() => b.child.kill('SIGKILL'), 10_000).unref();
    });
    await dropDatabase?.();
  }
  const rssAfter = rss;

  const out = {
    machine,
    broker: {
      database: process.env.DATABASE_URL ? 'postgres' : 'embedded PGlite',
      cache: process.env.REDIS_URL ? 'redis + lru' : 'lru',
      kernel: b.ready.kernel,
      threads: b.ready.threads,
      start_seconds: Number(startSeconds.toFixed(1)),
      rss_mib_with_big_loaded: rssAfter,
      rss_target: '< 2048 MiB with 1M records',
      ...b.ready.times,
    },
    seed_targets: {
      mvp: '100 rps, < 200 ms cache hit, < 800 ms end to end',
      production: '10,000 rps per region, < 50 ms cache hit, < 200 ms end to end',
    },
    rows,
  };
  if (json) {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  const header = ['scenario', 'conns', 'rps', 'p50 ms', 'p99 ms', 'errors', 'target (this machine)', ''];
  const cells = rows.map((r) => [
    r.scenario,
    r.connections,
    String(r.rps),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    String(r.errors),
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
  console.log(`\nseed targets: MVP ${out.seed_targets.mvp}; production ${out.seed_targets.production}`);
  console.log(
    `broker: ${out.broker.database}, cache ${out.broker.cache}, ${b.ready.threads} engine threads, ` +
      `${b.ready.kernel} kernel, started and loaded in ${startSeconds.toFixed(1)} s; RSS ${rssAfter} MiB with ` +
      `100k + ${bigRows / 1000}k records (target < 2048 MiB with 1M)`,
  );
  console.log(`load times: ${JSON.stringify(b.ready.times)}`);
  console.log(machineLine(machine));
}
