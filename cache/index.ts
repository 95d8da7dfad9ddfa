/** Verification result cache: keyed-hash keys, in-process LRU, optional Redis. */
export { CACHE_KEY_NAMESPACE, type CacheKeyParts, cacheKey, datasetKeyPrefix } from './cache-key.js';
export {
  type CacheStats,
  type CreateCacheOptions,
  createCache,
  type InvalidationResult,
  type VerificationCache,
} from './verification-cache.js';
