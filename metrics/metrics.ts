/**
 * The broker's Prometheus metrics, in a registry of their own (not
 * prom-client's global one, so tests and several brokers in one process do not
 * share series).
 *
 * Names follow the Prometheus conventions (DESIGN.md): `pavilion_` prefix,
 * base units (`_seconds`), `_total` on counters. Two ways values get in:
 * - events observed by their owner as they happen (`observeRequest`,
 *   `observePoolTask`, `observeAuditAppend`, `addDiceComparisons`);
 * - state read at scrape time (`render`) from a callback the owner registers
 *   (`setCollector`), so the hot path pays nothing for gauges such as the pool
 *   queue depth, and cumulative counters the cache already keeps are not
 *   counted twice.
 *
 * Cardinality: route labels must be route templates registered up front
 * (`/v1/datasets/:id`, never `/v1/datasets/abc`); anything else is recorded as
 * `other` (see label-guard.ts for why not an error). Methods outside the HTTP
 * set become `OTHER`, statuses outside 100–599 `other`, and the free-form pool
 * task label admits a bounded number of values. No series carries a dataset id
 * (README.md, "Which series /metrics holds").
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { withDeadline } from '../common/deadline.js';
import { PavilionError } from '../common/errors.js';
import { LabelGuard, OTHER_LABEL } from './label-guard.js';

export { OTHER_LABEL } from './label-guard.js';

export const METRIC_PREFIX = 'pavilion_';

/** 0.5 ms … 2 s: a cache hit is ~1 ms end to end, a cold 1:N search over 1M filters tens of ms. */
export const REQUEST_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];
/** Pool tasks: one Piscina task costs 26–34 µs (DESIGN.md); batch linkage runs for seconds. */
export const POOL_TASK_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
/** Group-committed audit appends: a multi-row insert is ms; past 1 s something is wrong. */
export const AUDIT_APPEND_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Verifications end to end, split by cache outcome: the SLOs differ (cache hit
 * < 50 ms, cold < 200 ms at p99, server/README.md's production targets), so the
 * buckets hold both bounds exactly and the alert rules read them
 * (deploy/prometheus/rules/pavilion.rules.yml).
 */
export const VERIFICATION_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5];

/**
 * prom-client's default Node metrics name three gauges `…_total`, which
 * Prometheus reserves for counters (promtool check metrics flags them). The
 * same counts are exported without the suffix, by type, so these are dropped.
 */
const MISNAMED_DEFAULT_METRICS = [
  'pavilion_nodejs_active_handles_total',
  'pavilion_nodejs_active_requests_total',
  'pavilion_nodejs_active_resources_total',
];

/** `WS` labels WebSocket messages (a `verify` message is a request too). */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'WS'];
const COLLECTOR_TIMEOUT_MS = 1000;

type Count = number | bigint;

/** The cache's cumulative counters, shaped like `VerificationCache.stats()`. */
export interface CacheCounters {
  hits: number;
  /** All misses, including `degradedMisses`. */
  misses: number;
  /** Misses because Redis failed or was down: exported as result="error". */
  degradedMisses?: number;
  redisUp: boolean;
  /** False → no Redis configured: `pavilion_cache_redis_up` has no sample instead of a false alarm. */
  redisConfigured?: boolean;
}

/** State read at scrape time; each may be sync or async (async ones time out after 1 s). */
export interface CollectorSources {
  pool_queue_depth: () => Count | Promise<Count>;
  audit_tree_size: () => Count | Promise<Count>;
  audit_cache_bytes: () => Count | Promise<Count>;
  anchor_lag_entries: () => Count | Promise<Count>;
  anchor_last_final_size: () => Count | Promise<Count>;
  pool_threads: () => Count | Promise<Count>;
  /** 1 when the database answered a trivial query, 0 when it did not (the source bounds its own wait). */
  database_up: () => Count | Promise<Count>;
  audit_checkpoint_size: () => Count | Promise<Count>;
  audit_checkpoint_timestamp_seconds: () => Count | Promise<Count>;
  audit_checkpoint_lag_seconds: () => Count | Promise<Count>;
  anchor_last_final_timestamp_seconds: () => Count | Promise<Count>;
  anchor_wallet_balance: () => Count | Promise<Count>;
  anchor_consecutive_failures: () => Count | Promise<Count>;
  /** 1 while the chain's latest anchor of the log is not a state of the log (the anchorer stopped), else 0. */
  anchor_log_diverged: () => Count | Promise<Count>;
  /** Records per loaded dataset: a Map, [dataset, records] pairs, or a plain object. */
  dataset_records: () => DatasetRecords | Promise<DatasetRecords>;
  cache: () => CacheCounters | Promise<CacheCounters>;
}
export type CollectorName = keyof CollectorSources;
export type DatasetRecords = Iterable<readonly [string, number]> | Record<string, number>;

/**
 * Gauges exported only once something feeds them (a collector or setGauge):
 * a 0 from a part that is not there (no anchoring wallet, no database check)
 * would read as an outage and page someone.
 */
const OPTIONAL = [
  'pool_threads',
  'database_up',
  'audit_checkpoint_size',
  'audit_checkpoint_timestamp_seconds',
  'audit_checkpoint_lag_seconds',
  'anchor_last_final_timestamp_seconds',
  'anchor_wallet_balance',
  'anchor_consecutive_failures',
  'anchor_log_diverged',
] as const;
/** Gauges an owner may also push directly instead of registering a collector. */
const SCALAR_GAUGES = [
  'pool_queue_depth',
  'audit_tree_size',
  'audit_cache_bytes',
  'anchor_lag_entries',
  'anchor_last_final_size',
  ...OPTIONAL,
] as const;
export type SettableGauge = (typeof SCALAR_GAUGES)[number];
const OPTIONAL_GAUGES: ReadonlySet<SettableGauge> = new Set(OPTIONAL);

export interface CreateMetricsOptions {
  /** Route templates accepted as `route` labels; more via `registerRoutes`. */
  routes?: readonly string[];
  /** Node process metrics (CPU, memory, event loop lag, GC), prefixed `pavilion_`. Default true. */
  defaultMetrics?: boolean;
  /** Distinct pool task names admitted before the rest become `other` (default 32). */
  maxTasks?: number;
}

export interface Metrics {
  /** For merging or inspection; serialise through `render`, which runs the collectors first. */
  readonly registry: Registry;
  registerRoutes(...templates: string[]): void;
  /** One finished HTTP request, or WebSocket message with method `WS`. Bad `seconds` are dropped, never thrown. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  observePoolTask(task: string, seconds: number): void;
  observeAuditAppend(seconds: number): void;
  /** One verification answered, from the cache or computed (cold); bad `seconds` are dropped. */
  observeVerification(cached: boolean, seconds: number): void;
  addDiceComparisons(count: number): void;
  setGauge(name: SettableGauge, value: Count): void;
  /** Registers (or with `undefined` removes) the scrape-time source of a metric. */
  setCollector<K extends CollectorName>(name: K, source: CollectorSources[K] | undefined): void;
  /** Body and Content-Type for GET /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(opts: CreateMetricsOptions = {}): Metrics {
  return new PavilionMetrics(opts);
}

class PavilionMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly routes = new LabelGuard({ allowed: [], maxDistinct: 0 });
  private readonly methods = new LabelGuard({ allowed: HTTP_METHODS, maxDistinct: 0 });
  private readonly tasks: LabelGuard;
  private readonly collectors = new Map<CollectorName, CollectorSources[CollectorName]>();
  /** Label children cached by their joined labels: prom-client hashes a label object on every call otherwise. */
  private readonly requestChildren = new Map<
    string,
    { count: ReturnType<Counter<string>['labels']>; duration: ReturnType<Histogram<string>['labels']> }
  >();

  /** The verification histogram's two children, taken once for the same reason. */
  private readonly verificationChildren: Record<'hit' | 'miss', ReturnType<Histogram<string>['labels']>>;
  private readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method'>;
  private readonly poolTaskDuration: Histogram<'task'>;
  private readonly auditAppendDuration: Histogram<string>;
  private readonly verificationDuration: Histogram<'cache'>;
  private readonly diceComparisons: Counter<string>;
  private readonly collectorErrors: Counter<'collector'>;
  private readonly gauges: Record<SettableGauge, Gauge<string>>;
  private readonly datasetRecords: Gauge;
  private readonly datasetsActive: Gauge;
  private readonly cacheRequests: Counter<'result'>;
  private readonly cacheRedisUp: Gauge<string>;

  constructor(opts: CreateMetricsOptions) {
    this.tasks = new LabelGuard({ maxDistinct: opts.maxTasks ?? 32, maxLength: 64 });
    if (opts.routes) this.registerRoutes(...opts.routes);
    const registers = [this.registry];

    this.httpRequests = new Counter({
      name: 'pavilion_http_requests_total',
      help: 'HTTP requests handled, by route template, method and response status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'pavilion_http_request_duration_seconds',
      help: 'Time from request received to response sent, by route template and method.',
      labelNames: ['route', 'method'],
      buckets: REQUEST_DURATION_BUCKETS,
      registers,
    });
    this.poolTaskDuration = new Histogram({
      name: 'pavilion_pool_task_duration_seconds',
      help: 'Duration of worker pool tasks, by task kind, including queueing.',
      labelNames: ['task'],
      buckets: POOL_TASK_DURATION_BUCKETS,
      registers,
    });
    this.auditAppendDuration = new Histogram({
      name: 'pavilion_audit_append_duration_seconds',
      help: 'Time for an audit event to become durable (group commit included).',
      buckets: AUDIT_APPEND_DURATION_BUCKETS,
      registers,
    });
    this.verificationDuration = new Histogram({
      name: 'pavilion_verification_duration_seconds',
      help:
        'Verifications from request to answer (policy, match or cache, audit append), by cache: hit or miss ' +
        '(cold).',
      labelNames: ['cache'],
      buckets: VERIFICATION_DURATION_BUCKETS,
      registers,
    });
    this.verificationChildren = {
      hit: this.verificationDuration.labels('hit'),
      miss: this.verificationDuration.labels('miss'),
    };
    this.diceComparisons = new Counter({
      name: 'pavilion_dice_comparisons_total',
      help: 'Dice similarity comparisons computed; rate() gives comparisons per second.',
      registers,
    });
    const scalarGauge = (metricName: string, help: string, optional = false): Gauge<string> =>
      new Gauge({ name: metricName, help, registers: optional ? [] : registers });
    this.gauges = {
      pool_queue_depth: scalarGauge('pavilion_pool_queue_depth', 'Tasks waiting in the worker pool queue.'),
      audit_tree_size: scalarGauge('pavilion_audit_tree_size', 'Entries in the audit Merkle log.'),
      audit_cache_bytes: scalarGauge(
        'pavilion_audit_cache_bytes',
        'Bytes of audit tree hashes held in memory to serve proofs and tiles without the database.',
      ),
      anchor_lag_entries: scalarGauge(
        'pavilion_anchor_lag_entries',
        'Audit log entries not yet covered by a final on-chain anchor.',
      ),
      anchor_last_final_size: scalarGauge(
        'pavilion_anchor_last_final_size',
        'Tree size of the latest anchor whose block is finalized.',
      ),
      pool_threads: scalarGauge('pavilion_pool_threads', 'Worker threads in the engine pool.', true),
      database_up: scalarGauge(
        'pavilion_database_up',
        '1 when PostgreSQL answered a trivial query within a second at scrape time, 0 when it did not.',
        true,
      ),
      audit_checkpoint_size: scalarGauge(
        'pavilion_audit_checkpoint_size',
        'Tree size of the newest signed audit checkpoint.',
        true,
      ),
      audit_checkpoint_timestamp_seconds: scalarGauge(
        'pavilion_audit_checkpoint_timestamp_seconds',
        'When the newest audit checkpoint was signed, seconds since the epoch.',
        true,
      ),
      audit_checkpoint_lag_seconds: scalarGauge(
        'pavilion_audit_checkpoint_lag_seconds',
        'Age of the oldest acknowledged audit append no signed checkpoint covers yet (0: all covered).',
        true,
      ),
      anchor_last_final_timestamp_seconds: scalarGauge(
        'pavilion_anchor_last_final_timestamp_seconds',
        'When the anchorer last saw an anchor become final, seconds since the epoch (0: none yet in this process).',
        true,
      ),
      anchor_wallet_balance: scalarGauge(
        'pavilion_anchor_wallet_balance',
        "Balance of the anchoring wallet in the chain's native token (POL on Polygon; 1 = 10^18 wei).",
        true,
      ),
      anchor_consecutive_failures: scalarGauge(
        'pavilion_anchor_consecutive_failures',
        'Anchoring passes that failed in a row (0: the last pass succeeded); the broker log names each failure.',
        true,
      ),
      anchor_log_diverged: scalarGauge(
        'pavilion_anchor_log_diverged',
        "1 while the chain's latest anchor of the audit log is not a state of the log (entries lost or re-grown " +
          'after a restore, or an anchor posted by someone else): anchoring has stopped. 0 otherwise.',
        true,
      ),
    };
    // No dataset label: /metrics is public, and a per-dataset series would tell anyone which datasets
    // exist and how big each is (README.md, "Which series /metrics holds").
    this.datasetRecords = new Gauge({
      name: 'pavilion_dataset_records',
      help: 'Records in the active versions of all loaded datasets, summed.',
      registers,
    });
    this.datasetsActive = new Gauge({
      name: 'pavilion_datasets_active',
      help: 'Datasets with an active version loaded.',
      registers,
    });
    this.cacheRequests = new Counter({
      name: 'pavilion_cache_requests_total',
      help: 'Verification cache lookups by result: hit, miss, or error (Redis failed or down; served as a miss).',
      labelNames: ['result'],
      registers,
    });
    this.cacheRedisUp = new Gauge({
      name: 'pavilion_cache_redis_up',
      help: '1 when the cache reaches Redis, 0 when it does not. Absent when the cache runs without Redis.',
      registers,
    });
    this.collectorErrors = new Counter({
      name: 'pavilion_metrics_collector_errors_total',
      help:
        'Scrape-time collectors that threw, timed out or returned a non-number, by collector; their metric ' +
        'kept its previous value.',
      labelNames: ['collector'],
      registers,
    });

    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** Puts an optional gauge in the exposition the first time something feeds it. */
  private exportGauge(name: SettableGauge): void {
    // Optional gauges are named METRIC_PREFIX + their key (see the constructor).
    if (OPTIONAL_GAUGES.has(name) && this.registry.getSingleMetric(`${METRIC_PREFIX}${name}`) === undefined)
      this.registry.registerMetric(this.gauges[name]);
  }

  registerRoutes(...templates: string[]): void {
    for (const t of templates) {
      if (typeof t !== 'string' || !t.startsWith('/') || t.length > 128) {
        throw new PavilionError(
          'METRICS_ROUTE_INVALID',
          'route templates must be strings starting with "/" of at most 128 characters',
        );
      }
    }
    this.routes.allow(...templates);
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    if (!validSeconds(seconds)) return;
    const r = this.routes.map(route);
    const m = typeof method === 'string' ? this.methods.map(method.toUpperCase()) : OTHER_LABEL;
    const methodLabel = m === OTHER_LABEL ? 'OTHER' : m;
    const s = Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : OTHER_LABEL;
    const id = `${r} ${methodLabel} ${s}`;
    let child = this.requestChildren.get(id);
    if (child === undefined) {
      // Bounded: every part of `id` went through a guard above.
      child = {
        count: this.httpRequests.labels(r, methodLabel, s),
        duration: this.httpDuration.labels(r, methodLabel),
      };
      this.requestChildren.set(id, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }

  observePoolTask(task: string, seconds: number): void {
    if (validSeconds(seconds)) this.poolTaskDuration.observe({ task: this.tasks.map(task) }, seconds);
  }

  observeAuditAppend(seconds: number): void {
    if (validSeconds(seconds)) this.auditAppendDuration.observe(seconds);
  }

  observeVerification(cached: boolean, seconds: number): void {
    if (validSeconds(seconds)) this.verificationChildren[cached ? 'hit' : 'miss'].observe(seconds);
  }

  addDiceComparisons(count: number): void {
    // A counter only goes up; a bad count is dropped rather than thrown into the engine.
    if (typeof count === 'number' && Number.isFinite(count) && count > 0) this.diceComparisons.inc(count);
  }

  setGauge(name: SettableGauge, value: Count): void {
    const gauge = Object.hasOwn(this.gauges, name) ? this.gauges[name] : undefined;
    if (gauge === undefined) throw new PavilionError('METRICS_UNKNOWN_GAUGE', 'unknown gauge name');
    const n = toNumber(value);
    if (typeof n !== 'number' || !Number.isFinite(n))
      throw new PavilionError('METRICS_VALUE_INVALID', 'gauge value must be a finite number');
    this.exportGauge(name);
    gauge.set(n);
  }

  setCollector<K extends CollectorName>(name: K, source: CollectorSources[K] | undefined): void {
    if (!COLLECTOR_NAMES.has(name)) throw new PavilionError('METRICS_UNKNOWN_COLLECTOR', 'unknown collector name');
    if (source === undefined) this.collectors.delete(name);
    else if (typeof source === 'function') {
      this.collectors.set(name, source);
      if ((SCALAR_GAUGES as readonly string[]).includes(name)) this.exportGauge(name as SettableGauge);
    } else throw new PavilionError('METRICS_COLLECTOR_INVALID', 'a collector must be a function');
  }

  /**
   * Runs every registered collector (concurrently, each once), applies the
   * values, then serialises. Collecting here rather than in prom-client's
   * per-metric `collect` hooks means the error counter and the metrics it
   * describes come from the same scrape, and the cache's stats are read once.
   */
  async render(): Promise<{ contentType: string; body: string }> {
    await Promise.all([
      ...SCALAR_GAUGES.map((name) => this.collectFrom(name, (v) => this.gauges[name].set(finite(v)))),
      this.collectFrom('dataset_records', (source) => this.applyDatasetRecords(source)),
      this.collectFrom('cache', (c) => this.applyCacheCounters(c)),
    ]);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private applyDatasetRecords(source: DatasetRecords): void {
    const pairs =
      Symbol.iterator in Object(source) ? (source as Iterable<readonly [string, number]>) : Object.entries(source);
    let records = 0;
    let datasets = 0;
    for (const [, n] of pairs) {
      records += finite(n);
      datasets++;
    }
    this.datasetRecords.set(records);
    this.datasetsActive.set(datasets);
  }

  private applyCacheCounters(c: CacheCounters): void {
    const hits = finite(c.hits);
    const misses = finite(c.misses);
    const errors = finite(c.degradedMisses ?? 0);
    // The cache keeps cumulative counts; a counter rebuilt from them each
    // scrape stays monotonic for as long as the cache lives.
    this.cacheRequests.reset();
    this.cacheRequests.inc({ result: 'hit' }, Math.max(0, hits));
    this.cacheRequests.inc({ result: 'miss' }, Math.max(0, misses - errors));
    this.cacheRequests.inc({ result: 'error' }, Math.max(0, errors));
    // Without Redis a 0 would read as "Redis down" and page someone: the
    // metric is left out of the exposition instead.
    const registered = this.registry.getSingleMetric('pavilion_cache_redis_up') !== undefined;
    if (c.redisConfigured === false) {
      if (registered) this.registry.removeSingleMetric('pavilion_cache_redis_up');
      return;
    }
    if (!registered) this.registry.registerMetric(this.cacheRedisUp);
    this.cacheRedisUp.set(c.redisUp ? 1 : 0);
  }

  /**
   * Runs one collector and hands its value to `apply`. Nothing happens when no
   * collector is registered. When it throws, times out, or returns something
   * that is not a count (`apply` throws), the metric keeps its last value and
   * the failure is counted: a broken source must not break the whole scrape.
   */
  private async collectFrom<K extends CollectorName>(
    name: K,
    apply: (value: Awaited<ReturnType<CollectorSources[K]>>) => void,
  ): Promise<void> {
    const source = this.collectors.get(name) as CollectorSources[K] | undefined;
    if (source === undefined) return;
    try {
      const returned: unknown = source();
      const value =
        returned instanceof Promise
          ? await withDeadline(returned, COLLECTOR_TIMEOUT_MS, () => new Error('collector timed out'))
          : returned;
      if (value === undefined || value === null) throw new Error('collector returned nothing');
      apply(value as Awaited<ReturnType<CollectorSources[K]>>);
    } catch {
      this.collectorErrors.inc({ collector: name });
    }
  }
}

const COLLECTOR_NAMES = new Set<string>([...SCALAR_GAUGES, 'dataset_records', 'cache']);

function validSeconds(s: number): boolean {
  return typeof s === 'number' && Number.isFinite(s) && s >= 0;
}

/** Tree sizes may arrive as bigint; Prometheus samples are float64 (exact to 2^53). */
function toNumber(v: Count): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

/** A count from a collector, or a throw (caught and counted by collectFrom). */
function finite(v: unknown): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new TypeError('collector value is not a finite number');
  return n;
}
