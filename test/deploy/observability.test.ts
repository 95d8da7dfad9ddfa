/**
 * Prometheus rules and the Grafana dashboard against a live broker: every
 * metric a rule or a panel names is one the broker exports (with anchoring,
 * Redis and Postgres on, so every optional series is there), every recorded
 * series a panel or an alert reads is recorded by a rule; the rules pass
 * `promtool test rules`; and a real Prometheus (Debian's package) scrapes the
 * broker, evaluates every rule without error and records the series.
 *
 * PROMETHEUS_BIN / PROMTOOL_BIN (.ci/run exports them) are needed for the
 * last two; skipped without them, failing when CI is set.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import { freePort, redisServerAvailable, startRedis, type TestRedis } from '../cache/redis-server.js';
import { api, b64, randomClk } from '../server/helpers.js';
import { MUST_RUN, missingMessage, PROMETHEUS, type RunningBroker, startBrokerWith } from './services.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'prometheus', 'rules', 'pavilion.rules.yml');
const RULE_TESTS = join(ROOT, 'deploy', 'prometheus', 'tests', 'pavilion.rules.test.yml');
const DASHBOARDS = join(ROOT, 'deploy', 'grafana', 'dashboards');
const DATASOURCES = join(ROOT, 'deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml');
const prometheusBin = process.env.PROMETHEUS_BIN;
const promtoolBin = process.env.PROMTOOL_BIN;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

interface Panel {
  title: string;
  type: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { refId: string; expr: string; datasource: { uid: string } }[];
}

function dashboards(): { file: string; json: { uid: string; title: string; panels: Panel[] } }[] {
  return readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) }));
}

/** PromQL expressions of the rules file (no YAML parser needed: each is an `expr:` scalar or block). */
function ruleExpressions(): { expressions: string[]; recorded: Set<string> } {
  const text = readFileSync(RULES, 'utf8');
  const expressions: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (m[2] !== '|') {
      expressions.push(m[2]!);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > m[1]!.length)) {
      block.push(lines[++i]!);
    }
    expressions.push(block.join('\n'));
  }
  const recorded = new Set([...text.matchAll(/^\s*- record:\s*(\S+)/gm)].map((r) => r[1]!));
  return { expressions, recorded };
}

/** Metric names an expression selects: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const names: string[] = [];
  for (const m of withoutStrings.matchAll(/(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)) {
    const name = m[1]!;
    if (name.startsWith('pavilion') || name === 'up') names.push(name);
  }
  return names;
}

function exportedFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1]!, m[2]!);
  return families;
}

/** The family a sample name belongs to (histogram series carry _bucket/_sum/_count). */
function familyOf(name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && families.get(base) === 'histogram') return base;
  }
  return undefined;
}

let b: RunningBroker;
let redis: TestRedis | undefined;
let exposition = '';
/**
 * pavilion_cache_redis_up exists only when the broker has Redis: with neither REDIS_URL (CI) nor a redis-server
 * to start, it is the one name taken on trust.
 */
let withoutRedis = new Set<string>();

beforeAll(async () => {
  // Anchoring on a local anvil, Redis and Postgres: every optional series is exported.
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl && redisServerAvailable()) {
    redis = await startRedis();
    redisUrl = redis.url;
  }
  if (!redisUrl) withoutRedis = new Set(['pavilion_cache_redis_up']);
  b = await startBrokerWith({
    ANCHORING: 'anvil',
    ANCHOR_POLL_MS: '500',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
  });
  const dp = await b.broker.localIdentity!.mint({ sub: 'registry', roles: ['dp'] });
  const rp = await b.broker.localIdentity!.mint({ sub: 'acme-bank', roles: ['rp'] });
  const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 4200 + i));
  await api(b.url, 'PUT', '/v1/datasets/ds', { token: dp, body: { schema: loadDemoSchema(), claims: ['over_18'] } });
  const up = await api(b.url, 'POST', '/v1/datasets/ds/versions', {
    token: dp,
    raw: encodeBinaryDataset(
      1024,
      clks.map((clk, i) => ({ ref: `r${i}`, clk })),
      clks.map(() => ({ over_18: true })),
    ),
    contentType: 'application/vnd.pavilion.dataset',
  });
  expect(up.status, up.text).toBe(201);
  // A miss then a hit for each: both verification series, cache counters, comparisons, audit appends.
  for (let round = 0; round < 2; round++)
    for (const clk of clks.slice(0, 5)) {
      const v = await api(b.url, 'POST', '/v1/verifications', {
        token: rp,
        body: { dataset: 'ds', clk: b64(clk), claims: ['over_18'], purpose: 'age_verification' },
      });
      expect(v.status, v.text).toBe(200);
    }
  await b.broker.audit.checkpoint();
  exposition = await (await fetch(`${b.url}/metrics`)).text();
}, 120_000);

afterAll(async () => {
  await b?.close();
  await redis?.stop();
});

describe('rules and dashboards name only what the broker exports', () => {
  it('the live exposition has the optional series (anchoring wallet, database, checkpoint)', () => {
    const families = exportedFamilies(exposition);
    for (const name of [
      'pavilion_anchor_wallet_balance',
      'pavilion_database_up',
      'pavilion_audit_checkpoint_timestamp_seconds',
      'pavilion_verification_duration_seconds',
    ])
      expect(families.has(name), name).toBe(true);
    if (withoutRedis.size === 0) expect(families.has('pavilion_cache_redis_up')).toBe(true);
  });

  it('every metric in a rule is exported, every recorded series is recorded', () => {
    const families = exportedFamilies(exposition);
    const { expressions, recorded } = ruleExpressions();
    expect(expressions.length).toBeGreaterThanOrEqual(30);
    const unknown: string[] = [];
    for (const expr of expressions)
      for (const name of metricNames(expr)) {
        if (name.includes(':')) {
          if (!recorded.has(name)) unknown.push(name);
        } else if (name !== 'up' && !withoutRedis.has(name) && familyOf(name, families) === undefined)
          unknown.push(name);
      }
    expect(unknown).toEqual([]);
  });

  it('every panel reads the provisioned datasource and exported or recorded series, without overlapping', () => {
    const families = exportedFamilies(exposition);
    const { recorded } = ruleExpressions();
    const uid = /uid:\s*(\S+)/.exec(readFileSync(DATASOURCES, 'utf8'))?.[1];
    const boards = dashboards();
    expect(boards.length).toBeGreaterThan(0);
    for (const { file, json } of boards) {
      expect(json.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      const names = new Set<string>();
      const cells = new Set<string>();
      for (const p of json.panels) {
        expect(p.datasource.uid, p.title).toBe(uid);
        expect(p.targets.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets) {
          expect(t.datasource.uid).toBe(uid);
          for (const n of metricNames(t.expr)) names.add(n);
        }
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel`).toBe(false);
            cells.add(`${x},${y}`);
          }
        expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      }
      const unknown = [...names].filter((n) =>
        n.includes(':') ? !recorded.has(n) : n !== 'up' && !withoutRedis.has(n) && familyOf(n, families) === undefined,
      );
      expect(unknown, file).toEqual([]);
      // The panels the operations guide promises.
      const titles = json.panels.map((p) => p.title.toLowerCase()).join('\n');
      for (const word of ['request rate', 'p50', 'cache hit', 'comparisons', 'pool', 'tree size', 'anchor lag'])
        expect(titles).toContain(word);
    }
  });

  it('a name the broker does not export is caught', () => {
    const families = exportedFamilies(exposition);
    const names = metricNames('rate(pavilion_http_requests_totl[5m]) / pavilion_pool_threads');
    expect(names.filter((n) => familyOf(n, families) === undefined)).toEqual(['pavilion_http_requests_totl']);
  });
});

describe.skipIf(!(prometheusBin && promtoolBin) && !MUST_RUN)('a real Prometheus on the broker', () => {
  it('promtool: the rules check and their unit tests pass', () => {
    if (!promtoolBin) throw new Error(missingMessage(PROMETHEUS));
    const check = spawnSync(promtoolBin, ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const tests = spawnSync(promtoolBin, ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(tests.status, tests.stdout + tests.stderr).toBe(0);
  });

  it('scrapes the broker, evaluates every rule without error and records their series', async () => {
    if (!prometheusBin) throw new Error(missingMessage(PROMETHEUS));
    const dir = mkdtempSync(join(tmpdir(), 'pavilion-prometheus-'));
    const port = await freePort();
    const target = new URL(b.url).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ["${RULES}"]`,
        'scrape_configs:',
        '  - job_name: pavilion-broker',
        `    static_configs: [{ targets: ["${target}"] }]`,
        '',
      ].join('\n'),
    );
    const child: ChildProcess = spawn(
      prometheusBin,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    const query = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return (await r.json()) as { status: string; data: any };
    };
    try {
      const wanted = [
        'pavilion:http_requests:rate5m',
        'pavilion:http_request_duration:p99_5m',
        'pavilion:cache_hit:ratio_rate5m',
        'pavilion:dice_comparisons:rate5m',
        'pavilion:pool_utilisation:ratio_rate5m',
        'pavilion:verification_duration:p99_5m',
        'pavilion:verification_slow:ratio_rate5m',
      ];
      let missing = wanted;
      let rules: { health: string; name: string; lastError?: string }[] = [];
      const deadline = Date.now() + 60_000;
      // Keep traffic flowing so rate() windows hold at least two scrapes of each series.
      const rp = await b.broker.localIdentity!.mint({ sub: 'acme-bank', roles: ['rp'] });
      while (Date.now() < deadline) {
        await api(b.url, 'GET', '/v1/datasets/ds', { token: rp }).catch(() => {});
        await new Promise((r) => setTimeout(r, 1000));
        const groups = await query('/api/v1/rules').catch(() => undefined);
        if (!groups) continue;
        rules = groups.data.groups.flatMap((g: { rules: unknown[] }) => g.rules);
        const present: string[] = [];
        for (const name of missing) {
          const r = await query(`/api/v1/query?query=${encodeURIComponent(name)}`);
          if (r.data.result.length > 0) present.push(name);
        }
        missing = missing.filter((n) => !present.includes(n));
        if (missing.length === 0 && rules.length > 0 && rules.every((r) => r.health === 'ok')) break;
      }
      expect(rules.length).toBe(ruleExpressions().expressions.length);
      expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
      expect(missing).toEqual([]);
      const up = await query(`/api/v1/query?query=${encodeURIComponent('up{job="pavilion-broker"}')}`);
      expect(up.data.result[0]?.value[1]).toBe('1');
      const database = await query('/api/v1/query?query=pavilion_database_up');
      expect(database.data.result[0]?.value[1]).toBe('1');
      // A healthy broker with a funded wallet raises no alert.
      const alerts = await query('/api/v1/alerts');
      expect(alerts.data.alerts.filter((a: { state: string }) => a.state === 'firing')).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 120_000);
});

// Registered only when the service is missing, so a run that has it reports no skip.
if (!((prometheusBin && promtoolBin) || MUST_RUN))
  describe('a real Prometheus on the broker', () => {
    it.skip(missingMessage(PROMETHEUS), () => {});
  });
