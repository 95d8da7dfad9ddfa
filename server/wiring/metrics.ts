/**
 * Connects the broker's parts to metrics/: scrape-time collectors for state
 * the parts already keep (cache counters, audit tree size, dataset sizes,
 * engine calls in flight), so the request path pays only for the per-request
 * histogram observation.
 */

import type { CacheStats } from '../../cache/verification-cache.js';
import { createMetrics, type Metrics } from '../../metrics/index.js';

export interface MetricSources {
  cacheStats(): CacheStats;
  datasetSizes(): { id: string; size: number }[];
  auditSize(): Promise<number>;
  auditCacheBytes(): number;
  /** Engine calls the server has issued and not yet seen finish (the pool's queue as the server sees it). */
  enginePending(): number;
}

export function createBrokerMetrics(sources: MetricSources): Metrics {
  const metrics = createMetrics();
  metrics.setCollector('cache', () => sources.cacheStats());
  metrics.setCollector('audit_tree_size', () => sources.auditSize());
  metrics.setCollector('audit_cache_bytes', () => sources.auditCacheBytes());
  metrics.setCollector('dataset_records', () => sources.datasetSizes().map((d) => [d.id, d.size] as const));
  metrics.setCollector('pool_queue_depth', () => sources.enginePending());
  return metrics;
}
