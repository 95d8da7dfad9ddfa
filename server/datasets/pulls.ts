/**
 * Dataset pulls: the data provider leaves a dataset file (JSONL or PVDS
 * binary, the upload formats of server/datasets/upload.ts) in the object store under
 * `datasets/<dataset id>/`, and asks the broker to publish it as the next
 * version. The broker streams the object through the same parser, checks and
 * swap as an HTTP upload, in the background; the request returns at once
 * with a pull id to poll.
 *
 * The key prefix is what keeps providers apart: a provider names an object
 * below its own dataset's prefix, never a bucket or a full key, so the
 * broker's store credentials cannot be used to read another provider's files.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { withDeadline } from '../../common/deadline.js';
import { isPavilionError, PavilionError } from '../../common/errors.js';
import { type Heartbeat, STALE_AFTER_MS, startHeartbeat } from '../../common/heartbeat.js';
import { retryFor } from '../../common/retry.js';
import { isUuid } from '../../common/uuid.js';
import type { Principal } from '../../identity/index.js';
import { assertObjectKey, type ObjectStore } from '../../storage/object-store.js';
import type { PullRecord, PullStore } from './pull-store.js';
import type { DatasetService, PublishOptions, UploadFormat } from './service.js';

export interface PullRequest {
  /** Key below `datasets/<dataset id>/`. */
  object: string;
  /** Default: from the extension (.jsonl/.ndjson → jsonl, .pvds → binary). */
  format?: UploadFormat;
  /** false: the version is staged, served once activated (default true). */
  activate?: boolean;
  /** The fingerprint of the secret the object's CLKs were encoded with (common/secret-fingerprint.ts). */
  secret_fingerprint?: string;
}

export function objectKeyFor(datasetId: string, object: string): string {
  const key = `datasets/${datasetId}/${object}`;
  assertObjectKey(key);
  return key;
}

function formatOf(object: string, explicit: UploadFormat | undefined): UploadFormat {
  if (explicit) return explicit;
  if (/\.(jsonl|ndjson)$/i.test(object)) return 'jsonl';
  if (/\.pvds$/i.test(object)) return 'binary';
  throw new PavilionError(
    'PULL_FORMAT_UNKNOWN',
    'name the format ("jsonl" or "binary") or use a .jsonl, .ndjson or .pvds object',
  );
}

const storeSilent = (location: string, ms: number) => () =>
  new PavilionError('OBJECT_STORE_UNAVAILABLE', `object store ${location} sent nothing for ${ms} ms`);

/**
 * Passes the object's bytes through, counting them, refusing past `limit`,
 * giving up when the store sends nothing for `idleMs`, and typing read failures.
 */
async function* counted(
  body: AsyncIterable<Buffer>,
  limits: { bytes: number; idleMs: number },
  seen: { bytes: number },
  location: string,
  stopping: () => boolean,
): AsyncIterable<Buffer> {
  const it = body[Symbol.asyncIterator]();
  const limit = limits.bytes;
  for (;;) {
    if (stopping()) {
      await it.return?.();
      throw new PavilionError('PULL_INTERRUPTED', 'the broker stopped during the pull');
    }
    let next: IteratorResult<Buffer>;
    try {
      next = await withDeadline(it.next(), limits.idleMs, storeSilent(location, limits.idleMs));
    } catch (err) {
      void it.return?.()?.catch(() => {}); // closes the connection of a stalled read
      if (isPavilionError(err)) throw err;
      throw new PavilionError('OBJECT_STORE_UNAVAILABLE', `reading from ${location} failed mid-object`, {
        cause: err,
      });
    }
    if (next.done) return;
    seen.bytes += next.value.length;
    if (seen.bytes > limit) {
      await it.return?.();
      throw new PavilionError(
        'UPLOAD_TOO_LARGE',
        `the object exceeds the pull limit (PULL_LIMIT_BYTES) of ${limit} bytes`,
      );
    }
    yield next.value;
  }
}

/** How long a failed pull keeps trying to record its failure through a database outage. */
const RECORD_RETRY_MS = 30_000;

export interface DatasetPullsDeps {
  datasets: DatasetService;
  pulls: PullStore;
  objects: ObjectStore;
  /**
   * PULL_LIMIT_BYTES. Not UPLOAD_LIMIT_BYTES: that one cannot exceed the largest Content-Length uWS reads
   * (server/config.ts MAX_CONTENT_LENGTH), and a pull is the way to publish a larger file.
   */
  pullLimit: number;
  /** OBJECT_STORE_TIMEOUT_MS. */
  idleMs: number;
  log: Logger;
}

export class DatasetPulls {
  private readonly running = new Map<string, Promise<void>>();
  private closing = false;
  private readonly heartbeat: Heartbeat;
  private readonly datasets: DatasetService;
  private readonly pulls: PullStore;
  private readonly store: ObjectStore;
  private readonly log: Logger;

  constructor(private readonly d: DatasetPullsDeps) {
    const { pulls, log } = d;
    this.datasets = d.datasets;
    this.pulls = pulls;
    this.store = d.objects;
    this.log = log;
    this.heartbeat = startHeartbeat({
      runningIds: () => [...this.running.keys()],
      beat: (ids) => pulls.heartbeat(ids),
      sweep: async () => {
        // A pull is cheap to ask for again, and its object may have changed: fail it, the provider decides.
        const failed = await pulls.failStale(STALE_AFTER_MS);
        if (failed > 0)
          log.warn({ pulls: failed }, 'dataset pulls of a stopped broker process marked failed (PULL_INTERRUPTED)');
      },
      onError: (err) => log.warn({ err }, 'dataset pull heartbeat failed'),
    });
  }

  /** Records the pull and starts it; resolves with the record (status `running`). */
  async start(principal: Principal, datasetId: string, request: PullRequest): Promise<PullRecord> {
    const record = await this.datasets.get(datasetId);
    this.datasets.assertOwner(principal, record);
    const objectKey = objectKeyFor(datasetId, request.object);
    const format = formatOf(request.object, request.format);
    const pull = await this.pulls.create({
      id: randomUUID(),
      datasetId,
      objectKey,
      format,
      requestedBy: principal.subject,
    });
    const options: PublishOptions = {
      ...(request.activate === false ? { activate: false } : {}),
      ...(request.secret_fingerprint ? { secretFingerprint: request.secret_fingerprint } : {}),
    };
    this.running.set(
      pull.id,
      this.run(principal, pull, options).finally(() => this.running.delete(pull.id)),
    );
    return pull;
  }

  async get(principal: Principal, datasetId: string, id: string): Promise<PullRecord> {
    const record = await this.datasets.get(datasetId);
    this.datasets.assertOwner(principal, record);
    const pull = isUuid(id) ? await this.pulls.get(datasetId, id) : null;
    if (!pull) throw new PavilionError('PULL_NOT_FOUND', 'no such pull for this dataset');
    return pull;
  }

  private async run(principal: Principal, pull: PullRecord, options: PublishOptions): Promise<void> {
    const seen = { bytes: 0 };
    const limit = this.d.pullLimit;
    const started = performance.now();
    try {
      const idleMs = this.d.idleMs;
      const object = await withDeadline(
        this.store.open(pull.objectKey),
        idleMs,
        storeSilent(this.store.location, idleMs),
      );
      if (object.size > limit) {
        // Closed unread (both stores' bodies are streams): left open, each refused object kept a file or a
        // connection of the store. An iterator's return() before its first read does not close its stream.
        (object.body as AsyncIterable<Buffer> & { destroy?: () => void }).destroy?.();
        throw new PavilionError(
          'UPLOAD_TOO_LARGE',
          `the object (${object.size} bytes) exceeds the pull limit (PULL_LIMIT_BYTES) of ${limit} bytes`,
        );
      }
      const body = counted(object.body, { bytes: limit, idleMs }, seen, this.store.location, () => this.closing);
      const published = await this.datasets.publishStream(principal, pull.datasetId, pull.format, body, options);
      const version = published.version!; // never a dry run
      await this.pulls.succeed(pull.id, { bytes: seen.bytes, version, rows: published.rows });
      this.log.info(
        {
          pull: pull.id,
          dataset: pull.datasetId,
          version,
          status: published.status,
          rows: published.rows,
          bytes: seen.bytes,
          ms: Math.round(performance.now() - started),
        },
        'dataset pull published',
      );
    } catch (err) {
      const failure = isPavilionError(err)
        ? err
        : new PavilionError('PULL_FAILED', 'the pull failed unexpectedly', { cause: err });
      if (!isPavilionError(err)) this.log.error({ err, pull: pull.id }, 'dataset pull failed unexpectedly');
      else this.log.warn({ pull: pull.id, dataset: pull.datasetId, code: failure.code }, 'dataset pull failed');
      await retryFor(
        () => this.pulls.fail(pull.id, { code: failure.code, detail: failure.message, bytes: seen.bytes }),
        RECORD_RETRY_MS,
        () => this.closing,
      ).catch((e) => {
        this.log.error({ err: e, pull: pull.id }, 'could not record a failed dataset pull');
      });
    }
  }

  /** Stops running pulls at their next read (recorded as PULL_INTERRUPTED) and waits for them. */
  async close(): Promise<void> {
    this.closing = true;
    this.heartbeat.stop();
    await Promise.allSettled([...this.running.values()]);
  }
}
