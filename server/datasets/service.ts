/**
 * Dataset lifecycle shared by the routes, the startup reload and the demo: define a dataset, publish a
 * version (persist, load, commit, swap, invalidate the cache, audit), register the linkage secret,
 * delete, and follow what other broker processes commit. Changes are serialised per dataset so
 * versions swap in order, and the version that answers is always the one the database committed.
 */
import type { Logger } from 'pino';
import type { VerificationCache } from '../../cache/verification-cache.js';
import { PavilionError } from '../../common/errors.js';
import { parseSchema } from '../../engine/clk/schema.js';
import { validateFilterBits } from '../../engine/index.js';
import type { Principal } from '../../identity/index.js';
import type { ReloadingPolicy } from '../../policy/index.js';
import type { DatasetDefinition } from '../http/schemas.js';
import {
  datasetDefinedEvent,
  datasetDeletedEvent,
  datasetSecretSetEvent,
  datasetVersionEvent,
} from '../support/audit-events.js';
import type { AuditTrail } from '../support/audit-trail.js';
import type { ActiveDatasets } from './active-datasets.js';
import type { LinkageSecrets } from './linkage-secrets.js';
import { CHUNK_ROWS, type Claims, type DatasetRecord, type DatasetStore, type VersionRows } from './store.js';
import { BinaryParser, JsonlParser, RowCollector, type UploadParser } from './upload.js';

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

export class DatasetService {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly store: DatasetStore;
  private readonly active: ActiveDatasets;

  constructor(private readonly d: DatasetServiceDeps) {
    this.store = d.store;
    this.active = d.active;
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
    this.d.policy.assertDatasetAllowed(input);
    // A deleted dataset's id stays its owner's: re-defining it revives it, versions continuing.
    const existing = await this.store.get(id, { includeDeleted: true });
    if (existing) this.assertOwner(principal, existing);
    const result = await this.store.upsert({
      id,
      owner: existing?.owner ?? principal.subject,
      schema: input.schema,
      claims: [...new Set(input.claims)],
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
    if (principal.roles.has('admin')) return;
    if (record.owner !== principal.subject)
      throw new PavilionError('DATASET_NOT_OWNER', 'the dataset belongs to another data provider');
  }

  async get(id: string): Promise<DatasetRecord> {
    const record = await this.store.get(id);
    if (!record) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
    return record;
  }

  /** Publishes a version from a streamed upload body. */
  async publishStream(
    principal: Principal,
    id: string,
    format: UploadFormat,
    body: AsyncIterable<Buffer>,
  ): Promise<{ version: number; rows: number; filterBits: number }> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    return this.serialised(id, async () => {
      const rows = new RowCollector(record.filterBits, new Set(record.claims), CHUNK_ROWS);
      const parser: UploadParser = format === 'jsonl' ? new JsonlParser(rows) : new BinaryParser(rows);
      const version = await this.store.beginVersion(id, record.filterBits, principal.subject);
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
        await this.activate(principal.subject, record, version, {
          refs: rows.refs,
          clks: rows.allClksConcatenated(),
          claims: rows.claims,
        });
        return { version, rows: rows.count, filterBits: record.filterBits };
      } catch (err) {
        await this.store.failVersion(id, version).catch(() => {});
        throw err;
      }
    });
  }

  /** Publishes a version from rows already in memory (demo, benchmarks). */
  async publishRows(actor: string, id: string, data: Rows): Promise<{ version: number; rows: number }> {
    const record = await this.get(id);
    return this.serialised(id, async () => {
      const version = await this.store.beginVersion(id, record.filterBits, actor);
      const bytes = record.filterBits / 8;
      try {
        if (data.clks.length !== data.refs.length * bytes)
          throw new PavilionError('CLK_LENGTH_MISMATCH', 'CLK bytes do not match the number of refs');
        for (let start = 0, n = 0; start < data.refs.length; start += CHUNK_ROWS, n++) {
          const end = Math.min(data.refs.length, start + CHUNK_ROWS);
          const chunk: VersionRows = {
            refs: data.refs.slice(start, end),
            claims: data.claims.slice(start, end),
            clks: data.clks.subarray(start * bytes, end * bytes),
          };
          await this.store.writeChunk(id, version, n, chunk);
        }
        await this.activate(actor, record, version, data);
        return { version, rows: data.refs.length };
      } catch (err) {
        await this.store.failVersion(id, version).catch(() => {});
        throw err;
      }
    });
  }

  /**
   * Loads the version into the engine, commits it as active in the database, and only then lets it
   * answer: a failed commit leaves the previous version serving, in memory as in the database.
   */
  private async activate(actor: string, record: DatasetRecord, version: number, data: Rows): Promise<void> {
    const staged = await this.active.stage(record.id, version, record.filterBits, data);
    try {
      await this.store.activateVersion(record.id, version, data.refs.length);
    } catch (err) {
      await staged.discard();
      throw err;
    }
    await staged.serve();
    const fresh = await this.store.get(record.id).catch(() => null);
    if (fresh) this.active.setDefinition(fresh);
    // Keys carry the version, so old answers can no longer be hit; this frees their memory.
    void this.d.cache.invalidateDataset(record.id, version).catch(() => {});
    const { trail } = this.d;
    await trail.record(
      datasetVersionEvent({
        dataset: record.id,
        version,
        rows: data.refs.length,
        filterBits: record.filterBits,
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

  async setSecret(principal: Principal, id: string, secret: string): Promise<void> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    await this.d.secrets.set(id, secret, principal.subject);
    const { trail } = this.d;
    await trail.record(datasetSecretSetEvent({ dataset: id, actor: trail.party(principal.subject) }));
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
      const rows = await this.store.readVersion(id, record.activeVersion, record.filterBits);
      await this.active.activate(id, record.activeVersion, record.filterBits, rows);
    });
  }

  /** Every dataset id the database has or this process serves. */
  async knownIds(): Promise<string[]> {
    const stored = (await this.store.list()).map((r) => r.id);
    return [...new Set([...stored, ...this.active.ids()])];
  }

  /** Startup: load every dataset's active version from the database into the engine. */
  async reloadAll(): Promise<{ id: string; version: number; rows: number; ms: number }[]> {
    const out: { id: string; version: number; rows: number; ms: number }[] = [];
    for (const record of await this.store.list()) {
      this.active.setDefinition(record);
      if (record.activeVersion === null) continue;
      const t = performance.now();
      const rows = await this.store.readVersion(record.id, record.activeVersion, record.filterBits);
      await this.active.activate(record.id, record.activeVersion, record.filterBits, rows);
      out.push({
        id: record.id,
        version: record.activeVersion,
        rows: rows.refs.length,
        ms: Math.round(performance.now() - t),
      });
    }
    return out;
  }
}
