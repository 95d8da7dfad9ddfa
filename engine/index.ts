/**
 * Public surface of the matching engine, used by server/ and cli/.
 */
export {
  createEngine,
  MAX_LINK_PAIRS,
  type Engine,
  type EngineOptions,
  type LinkOptions,
  type LinkPair,
  type LinkResult,
  type MatchCandidate,
  type MatchResult,
} from './engine.js';
export type { DatasetInfo, DatasetInput } from './dataset.js';
export { decodeClkBase64, DEFAULT_MATCH_TOP_K, MAX_FILTER_BITS, MAX_TOP_K, validateFilterBits } from './validation.js';
export type { DiceKernelKind } from '../wasm/dice.js';
