/** Prometheus metrics for the broker: one registry, bounded labels, scrape-time collectors. */
export {
  createMetrics,
  METRIC_PREFIX,
  OTHER_LABEL,
  REQUEST_DURATION_BUCKETS,
  POOL_TASK_DURATION_BUCKETS,
  AUDIT_APPEND_DURATION_BUCKETS,
  type CacheCounters,
  type CollectorName,
  type CollectorSources,
  type CreateMetricsOptions,
  type DatasetRecords,
  type Metrics,
  type SettableGauge,
} from './metrics.js';
