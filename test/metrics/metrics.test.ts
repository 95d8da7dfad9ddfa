import { register as globalRegister } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createCache } from '../../cache/index.js';
import { PavilionError } from '../../common/errors.js';
import { createMetrics, type Metrics, REQUEST_DURATION_BUCKETS } from '../../metrics/index.js';

const ROUTES = ['/v1/verifications', '/v1/datasets', '/v1/datasets/:id', '/metrics'];

/** Sample lines of one metric family (`name{labels} value`), as [labels, value]. */
function samples(body: string, name: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of body.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push([m[2] ?? '', Number(m[3])]);
  }
  return out;
}
function value(body: string, name: string, labels = ''): number | undefined {
  return samples(body, name).find(([l]) => l === labels)?.[1];
}
async function scrape(m: Metrics): Promise<string> {
  return (await m.render()).body;
}

describe('createMetrics', () => {
  it('exposes every metric with HELP and TYPE, in its own registry', async () => {
    const m = createMetrics({ routes: ROUTES });
    const { contentType, body } = await m.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const expected: Array<[string, string]> = [
      ['pavilion_http_requests_total', 'counter'],
      ['pavilion_http_request_duration_seconds', 'histogram'],
      ['pavilion_pool_queue_depth', 'gauge'],
      ['pavilion_pool_task_duration_seconds', 'histogram'],
      ['pavilion_cache_requests_total', 'counter'],
      ['pavilion_cache_redis_up', 'gauge'],
      ['pavilion_dice_comparisons_total', 'counter'],
      ['pavilion_dataset_records', 'gauge'],
      ['pavilion_datasets_active', 'gauge'],
      ['pavilion_audit_tree_size', 'gauge'],
      ['pavilion_audit_cache_bytes', 'gauge'],
      ['pavilion_anchor_lag_entries', 'gauge'],
      ['pavilion_anchor_last_final_size', 'gauge'],
      ['pavilion_audit_append_duration_seconds', 'histogram'],
      ['pavilion_metrics_collector_errors_total', 'counter'],
      ['pavilion_process_cpu_user_seconds_total', 'counter'],
      ['pavilion_process_resident_memory_bytes', 'gauge'],
      ['pavilion_nodejs_eventloop_lag_seconds', 'gauge'],
    ];
    for (const [name, type] of expected) {
      expect(body, name).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
      expect(body, name).toMatch(new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
    }
    // Every metric name carries the prefix, and none leaked into the global registry.
    const names = [...body.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]!);
    expect(names.filter((n) => !n.startsWith('pavilion_'))).toEqual([]);
    expect(await globalRegister.metrics()).not.toContain('pavilion_');
    // A second instance registers the same names without clashing.
    expect(() => createMetrics({ defaultMetrics: false })).not.toThrow();
  });

  it('counts requests and fills duration buckets per route template and method', async () => {
    const m = createMetrics({ routes: ROUTES, defaultMetrics: false });
    m.observeRequest('/v1/verifications', 'POST', 200, 0.003);
    m.observeRequest('/v1/verifications', 'post', 200, 0.0007);
    m.observeRequest('/v1/verifications', 'POST', 429, 0.0001);
    m.observeRequest('/v1/datasets/:id', 'GET', 404, 3);
    const body = await scrape(m);
    expect(value(body, 'pavilion_http_requests_total', '{route="/v1/verifications",method="POST",status="200"}')).toBe(
      2,
    );
    expect(value(body, 'pavilion_http_requests_total', '{route="/v1/verifications",method="POST",status="429"}')).toBe(
      1,
    );
    expect(value(body, 'pavilion_http_requests_total', '{route="/v1/datasets/:id",method="GET",status="404"}')).toBe(1);

    const buckets = samples(body, 'pavilion_http_request_duration_seconds_bucket').filter(([l]) =>
      l.includes('route="/v1/verifications"'),
    );
    expect(buckets).toHaveLength(REQUEST_DURATION_BUCKETS.length + 1); // + le="+Inf"
    expect(REQUEST_DURATION_BUCKETS[0]).toBe(0.0005);
    expect(REQUEST_DURATION_BUCKETS.at(-1)).toBe(2);
    const le = (b: string) => buckets.find(([l]) => l.startsWith(`{le="${b}"`))?.[1];
    expect([le('0.0005'), le('0.001'), le('0.0025'), le('0.005'), le('2'), le('+Inf')]).toEqual([1, 2, 2, 3, 3, 3]);
    expect(
      value(body, 'pavilion_http_request_duration_seconds_count', '{route="/v1/verifications",method="POST"}'),
    ).toBe(3);
    expect(
      value(body, 'pavilion_http_request_duration_seconds_sum', '{route="/v1/verifications",method="POST"}'),
    ).toBeCloseTo(0.0038, 9);
    // 3 s is past the last finite bucket: only +Inf holds it.
    const slow = samples(body, 'pavilion_http_request_duration_seconds_bucket').filter(([l]) =>
      l.includes('route="/v1/datasets/:id"'),
    );
    expect(slow.find(([l]) => l.startsWith('{le="2"'))?.[1]).toBe(0);
    expect(slow.find(([l]) => l.startsWith('{le="+Inf"'))?.[1]).toBe(1);
  });

  it('maps unknown routes, methods and statuses to fixed values, so raw paths cannot add series', async () => {
    const m = createMetrics({ routes: ROUTES, defaultMetrics: false });
    for (let i = 0; i < 500; i++) m.observeRequest(`/v1/datasets/ds-${i}`, 'GET', 200, 0.001);
    m.observeRequest('/v1/verifications', 'BREW', 200, 0.001);
    m.observeRequest('/v1/verifications', 'POST', 42, 0.001);
    m.observeRequest(undefined as unknown as string, 'GET', 200, 0.001);
    m.observeRequest('/v1/verifications', 'POST', 200, Number.NaN); // dropped, not thrown
    m.observeRequest('/v1/verifications', 'POST', 200, -1);
    const body = await scrape(m);
    const series = samples(body, 'pavilion_http_requests_total');
    expect(series).toEqual([
      ['{route="other",method="GET",status="200"}', 501],
      ['{route="/v1/verifications",method="OTHER",status="200"}', 1],
      ['{route="/v1/verifications",method="POST",status="other"}', 1],
    ]);
    expect(body).not.toContain('ds-1');
    // Routes registered later are accepted from then on.
    m.registerRoutes('/v1/batches/:id');
    m.observeRequest('/v1/batches/:id', 'GET', 200, 0.001);
    expect(
      value(await scrape(m), 'pavilion_http_requests_total', '{route="/v1/batches/:id",method="GET",status="200"}'),
    ).toBe(1);
    expect(() => m.registerRoutes('v1/no-slash')).toThrow(PavilionError);
  });

  it('bounds free-form task labels', async () => {
    const m = createMetrics({ defaultMetrics: false, maxTasks: 3 });
    for (const t of ['search', 'batch', 'encode', 'x1', 'x2']) m.observePoolTask(t, 0.002);
    m.observePoolTask('search', 0.0001);
    const counts = samples(await scrape(m), 'pavilion_pool_task_duration_seconds_count');
    expect(counts).toEqual([
      ['{task="search"}', 2],
      ['{task="batch"}', 1],
      ['{task="encode"}', 1],
      ['{task="other"}', 2],
    ]);
  });

  it('calls collectors on every scrape and exports what they return', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let depth = 4;
    let calls = 0;
    m.setCollector('pool_queue_depth', () => {
      calls++;
      return depth;
    });
    m.setCollector('audit_tree_size', async () => 2n ** 40n + 1n);
    m.setCollector('anchor_lag_entries', () => 17);
    m.setCollector('anchor_last_final_size', () => 1000);
    let body = await scrape(m);
    expect(calls).toBe(1);
    expect(value(body, 'pavilion_pool_queue_depth')).toBe(4);
    expect(value(body, 'pavilion_audit_tree_size')).toBe(2 ** 40 + 1);
    expect(value(body, 'pavilion_anchor_lag_entries')).toBe(17);
    expect(value(body, 'pavilion_anchor_last_final_size')).toBe(1000);
    depth = 9;
    body = await scrape(m);
    expect(calls).toBe(2);
    expect(value(body, 'pavilion_pool_queue_depth')).toBe(9);
    // Without a collector the owner may push the value instead.
    m.setCollector('pool_queue_depth', undefined);
    m.setGauge('pool_queue_depth', 3);
    expect(value(await scrape(m), 'pavilion_pool_queue_depth')).toBe(3);
    expect(calls).toBe(2);
    expect(() => m.setGauge('nope' as 'pool_queue_depth', 1)).toThrow(PavilionError);
    expect(() => m.setGauge('pool_queue_depth', Number.NaN)).toThrow(PavilionError);
    expect(() => m.setCollector('nope' as 'cache', () => ({ hits: 0, misses: 0, redisUp: false }))).toThrow(
      PavilionError,
    );
  });

  it('survives collectors that throw, hang or return garbage, and counts them', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setCollector('anchor_lag_entries', () => 5);
    await scrape(m);
    m.setCollector('anchor_lag_entries', () => {
      throw new Error('rpc down');
    });
    m.setCollector('pool_queue_depth', () => Number.NaN);
    m.setCollector('audit_tree_size', () => new Promise<number>(() => {})); // never settles
    m.setCollector('dataset_records', () => ({ a: 'many' as unknown as number }));
    const t = performance.now();
    const body = await scrape(m);
    expect(performance.now() - t).toBeLessThan(3000); // the hung one timed out after ~1 s
    expect(value(body, 'pavilion_anchor_lag_entries')).toBe(5); // last good value kept
    for (const c of ['anchor_lag_entries', 'pool_queue_depth', 'audit_tree_size', 'dataset_records']) {
      expect(value(body, 'pavilion_metrics_collector_errors_total', `{collector="${c}"}`), c).toBe(1);
    }
    expect(body).not.toContain('rpc down');
  });

  it('exports the records of all loaded datasets summed and their count, never a series per dataset', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let datasets: Map<string, number> | Record<string, number> = new Map([
      ['dmv', 1_000_000],
      ['bar', 250],
    ]);
    m.setCollector('dataset_records', () => datasets);
    let body = await scrape(m);
    expect(samples(body, 'pavilion_dataset_records')).toEqual([['', 1_000_250]]);
    expect(samples(body, 'pavilion_datasets_active')).toEqual([['', 2]]);
    datasets = { dmv: 1_000_001, late1: 5, late2: 6 };
    body = await scrape(m);
    expect(samples(body, 'pavilion_dataset_records')).toEqual([['', 1_000_012]]);
    expect(samples(body, 'pavilion_datasets_active')).toEqual([['', 3]]);
    expect(body).not.toMatch(/dmv|late1|bar|dataset="/);
  });

  it("counts the cache's lookups by result and reports Redis health from its stats", async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setCollector('cache', () => ({ hits: 10, misses: 7, degradedMisses: 2, redisUp: false, redisConfigured: true }));
    let body = await scrape(m);
    expect(samples(body, 'pavilion_cache_requests_total')).toEqual([
      ['{result="hit"}', 10],
      ['{result="miss"}', 5],
      ['{result="error"}', 2],
    ]);
    expect(value(body, 'pavilion_cache_redis_up')).toBe(0);
    // Wired to a real (LRU-only) cache: no Redis → no redis_up metric, rather than a false "down".
    const cache = await createCache<{ ok: boolean }>();
    m.setCollector('cache', () => cache.stats());
    await cache.get('pv:x:1:a');
    await cache.set('pv:x:1:a', { ok: true }, 60);
    await cache.get('pv:x:1:a');
    await cache.get('pv:x:1:a');
    body = await scrape(m);
    expect(samples(body, 'pavilion_cache_requests_total')).toEqual([
      ['{result="hit"}', 2],
      ['{result="miss"}', 1],
      ['{result="error"}', 0],
    ]);
    expect(samples(body, 'pavilion_cache_redis_up')).toEqual([]);
    expect(body).not.toContain('pavilion_cache_redis_up');
    await cache.close();
    // And back when a Redis-backed cache reports in.
    m.setCollector('cache', () => ({ hits: 0, misses: 0, redisUp: true, redisConfigured: true }));
    expect(value(await scrape(m), 'pavilion_cache_redis_up')).toBe(1);
  });

  it('accumulates Dice comparisons and audit append durations', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.addDiceComparisons(16 * 250_000);
    m.addDiceComparisons(1_000_000);
    m.addDiceComparisons(-5);
    m.addDiceComparisons(Number.POSITIVE_INFINITY);
    m.observeAuditAppend(0.004);
    m.observeAuditAppend(0.0004);
    const body = await scrape(m);
    expect(value(body, 'pavilion_dice_comparisons_total')).toBe(5_000_000);
    expect(value(body, 'pavilion_audit_append_duration_seconds_count')).toBe(2);
    expect(value(body, 'pavilion_audit_append_duration_seconds_bucket', '{le="0.0005"}')).toBe(1);
    expect(value(body, 'pavilion_audit_append_duration_seconds_bucket', '{le="0.005"}')).toBe(2);
  });

  it('keeps observeRequest cheap', () => {
    const m = createMetrics({ routes: ROUTES, defaultMetrics: false });
    const n = 200_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) m.observeRequest('/v1/verifications', 'POST', 200, 0.001 + (i % 7) * 0.001);
    const us = ((performance.now() - t) * 1000) / n;
    console.log(`observeRequest: ${us.toFixed(3)} µs`);
    expect(us).toBeLessThan(20);
  });
});
