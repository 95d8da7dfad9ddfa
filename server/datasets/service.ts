/**
 * Dataset lifecycle shared by the routes, the startup reload and the demo: define a dataset, publish a
 * version (persist, load, commit, swap, invalidate the cache, audit) at once or staged for a later
 * activation, check an upload without storing it (dry run), activate a staged version, roll back to
 * the previous one, register the linkage secret, delete, and follow what other broker processes
 * commit. Changes are serialised per dataset so versions swap in order, and the version that answers
 * is always the one the database committed. docs/data-providers.md is the provider's view of it.
 */
import type { Logger } from 'pino';
import type { VerificationCache } from '../../cache/verification-cache.js';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import { type Heartbeat, STALE_AFTER_MS, startHeartbeat } from '../../common/heartbeat.js';
import { parseSchema } from '../../engine/clk/schema.js';
import { validateFilterBits } from '../../engine/index.js';
import type { Principal } from '../../identity/index.js';
import type { ReloadingPolicy } from '../../policy/index.js';
import type { DatasetDefinition } from '../http/schemas.js';
import {
  datasetActivatedEvent,
  datasetDefinedEvent,
  datasetDeletedEvent,
  datasetSecretSetEvent,
  datasetVersionDiscardedEvent,
  datasetVersionEvent,
} from '../support/audit-events.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { ActiveDatasets, VersionSource } from './active-datasets.js';
import { claimDefinition } from './claim-types.js';
import type { LinkageSecrets } from './linkage-secrets.js';
import {
  CHUNK_ROWS,
  type Claims,
  type DatasetRecord,
  type DatasetStore,
  type VersionRecord,
  type VersionRows,
  type VersionStatus,
} from './store.js';
import { BinaryParser, JsonlParser, RowCollector, type UploadParser, type VersionSummary } from './upload.js';

export type UploadFormat = 'jsonl' | 'binary';

export function uploadFormat(contentType: string): UploadFormat {
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  if (t === 'application/x-ndjson' || t === 'application/jsonl' || t === 'application/json-lines') return 'jsonl';
  if (t === 'application/vnd.pavilion.dataset' || t === 'application/octet-stream') return 'binary';
  throw new PavilionError(
    'UNSUPPORTED_MEDIA_TYPE',
    'upload as application/x-ndjson (JSONL) or application/vnd.pavilion.dataset (binary)',
  );
}

/** The filter length a clkhash v3 schema produces (clkConfig.l), after full schema validation. */
export function schemaFilterBits(schema: unknown): number {
  const parsed = parseSchema(schema);
  try {
    return validateFilterBits(parsed.l);
  } catch (err) {
    throw new PavilionError(
      'SCHEMA_INVALID',
      '$.clkConfig.l must be a positive multiple of 64 (the broker compares 64-bit words)',
      { cause: err },
    );
  }
}

export interface DatasetServiceDeps {
  store: DatasetStore;
  active: ActiveDatasets;
  /** Answers cached for a dataset are dropped when it changes (cache/verification-cache.ts). */
  cache: Pick<VerificationCache<object>, 'invalidateDataset'>;
  secrets: LinkageSecrets;
  trail: AuditTrail;
  /** Definitions the policy would never serve are refused (422 DATASET_POLICY_MISMATCH, policy/). */
  policy: Pick<ReloadingPolicy, 'assertDatasetAllowed'>;
  log: Logger;
}

type Rows = { refs: string[]; clks: Uint8Array; claims: Claims[] };

/** How a version is published (POST /v1/datasets/{id}/versions query, or a pull's request). */
export interface PublishOptions {
  /** false: stored and checked, not served until activated (default true: served at once). */
  activate?: boolean;
  /** Parsed and checked only; nothing is stored (default false). */
  dryRun?: boolean;
  /** The fingerprint of the secret the CLKs were encoded with, as the provider declares it. */
  secretFingerprint?: string;
}

export interface Published {
  dataset: string;
  /** null for a dry run. */
  version: number | null;
  status: 'active' | 'staged' | 'dry_run';
  rows: number;
  filterBits: number;
  /** The version serving before (and still serving, unless this one is active now). */
  activeVersion: number | null;
  activeRows: number;
  secretFingerprint: string | null;
  summary: VersionSummary;
}

export interface Activated {
  dataset: string;
  version: number;
  /** The version that served before (null: none). */
  previousVersion: number | null;
  rows: number;
  /** false when the version was already the active one. */
  changed: boolean;
}

/** Whether the caller manages the dataset, and so is told whose it is (routes/datasets.ts): its owner, or an admin. */
export function mayManage(principal: Principal, record: DatasetRecord): boolean {
  return principal.roles.has('admin') || record.owner === principal.subject;
}

export class DatasetService {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly store: DatasetStore;
  private readonly active: ActiveDatasets;
  /** Versions this process is writing (`loading`), beating while it does. */
  private readonly writing = new Map<string, { dataset: string; version: number }>();
  private heartbeat: Heartbeat | undefined;

  constructor(private readonly d: DatasetServiceDeps) {
    this.store = d.store;
    this.active = d.active;
  }

  /**
   * Beats for the versions this process is writing and fails those of processes that stopped
   * (common/heartbeat.ts): a version is never `loading` forever, whichever broker died.
   */
  startHeartbeat(): void {
    const { store, log } = this.d;
    this.heartbeat ??= startHeartbeat({
      runningIds: () => [...this.writing.keys()],
      beat: (ids) => store.heartbeatVersions(ids.map((k) => this.writing.get(k)).filter((v) => v !== undefined)),
      sweep: async () => {
        for (const f of await store.failStaleLoading(STALE_AFTER_MS))
          log.warn(f, 'an upload a stopped broker process left was marked failed (UPLOAD_INTERRUPTED)');
      },
      onError: (err) => log.warn({ err }, 'dataset upload heartbeat failed'),
    });
  }

  close(): void {
    this.heartbeat?.stop();
  }

  /** Runs `fn` after every earlier change of the same dataset. */
  private serialised<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return run;
  }

  async define(
    principal: Principal,
    id: string,
    input: DatasetDefinition,
  ): Promise<{ created: boolean; record: DatasetRecord }> {
    const filterBits = schemaFilterBits(input.schema);
    const claims = claimDefinition(input.claims);
    this.d.policy.assertDatasetAllowed({ claims: claims.names, purposes: input.purposes ?? null });
    // A deleted dataset's id stays its owner's: re-defining it revives it, versions continuing.
    const existing = await this.store.get(id, { includeDeleted: true });
    if (existing) this.assertOwner(principal, existing);
    const result = await this.store.upsert({
      id,
      owner: existing?.owner ?? principal.subject,
      schema: input.schema,
      claims: claims.names,
      claimTypes: claims.types,
      filterBits,
      allowBrokerEncoding: input.allow_broker_encoding ?? false,
      purposes: input.purposes ?? null,
    });
    this.active.setDefinition(result.record);
    const { trail } = this.d;
    await trail.record(
      datasetDefinedEvent({
        dataset: id,
        created: result.created,
        filterBits,
        claims: result.record.claims,
        allowBrokerEncoding: result.record.allowBrokerEncoding,
        actor: trail.party(principal.subject),
      }),
    );
    return result;
  }

  assertOwner(principal: Principal, record: DatasetRecord): void {
    if (!mayManage(principal, record))
      throw new PavilionError('DATASET_NOT_OWNER', 'the dataset belongs to another data provider');
  }

  async get(id: string): Promise<DatasetRecord> {
    const record = await this.store.get(id);
    if (!record) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
    return record;
  }

  /** Every version of a dataset, newest first (its owner, admin). */
  async versions(principal: Principal, id: string): Promise<{ record: DatasetRecord; versions: VersionRecord[] }> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    return { record, versions: await this.store.versions(id) };
  }

  /**
   * Publishes a version from a streamed upload body: served at once (the default), or `staged`
   * (stored and checked, served once activated), or only checked (`dryRun`: nothing is stored).
   */
  async publishStream(
    principal: Principal,
    id: string,
    format: UploadFormat,
    body: AsyncIterable<Buffer>,
    opts: PublishOptions = {},
  ): Promise<Published> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    if (opts.dryRun) {
      const rows = new RowCollector(record.filterBits, record.claimTypes, CHUNK_ROWS);
      const parser: UploadParser = format === 'jsonl' ? new JsonlParser(rows) : new BinaryParser(rows);
      for await (const piece of body) {
        parser.push(piece);
        rows.takeChunk(); // nothing is stored: let the chunk bookkeeping go
      }
      parser.end();
      if (rows.count === 0) throw new PavilionError('DATASET_EMPTY', 'the upload holds no records');
      return this.published(record, null, 'dry_run', rows.summary(), opts);
    }
    return this.serialised(id, async () => {
      // Read again in the queue: a definition may have changed while an earlier change ran.
      const current = await this.get(id);
      const rows = new RowCollector(current.filterBits, current.claimTypes, CHUNK_ROWS);
      const parser: UploadParser = format === 'jsonl' ? new JsonlParser(rows) : new BinaryParser(rows);
      const version = await this.store.beginVersion(
        id,
        current.filterBits,
        principal.subject,
        opts.secretFingerprint ?? null,
      );
      const key = `${id}@${version}`;
      this.writing.set(key, { dataset: id, version });
      let chunkNo = 0;
      try {
        for await (const piece of body) {
          parser.push(piece);
          // JSONL rows are final as parsed: persist full chunks while the
          // upload continues. Binary claims arrive after all rows, so binary
          // chunks are written at the end.
          if (format === 'jsonl') {
            for (let c = rows.takeChunk(); c; c = rows.takeChunk())
              await this.store.writeChunk(id, version, chunkNo++, c);
          }
        }
        parser.end();
        if (rows.count === 0) throw new PavilionError('DATASET_EMPTY', 'the upload holds no records');
        if (format === 'binary') {
          // takeChunk slices from the collector's row arrays, which now hold the claims too.
          for (let c = rows.takeChunk(); c; c = rows.takeChunk())
            await this.store.writeChunk(id, version, chunkNo++, c);
        }
        const last = rows.takeChunk(true);
        if (last) await this.store.writeChunk(id, version, chunkNo++, last);
        const summary = rows.summary();
        if (opts.activate === false) {
          await this.store.stageVersion(id, version, summary);
          await this.recordVersion(principal.subject, current, version, rows.count, 'staged');
          return this.published(current, version, 'staged', summary, opts);
        }
        const data = { refs: rows.refs, clks: rows.allClksConcatenated(), claims: rows.claims };
        await this.activateRows(principal.subject, current, version, data, { from: ['loading'], summary });
        await this.recordVersion(principal.subject, current, version, rows.count, 'active');
        return this.published(current, version, 'active', summary, opts);
      } catch (err) {
        await this.store.failVersion(id, version, isPavilionError(err) ? err.code : 'INTERNAL').catch(() => {});
        throw err;
      } finally {
        this.writing.delete(key);
      }
    });
  }

  private published(
    before: DatasetRecord,
    version: number | null,
    status: Published['status'],
    summary: VersionSummary,
    opts: PublishOptions,
  ): Published {
    return {
      dataset: before.id,
      version,
      status,
      rows: summary.rows,
      filterBits: before.filterBits,
      activeVersion: before.activeVersion,
      activeRows: before.rowCount,
      secretFingerprint: opts.secretFingerprint ?? null,
      summary,
    };
  }

  /** Publishes a version from rows already in memory (demo, benchmarks), served at once. */
  async publishRows(
    actor: string,
    id: string,
    data: Rows,
    opts: { secretFingerprint?: string } = {},
  ): Promise<{ version: number; rows: number }> {
    const record = await this.get(id);
    return this.serialised(id, async () => {
      const version = await this.store.beginVersion(id, record.filterBits, actor, opts.secretFingerprint ?? null);
      const bytes = record.filterBits / 8;
      try {
        if (data.clks.length !== data.refs.length * bytes)
          throw new PavilionError('CLK_LENGTH_MISMATCH', 'CLK bytes do not match the number of refs');
        // The same checks as an upload (claim types, unique refs), before anything is written.
        const rows = new RowCollector(record.filterBits, record.claimTypes, CHUNK_ROWS);
        for (let i = 0; i < data.refs.length; i++)
          rows.add(`record ${i}`, data.refs[i], data.clks.subarray(i * bytes, (i + 1) * bytes), data.claims[i]);
        for (let start = 0, n = 0; start < data.refs.length; start += CHUNK_ROWS, n++) {
          const end = Math.min(data.refs.length, start + CHUNK_ROWS);
          const chunk: VersionRows = {
            refs: data.refs.slice(start, end),
            claims: data.claims.slice(start, end),
            clks: data.clks.subarray(start * bytes, end * bytes),
          };
          await this.store.writeChunk(id, version, n, chunk);
        }
        await this.activateRows(actor, record, version, data, { from: ['loading'], summary: rows.summary() });
        await this.recordVersion(actor, record, version, data.refs.length, 'active');
        return { version, rows: data.refs.length };
      } catch (err) {
        await this.store.failVersion(id, version, isPavilionError(err) ? err.code : 'INTERNAL').catch(() => {});
        throw err;
      }
    });
  }

  /**
   * Activates a staged version, or the previous one (`rollback`), whose rows the database kept: they
   * are read back, loaded, committed as active and only then served, as an upload is.
   */
  async activate(principal: Principal, id: string, version: number, rollback = false): Promise<Activated> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    return this.serialised(id, async () => {
      const current = await this.get(id);
      const v = await this.store.version(id, version);
      if (!v) throw new PavilionError('VERSION_NOT_FOUND', `the dataset has no version ${version}`);
      if (v.status === 'active')
        return { dataset: id, version, previousVersion: version, rows: v.rows, changed: false };
      const from: VersionStatus[] = ['staged', 'superseded'];
      if (!from.includes(v.status)) await this.store.activateVersion(id, version, { from }); // throws, naming the state
      if (v.filterBits !== current.filterBits)
        throw new PavilionError(
          'DATASET_SCHEMA_CONFLICT',
          `version ${version} holds ${v.filterBits}-bit CLKs, the dataset's schema ${current.filterBits}-bit ones`,
        );
      const { previous } = await this.activateRows(
        principal.subject,
        current,
        version,
        this.reader(id, version, current.filterBits),
        {
          from,
          expectRows: v.rows,
        },
      );
      const { trail } = this.d;
      await trail.record(
        datasetActivatedEvent({
          dataset: id,
          version,
          previousVersion: previous,
          rollback,
          rows: v.rows,
          actor: trail.party(principal.subject),
        }),
      );
      return { dataset: id, version, previousVersion: previous, rows: v.rows, changed: true };
    });
  }

  /** Activates the previous version again (the one the active version replaced, rows kept). */
  async rollback(principal: Principal, id: string): Promise<Activated> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    const previous = (await this.store.versions(id)).find((v) => v.status === 'superseded');
    if (!previous)
      throw new PavilionError(
        'VERSION_ROLLBACK_UNAVAILABLE',
        'no previous version is kept: none was replaced yet, or it was discarded',
      );
    return this.activate(principal, id, previous.version, true);
  }

  /** Discards a staged version or the previous one: its rows go; it can never be activated. */
  async discard(principal: Principal, id: string, version: number): Promise<VersionRecord> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    return this.serialised(id, async () => {
      const discarded = await this.store.discardVersion(id, version);
      const { trail } = this.d;
      await trail.record(datasetVersionDiscardedEvent({ dataset: id, version, actor: trail.party(principal.subject) }));
      return discarded;
    });
  }

  /**
   * Loads the version into the engine, commits it as active in the database, and only then lets it
   * answer: a failed commit leaves the previous version serving, in memory as in the database.
   */
  private async activateRows(
    actor: string,
    record: DatasetRecord,
    version: number,
    data: VersionSource,
    opts: { from: VersionStatus[]; summary?: VersionSummary; expectRows?: number },
  ): Promise<{ previous: number | null }> {
    const staged = await this.active.stage(record.id, version, record.filterBits, data);
    const rows = staged.loaded.size;
    let previous: number | null;
    try {
      if (opts.expectRows !== undefined && rows !== opts.expectRows)
        throw new PavilionError('DATASET_CORRUPT', `version ${version} reads back ${rows} of ${opts.expectRows} rows`);
      ({ previous } = await this.store.activateVersion(record.id, version, {
        from: opts.from,
        rows,
        ...(opts.summary ? { summary: opts.summary } : {}),
      }));
    } catch (err) {
      await staged.discard();
      throw err;
    }
    await staged.serve();
    const fresh = await this.store.get(record.id).catch(() => null);
    if (fresh) this.active.setDefinition(fresh);
    // Keys carry the version, so old answers can no longer be hit; this frees their memory.
    void this.d.cache.invalidateDataset(record.id, version).catch(() => {});
    this.d.log.info({ dataset: record.id, version, previous, rows, actor }, 'dataset version active');
    return { previous };
  }

  private async recordVersion(
    actor: string,
    record: DatasetRecord,
    version: number,
    rows: number,
    status: 'active' | 'staged',
  ): Promise<void> {
    const { trail } = this.d;
    await trail.record(
      datasetVersionEvent({
        dataset: record.id,
        version,
        rows,
        filterBits: record.filterBits,
        status,
        actor: trail.party(actor),
      }),
    );
  }

  /**
   * Deletes every version's rows, the linkage secret and the cached answers, and stops serving the
   * dataset (requests already running finish on the version they leased). The id stays the owner's
   * (server/datasets/store.ts).
   */
  async delete(principal: Principal, id: string): Promise<{ versions: number }> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    return this.serialised(id, async () => {
      const deleted = await this.store.delete(id);
      if (!deleted) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
      this.stopServing(id);
      // Cached answers hold released claims of the deleted records.
      const purged = await this.d.cache.invalidateDataset(id).catch(() => undefined);
      if (!purged?.redisComplete)
        this.d.log.warn({ dataset: id }, 'cached answers of a deleted dataset may remain in Redis until their TTL');
      const { trail } = this.d;
      await trail.record(
        datasetDeletedEvent({ dataset: id, versions: deleted.versions, actor: trail.party(principal.subject) }),
      );
      return deleted;
    });
  }

  /** Registers the linkage secret for broker-side encoding; returns its fingerprint. */
  async setSecret(principal: Principal, id: string, secret: string): Promise<string> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    const fingerprint = await this.d.secrets.set(id, secret, principal.subject);
    // Broker-side encoding compares it with the active version's (server/verification/service.ts).
    const fresh = await this.store.get(id).catch(() => null);
    if (fresh) this.active.setDefinition(fresh);
    const { trail } = this.d;
    await trail.record(datasetSecretSetEvent({ dataset: id, actor: trail.party(principal.subject) }));
    return fingerprint;
  }

  private stopServing(id: string): void {
    this.active.remove(id);
    this.d.secrets.forget(id);
  }

  /**
   * Follows a change another broker process committed (server/datasets/store.ts CHANGES_CHANNEL):
   * re-reads the dataset and serves what the database now says (definition, active version, secret,
   * or nothing once deleted). Reads state rather than trusting the message, so repeated or late
   * messages are harmless.
   */
  async refresh(id: string): Promise<void> {
    await this.serialised(id, async () => {
      this.d.secrets.forget(id);
      const record = await this.store.get(id);
      // Deleted (and perhaps defined again, empty, while this process missed messages): stop serving what it had.
      if (!record || (record.activeVersion === null && this.active.current(id))) {
        if (this.active.definition(id)) {
          this.stopServing(id);
          await this.d.cache.invalidateDataset(id).catch(() => {});
        }
      }
      if (!record) return;
      this.active.setDefinition(record);
      if (record.activeVersion === null || record.activeVersion === this.active.current(id)?.version) return;
      await this.active.activate(
        id,
        record.activeVersion,
        record.filterBits,
        this.reader(id, record.activeVersion, record.filterBits),
      );
    });
  }

  /** Every dataset id the database has or this process serves. */
  async knownIds(): Promise<string[]> {
    const stored = (await this.store.list()).map((r) => r.id);
    return [...new Set([...stored, ...this.active.ids()])];
  }

  /**
   * A stored version read chunk by chunk straight into the engine (ActiveDatasets.stage): at 10M records the
   * filters are never held twice, nor the refs and claims as one object each (docs/decisions.md, "Big datasets").
   */
  private reader(id: string, version: number, filterBits: number): VersionSource {
    return (sink) => this.store.readVersionInto(id, version, filterBits, sink);
  }

  /** Startup: load every dataset's active version from the database into the engine. */
  async reloadAll(): Promise<{ id: string; version: number; rows: number; ms: number }[]> {
    const out: { id: string; version: number; rows: number; ms: number }[] = [];
    for (let record of await this.store.list()) {
      if (record.hasBrokerSecret && record.brokerSecretFingerprint === null) {
        // Registered before fingerprints were kept: compute it once, so GET /v1/datasets/{id} shows it.
        await this.d.secrets.backfillFingerprint(record.id).catch((err) => {
          this.d.log.warn({ err, dataset: record.id }, 'could not fingerprint the registered linkage secret');
        });
        record = (await this.store.get(record.id)) ?? record;
      }
      this.active.setDefinition(record);
      if (record.activeVersion === null) continue;
      const t = performance.now();
      const loaded = await this.active.activate(
        record.id,
        record.activeVersion,
        record.filterBits,
        this.reader(record.id, record.activeVersion, record.filterBits),
      );
      out.push({
        id: record.id,
        version: record.activeVersion,
        rows: loaded.size,
        ms: Math.round(performance.now() - t),
      });
    }
    return out;
  }
}
