/** Verification result cache: keyed-hash keys, in-process LRU, optional Redis. */
export { cacheKey, datasetKeyPrefix, CACHE_KEY_NAMESPACE, type CacheKeyParts } from './cache-key.js';
export {
  createCache,
  type CacheStats,
  type CreateCacheOptions,
  type InvalidationResult,
  type VerificationCache,
} from './verification-cache.js';
