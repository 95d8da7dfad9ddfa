/**
 * Everything a route needs, assembled once by app.ts. Routes depend on these
 * shapes, not on how app.ts built them.
 */
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { CacheStats, VerificationCache } from '../cache/verification-cache.js';
import type { Engine } from '../engine/index.js';
import type { Principal, Verifier } from '../identity/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Policy } from '../policy/index.js';
import type { BrokerConfig } from './config.js';
import type { ActiveDatasets } from './datasets/active-datasets.js';
import type { DatasetStore } from './datasets/store.js';
import type { JobStore } from './linkage/store.js';
import type { PartyRegistry } from './parties/registry.js';
import type { MasterKeys } from './support/master-keys.js';
import type { DecisionOutcome } from './verification/decision.js';
import type { AnchoringHandle } from './wiring/anchoring.js';

/** What the cache stores for a verification: the match outcome, not the per-caller claim release. */
export type CachedOutcome = DecisionOutcome;

export interface BrokerContext {
  config: BrokerConfig;
  log: Logger;
  engine: Engine;
  audit: AuditLog;
  cache: VerificationCache<CachedOutcome>;
  cacheStats(): CacheStats;
  policy: Policy;
  verifier: Verifier;
  datasets: DatasetStore;
  jobs: JobStore;
  parties: PartyRegistry;
  active: ActiveDatasets;
  keys: MasterKeys;
  metrics: Metrics;
  /** Present when ANCHORING is not `off`. */
  anchoring?: AnchoringHandle;
  /** Public JWKS when the broker is its own development issuer. */
  localJwks?: object;
  /** Runs an engine call, timing it as a pool task and counting it in flight. */
  engineCall<T>(task: 'match' | 'encode' | 'link', fn: () => Promise<T>): Promise<T>;
  /** A caller's subject or tenant as audit events name it (see auditIdentifier in verification.ts). */
  auditId(subjectOrTenant: string): string;
  /** Appends an audit event and times it (the answer waits for durability). */
  appendAudit(event: object): Promise<{ index: number; leafHash: Uint8Array }>;
  /** Readiness probes of dependencies. */
  ready(): Promise<{ ok: boolean; checks: Record<string, boolean> }>;
}

export type { Principal };
