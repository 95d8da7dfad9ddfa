/**
 * Public surface of the matching engine, used by server/ and cli/.
 */

export type { DiceKernelKind } from '../wasm/dice.js';
export type { DatasetInfo, DatasetInput } from './dataset.js';
export {
  createEngine,
  type DatasetLoad,
  type Engine,
  type EngineOptions,
  type LinkOptions,
  type LinkPair,
  type LinkResult,
  MAX_LINK_PAIRS,
  type MatchCandidate,
  type MatchResult,
} from './engine.js';
export { PackedRefs, PackedRefsBuilder, type RefList } from './refs.js';
export { DEFAULT_MATCH_TOP_K, decodeClkBase64, MAX_FILTER_BITS, MAX_TOP_K, validateFilterBits } from './validation.js';
