/**
 * The engine calls the request path makes (match, encode, link), timed as pool tasks for
 * `pavilion_pool_task_seconds` and counted while in flight for `pavilion_pool_queue_depth`, so the
 * metrics see the pool's queue as the server experiences it. Loading and dropping dataset versions go
 * to the engine directly (server/datasets/active-datasets.ts).
 */
import type {
  EncodeOptions,
  Engine,
  LinkOptions,
  LinkResult,
  MatchResult,
  PartyLinkOptions,
  PartyLinkResult,
  PartySource,
} from '../../engine/index.js';

export type PoolTask = 'match' | 'encode' | 'link';

export class MeteredEngine {
  /** Calls issued and not yet finished. */
  pending = 0;

  constructor(
    readonly engine: Engine,
    private readonly observe: (task: PoolTask, seconds: number) => void,
  ) {}

  match(engineId: string, clk: Uint8Array, opts: { threshold: number; topK?: number }): Promise<MatchResult> {
    return this.timed('match', () => this.engine.match(engineId, clk, opts));
  }

  encode(schema: unknown, secret: string, rows: string[][], opts?: EncodeOptions): Promise<Uint8Array> {
    return this.timed('encode', () => this.engine.encode(schema, secret, rows, opts));
  }

  link(engineId: string, queries: Uint8Array, opts: LinkOptions): Promise<LinkResult> {
    return this.timed('link', () => this.engine.link(engineId, queries, opts));
  }

  /** A chunk of a chunked linkage job (server/linkage/chunked-jobs.ts). */
  linkParties(
    parties: readonly (Uint8Array | PartySource)[],
    opts: Omit<PartyLinkOptions, 'maxPairs'>,
  ): Promise<PartyLinkResult> {
    return this.timed('link', () => this.engine.linkParties(parties, opts));
  }

  datasetParty(engineId: string): PartySource {
    return this.engine.datasetParty(engineId);
  }

  datasetFilters(engineId: string, rows: readonly number[]): Promise<Uint8Array> {
    return this.engine.datasetFilters(engineId, rows);
  }

  private async timed<T>(task: PoolTask, fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.pending--;
      this.observe(task, (performance.now() - started) / 1000);
    }
  }
}
