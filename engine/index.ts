/**
 * Public surface of the matching engine, used by server/ and cli/.
 */

export type { DiceKernelKind } from '../wasm/dice.js';
export { type BlockRuns, parseRecordBlocks, type RecordBlocks } from './blocking/blocks.js';
export {
  type LambdaFoldConfig,
  lshConfig,
  lshPositions,
  type PSigConfig,
  parseLambdaFold,
  parsePSig,
} from './blocking/config.js';
export { metaphone, psigCandidateBlocks, recordsToBlocks } from './blocking/psig.js';
export type { DatasetInfo, DatasetInput } from './dataset.js';
export {
  createEngine,
  type DatasetLoad,
  type EncodeOptions,
  type Engine,
  type EngineOptions,
  type LinkOptions,
  type LinkPair,
  type LinkResult,
  MAX_LINK_PAIRS,
  type MatchCandidate,
  type MatchResult,
} from './engine.js';
export {
  CandidatePairs,
  type ChunkSelector,
  mergeCandidatePairs,
  type PartyBlocking,
  type PartyLinkOptions,
  type PartyLinkResult,
  type PartyPair,
  type PartySource,
} from './linkage/link-parties.js';
export {
  estimateThresholds,
  linksAndStrangers,
  sampleIndices,
  type ThresholdGuidance,
  type ThresholdPoint,
  thresholdGuidance,
} from './linkage/threshold-guidance.js';
export { PackedRefs, PackedRefsBuilder, type RefList } from './refs.js';
export { greedySolve, type ScoredPair } from './solvers/greedy.js';
export { canonicalGroups, multipartyGreedySolve, type PartyRecord } from './solvers/multiparty-greedy.js';
export { DEFAULT_MATCH_TOP_K, decodeClkBase64, MAX_FILTER_BITS, MAX_TOP_K, validateFilterBits } from './validation.js';
