/**
 * Where data providers leave dataset files for the broker to pull: an S3 API
 * (MinIO or any S3-compatible service, through the `minio` client) when
 * `S3_ENDPOINT` is set, otherwise a local folder (the embedded default).
 *
 * Reads only, streamed: the broker parses an object as it arrives and never
 * holds the whole file. Keys are checked here as well as by the caller, so no
 * key can name something outside the bucket prefix or the folder.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { Client } from 'minio';
import { PavilionError } from '../common/errors.js';

export interface StoredObject {
  size: number;
  contentType: string | undefined;
  body: AsyncIterable<Buffer>;
}

export interface ObjectStore {
  /** Where objects are read from, for logs and errors (no credentials). */
  readonly location: string;
  /** Opens `key` for streaming: OBJECT_NOT_FOUND (404), OBJECT_STORE_UNAVAILABLE (503). */
  open(key: string): Promise<StoredObject>;
}

export interface S3Options {
  /** `http(s)://host[:port]` of the S3 API. */
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  region?: string;
}

/**
 * Slash-separated segments of [A-Za-z0-9._-], none empty, `.` or `..`: the
 * same key is then safe as an S3 key and as a relative path on every OS.
 */
const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;
export const MAX_KEY_BYTES = 512;

export function assertObjectKey(key: string): void {
  const segments = key.split('/');
  if (key.length > MAX_KEY_BYTES || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new PavilionError(
      'OBJECT_KEY_INVALID',
      'object keys are slash-separated segments of [A-Za-z0-9._-], without empty, "." or ".." segments',
    );
  }
}

function unavailable(location: string, err: unknown): PavilionError {
  // The client's messages can carry request ids and endpoints, never keys; keep the code only.
  const code = (err as { code?: string }).code ?? 'unknown';
  return new PavilionError('OBJECT_STORE_UNAVAILABLE', `object store ${location} failed (${code})`, {
    cause: err,
  });
}

export class FolderObjectStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = `folder ${this.root}`;
  }

  async open(key: string): Promise<StoredObject> {
    assertObjectKey(key);
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new PavilionError('OBJECT_KEY_INVALID', 'object key leaves the store');
    let size: number;
    try {
      const s = await stat(path);
      if (!s.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      size = s.size;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT' || (err as { code?: string }).code === 'ENOTDIR') {
        throw new PavilionError('OBJECT_NOT_FOUND', 'no object with that key');
      }
      throw unavailable(this.location, err);
    }
    return { size, contentType: undefined, body: createReadStream(path, { highWaterMark: 1 << 20 }) };
  }
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: Client;
  private readonly bucket: string;

  constructor(opts: S3Options) {
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw new PavilionError('CONFIG_INVALID', 'S3_ENDPOINT must be an http(s) URL');
    }
    if (
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.pathname.replace(/\/$/, '') !== '' ||
      url.username ||
      url.password
    ) {
      throw new PavilionError(
        'CONFIG_INVALID',
        'S3_ENDPOINT must be http(s)://host[:port] without a path or credentials',
      );
    }
    const useSSL = url.protocol === 'https:';
    this.bucket = opts.bucket;
    this.location = `s3 ${url.origin}/${opts.bucket}`;
    this.client = new Client({
      endPoint: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
      region: opts.region ?? 'us-east-1',
      // MinIO and most self-hosted S3 APIs address buckets by path, not by host name.
      pathStyle: true,
    });
  }

  async open(key: string): Promise<StoredObject> {
    assertObjectKey(key);
    try {
      const st = await this.client.statObject(this.bucket, key);
      const body = await this.client.getObject(this.bucket, key);
      const contentType = st.metaData['content-type'] as string | undefined;
      return { size: st.size, contentType, body };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NotFound' || code === 'NoSuchKey')
        throw new PavilionError('OBJECT_NOT_FOUND', 'no object with that key');
      if (code === 'NoSuchBucket')
        throw new PavilionError('OBJECT_STORE_UNAVAILABLE', `object store ${this.location}: the bucket does not exist`);
      throw unavailable(this.location, err);
    }
  }
}
