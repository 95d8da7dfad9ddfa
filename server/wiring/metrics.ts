/**
 * Connects the broker's parts to metrics/: scrape-time collectors for state
 * the parts already keep (cache counters, audit tree size, dataset sizes,
 * engine calls in flight), so the request path pays only for the per-request
 * histogram observation.
 */

import type { CacheStats } from '../../cache/verification-cache.js';
import { withDeadline } from '../../common/deadline.js';
import { createMetrics, type Metrics } from '../../metrics/index.js';

export interface MetricSources {
  cacheStats(): CacheStats;
  datasetSizes(): { id: string; size: number }[];
  auditSize(): Promise<number>;
  auditCacheBytes(): number;
  /** Engine calls the server has issued and not yet seen finish (the pool's queue as the server sees it). */
  enginePending(): number;
  poolThreads(): number;
  /** A trivial query (select 1): pavilion_database_up, which the Postgres-down alert reads. */
  databasePing(): Promise<unknown>;
  /** The newest signed audit checkpoint: size and signing time (checkpoint-stall alert). */
  latestCheckpoint(): Promise<{ size: number; createdAt: Date } | undefined>;
  /** Age of the oldest acknowledged append no checkpoint covers (AuditLog.checkpointLagSeconds). */
  checkpointLag(): number;
}

/** Under the scrape-time collector limit (1 s), so a hung database reads as 0 instead of keeping its last 1. */
const DATABASE_PING_MS = 800;

export function createBrokerMetrics(sources: MetricSources): Metrics {
  const metrics = createMetrics();
  metrics.setCollector('cache', () => sources.cacheStats());
  metrics.setCollector('audit_tree_size', () => sources.auditSize());
  metrics.setCollector('audit_cache_bytes', () => sources.auditCacheBytes());
  metrics.setCollector('dataset_records', () => sources.datasetSizes().map((d) => [d.id, d.size] as const));
  metrics.setCollector('pool_queue_depth', () => sources.enginePending());
  metrics.setCollector('pool_threads', () => sources.poolThreads());
  metrics.setCollector('database_up', () =>
    withDeadline(sources.databasePing(), DATABASE_PING_MS, () => new Error('database ping timed out')).then(
      () => 1,
      () => 0,
    ),
  );
  // One query serves both checkpoint gauges in a scrape.
  let checkpoint: ReturnType<MetricSources['latestCheckpoint']> | undefined;
  const latest = () =>
    (checkpoint ??= sources.latestCheckpoint().finally(() => setTimeout(() => (checkpoint = undefined), 100)));
  // From memory: answers during an outage too, which is when it grows.
  metrics.setCollector('audit_checkpoint_lag_seconds', () => sources.checkpointLag());
  metrics.setCollector('audit_checkpoint_size', async () => (await latest())?.size ?? 0);
  metrics.setCollector('audit_checkpoint_timestamp_seconds', async () => {
    const cp = await latest();
    return cp ? cp.createdAt.getTime() / 1000 : 0;
  });
  return metrics;
}
