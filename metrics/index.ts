/** Prometheus metrics for the broker: one registry, bounded labels, scrape-time collectors. */
export {
  AUDIT_APPEND_DURATION_BUCKETS,
  type CacheCounters,
  type CollectorName,
  type CollectorSources,
  type CreateMetricsOptions,
  createMetrics,
  type DatasetRecords,
  METRIC_PREFIX,
  type Metrics,
  OTHER_LABEL,
  POOL_TASK_DURATION_BUCKETS,
  REQUEST_DURATION_BUCKETS,
  type SettableGauge,
  VERIFICATION_DURATION_BUCKETS,
} from './metrics.js';
