/**
 * Dataset lifecycle shared by the routes, the startup reload and the demo:
 * define a dataset, publish a version (persist, load, swap, invalidate the
 * cache, audit), register the linkage secret, and reload active versions at
 * start. Publishing is serialised per dataset so versions swap in order.
 */
import { PavilionError } from '../../common/errors.js';
import { parseSchema } from '../../engine/clk/schema.js';
import { validateFilterBits } from '../../engine/index.js';
import type { Principal } from '../../identity/index.js';
import type { BrokerContext } from '../context.js';
import { CHUNK_ROWS, type Claims, type DatasetRecord, type VersionRows } from './store.js';
import { BinaryParser, JsonlParser, RowCollector, type UploadParser } from './upload.js';

export interface DatasetDefinitionInput {
  schema: unknown;
  claims: string[];
  allow_broker_encoding?: boolean;
  purposes?: string[];
}

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

export class DatasetService {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly ctx: BrokerContext) {}

  /** Runs `fn` after every earlier publish of the same dataset. */
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
    input: DatasetDefinitionInput,
  ): Promise<{ created: boolean; record: DatasetRecord }> {
    const filterBits = schemaFilterBits(input.schema);
    // A deleted dataset's id stays its owner's: re-defining it revives it, versions continuing.
    const existing = await this.ctx.datasets.get(id, { includeDeleted: true });
    if (existing) this.assertOwner(principal, existing);
    const result = await this.ctx.datasets.upsert({
      id,
      owner: existing?.owner ?? principal.subject,
      schema: input.schema,
      claims: [...new Set(input.claims)],
      filterBits,
      allowBrokerEncoding: input.allow_broker_encoding ?? false,
      purposes: input.purposes ?? null,
    });
    this.ctx.active.setDefinition(result.record);
    await this.audit({
      type: 'dataset_defined',
      v: 1,
      dataset: id,
      created: result.created,
      filter_bits: filterBits,
      claims: result.record.claims,
      allow_broker_encoding: result.record.allowBrokerEncoding,
      actor: this.ctx.auditId(principal.subject),
    });
    return result;
  }

  assertOwner(principal: Principal, record: DatasetRecord): void {
    if (principal.roles.has('admin')) return;
    if (record.owner !== principal.subject)
      throw new PavilionError('DATASET_NOT_OWNER', 'the dataset belongs to another data provider');
  }

  async get(id: string): Promise<DatasetRecord> {
    const record = await this.ctx.datasets.get(id);
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
      const version = await this.ctx.datasets.beginVersion(id, record.filterBits, principal.subject);
      let chunkNo = 0;
      try {
        for await (const piece of body) {
          parser.push(piece);
          // JSONL rows are final as parsed: persist full chunks while the
          // upload continues. Binary claims arrive after all rows, so binary
          // chunks are written at the end.
          if (format === 'jsonl') {
            for (let c = rows.takeChunk(); c; c = rows.takeChunk())
              await this.ctx.datasets.writeChunk(id, version, chunkNo++, c);
          }
        }
        parser.end();
        if (rows.count === 0) throw new PavilionError('DATASET_EMPTY', 'the upload holds no records');
        if (format === 'binary') {
          // takeChunk slices from the collector's row arrays, which now hold the claims too.
          for (let c = rows.takeChunk(); c; c = rows.takeChunk())
            await this.ctx.datasets.writeChunk(id, version, chunkNo++, c);
        }
        const last = rows.takeChunk(true);
        if (last) await this.ctx.datasets.writeChunk(id, version, chunkNo++, last);
        await this.activate(principal.subject, record, version, {
          refs: rows.refs,
          clks: rows.allClksConcatenated(),
          claims: rows.claims,
        });
        return { version, rows: rows.count, filterBits: record.filterBits };
      } catch (err) {
        await this.ctx.datasets.failVersion(id, version).catch(() => {});
        throw err;
      }
    });
  }

  /** Publishes a version from rows already in memory (demo, benchmarks). */
  async publishRows(
    actor: string,
    id: string,
    data: { refs: string[]; clks: Uint8Array; claims: Claims[] },
  ): Promise<{ version: number; rows: number }> {
    const record = await this.get(id);
    return this.serialised(id, async () => {
      const version = await this.ctx.datasets.beginVersion(id, record.filterBits, actor);
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
          await this.ctx.datasets.writeChunk(id, version, n, chunk);
        }
        await this.activate(actor, record, version, data);
        return { version, rows: data.refs.length };
      } catch (err) {
        await this.ctx.datasets.failVersion(id, version).catch(() => {});
        throw err;
      }
    });
  }

  private async activate(
    actor: string,
    record: DatasetRecord,
    version: number,
    data: { refs: string[]; clks: Uint8Array; claims: Claims[] },
  ): Promise<void> {
    await this.ctx.active.activate(record.id, version, record.filterBits, data);
    await this.ctx.datasets.activateVersion(record.id, version, data.refs.length);
    const fresh = await this.ctx.datasets.get(record.id);
    if (fresh) this.ctx.active.setDefinition(fresh);
    // Keys carry the version, so old answers can no longer be hit; this frees their memory.
    void this.ctx.cache.invalidateDataset(record.id, version).catch(() => {});
    await this.audit({
      type: 'dataset_version',
      v: 1,
      dataset: record.id,
      version,
      rows: data.refs.length,
      filter_bits: record.filterBits,
      actor: this.ctx.auditId(actor),
    });
  }

  /**
   * Deletes every version's rows, the linkage secret and the cached answers,
   * and stops serving the dataset (requests already running finish on the
   * version they leased). The id stays the owner's (server/datasets/store.ts).
   */
  async delete(principal: Principal, id: string): Promise<{ versions: number }> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    return this.serialised(id, async () => {
      const deleted = await this.ctx.datasets.delete(id);
      if (!deleted) throw new PavilionError('DATASET_NOT_FOUND', 'no such dataset');
      this.ctx.active.remove(id);
      // Cached answers hold released claims of the deleted records.
      const purged = await this.ctx.cache.invalidateDataset(id).catch(() => undefined);
      if (!purged?.redisComplete)
        this.ctx.log.warn({ dataset: id }, 'cached answers of a deleted dataset may remain in Redis until their TTL');
      await this.audit({
        type: 'dataset_deleted',
        v: 1,
        dataset: id,
        versions: deleted.versions,
        actor: this.ctx.auditId(principal.subject),
      });
      return deleted;
    });
  }

  async setSecret(principal: Principal, id: string, secret: string): Promise<void> {
    const record = await this.get(id);
    this.assertOwner(principal, record);
    await this.ctx.datasets.setSecret(
      id,
      this.ctx.keys.seal({ dataset: id }, Buffer.from(secret, 'utf8')),
      principal.subject,
    );
    await this.audit({ type: 'dataset_secret_set', v: 1, dataset: id, actor: this.ctx.auditId(principal.subject) });
  }

  /**
   * Follows a change another broker process committed (server/datasets/store.ts
   * CHANGES_CHANNEL): re-reads the dataset and serves what the database now
   * says (definition, active version, or nothing once deleted). Reads state
   * rather than trusting the message, so repeated or late messages are harmless.
   */
  async refresh(id: string): Promise<void> {
    await this.serialised(id, async () => {
      const record = await this.ctx.datasets.get(id);
      // Deleted (and perhaps defined again, empty, while this process missed messages): stop serving what it had.
      if (!record || (record.activeVersion === null && this.ctx.active.current(id))) {
        if (this.ctx.active.definition(id)) {
          this.ctx.active.remove(id);
          await this.ctx.cache.invalidateDataset(id).catch(() => {});
        }
      }
      if (!record) return;
      this.ctx.active.setDefinition(record);
      if (record.activeVersion === null || record.activeVersion === this.ctx.active.current(id)?.version) return;
      const rows = await this.ctx.datasets.readVersion(id, record.activeVersion, record.filterBits);
      await this.ctx.active.activate(id, record.activeVersion, record.filterBits, rows);
    });
  }

  /** Every dataset id the database has or this process serves. */
  async knownIds(): Promise<string[]> {
    const stored = (await this.ctx.datasets.list()).map((r) => r.id);
    return [...new Set([...stored, ...this.ctx.active.ids()])];
  }

  /** Startup: load every dataset's active version from the database into the engine. */
  async reloadAll(): Promise<{ id: string; version: number; rows: number; ms: number }[]> {
    const out: { id: string; version: number; rows: number; ms: number }[] = [];
    for (const record of await this.ctx.datasets.list()) {
      this.ctx.active.setDefinition(record);
      if (record.activeVersion === null) continue;
      const t = performance.now();
      const rows = await this.ctx.datasets.readVersion(record.id, record.activeVersion, record.filterBits);
      await this.ctx.active.activate(record.id, record.activeVersion, record.filterBits, rows);
      out.push({
        id: record.id,
        version: record.activeVersion,
        rows: rows.refs.length,
        ms: Math.round(performance.now() - t),
      });
    }
    return out;
  }

  private async audit(event: Record<string, unknown>): Promise<void> {
    await this.ctx.appendAudit({ ...event, time: new Date().toISOString() });
  }
}
