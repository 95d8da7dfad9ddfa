/**
 * Where data providers leave dataset files for the broker to pull: an S3 API
 * (MinIO or any S3-compatible service, through the `minio` client) when
 * `S3_ENDPOINT` is set, otherwise a local folder (the embedded default).
 *
 * Reads only, streamed: the broker parses an object as it arrives and never
 * holds the whole file. Keys are checked here as well as by the caller, so no
 * key can name something outside the bucket prefix or the folder; the folder
 * store also follows no symbolic link below its root (FolderObjectStore).
 */
import { constants, createReadStream, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readlink, realpath } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { Client } from 'minio';
import { PavilionError } from '../common/errors.js';

export interface StoredObject {
  /** Bytes announced by the store (Content-Length); NaN when it announced none. */
  size: number;
  contentType: string | undefined;
  body: AsyncIterable<Buffer>;
}

export interface ObjectStore {
  /** Where objects are read from, for logs and errors (no credentials). */
  readonly location: string;
  /**
   * Opens `key` for streaming. Fails with OBJECT_NOT_FOUND (404), also for a key the folder store reaches
   * only through a symbolic link, or for an S3 store with the codes of s3Failure below (credentials,
   * access, bucket, outage).
   */
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
      `object keys are slash-separated segments of 1 to 128 characters of [A-Za-z0-9._-], none "." or "..", ` +
        `at most ${MAX_KEY_BYTES} bytes in all`,
    );
  }
}

function unavailable(location: string, err: unknown): PavilionError {
  // The client's messages can carry request ids and endpoints, never keys; keep the code only.
  const code = storeCode(err);
  return new PavilionError('OBJECT_STORE_UNAVAILABLE', `object store ${location} failed (${code})`, {
    cause: err,
  });
}

/**
 * Codes of a path that names nothing this store reads: no such file, a folder on the way that is a file, a
 * link as the last component (O_NOFOLLOW: ELOOP, EMLINK on some BSDs), a socket (ENXIO).
 */
const ABSENT: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EMLINK', 'ENXIO']);
/** Read only; never through a link as the last component; never blocking on a FIFO left where an object was. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

function notFound(): PavilionError {
  return new PavilionError('OBJECT_NOT_FOUND', 'no object with that key');
}

/**
 * Objects are regular files below `root`, reached through real folders only: **no symbolic link below the
 * root is followed**, wherever it points (another dataset's folder, a host file, or a file of the same
 * dataset). A link is answered as a missing object (OBJECT_NOT_FOUND), its target never opened nor read,
 * so a provider who can write into its own folder cannot turn the broker on files it could not name by
 * key. Links inside a dataset's folder pointing inside it are refused too: that keeps the rule one check
 * that needs no knowledge of the key layout, and a provider can copy or rename instead. The root itself
 * (STATE_DIR/objects) may be a link or lie below one: it is resolved first.
 *
 * A folder swapped for a link between check and open does not get through: the path is walked without
 * following links (lstat), opened with O_NOFOLLOW (and O_NONBLOCK, so a FIFO cannot hang the open), and
 * the file opened is then checked to be the one at that link-free path. On Linux that is where the kernel
 * says the open descriptor is (/proc/self/fd), exactly what was opened whatever changed since; everywhere
 * the path must also still resolve to itself and hold the same device and inode (alone, as where /proc is
 * missing, that leaves only a race of swapping a link in, out and in again between three calls). Hard
 * links cannot be told from the file itself and are the folder owner's business.
 */
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
    let expected: string;
    let handle: FileHandle;
    try {
      expected = await this.linkFreePath(key);
      handle = await open(expected, OPEN_FLAGS);
    } catch (err) {
      throw this.failure(err);
    }
    try {
      const opened = await handle.stat();
      if (!opened.isFile() || !(await openedAt(handle.fd, expected, opened))) throw notFound();
      // autoClose (the default): the file is closed when the stream ends, fails or is destroyed.
      const body = createReadStream(expected, { fd: handle, highWaterMark: 1 << 20 });
      return { size: opened.size, contentType: undefined, body };
    } catch (err) {
      await handle.close().catch(() => {});
      throw this.failure(err);
    }
  }

  /**
   * `key` below the real root, each component checked without following links: a link, a non-folder on the
   * way or a last component that is not a regular file is OBJECT_NOT_FOUND.
   */
  private async linkFreePath(key: string): Promise<string> {
    const segments = key.split('/');
    let at = await realpath(this.root);
    for (let i = 0; i < segments.length; i++) {
      at = join(at, segments[i]!);
      const s = await lstat(at);
      if (s.isSymbolicLink() || (i < segments.length - 1 ? !s.isDirectory() : !s.isFile())) throw notFound();
    }
    return at;
  }

  private failure(err: unknown): PavilionError {
    if (err instanceof PavilionError) return err;
    if (ABSENT.has((err as { code?: string }).code ?? '')) return notFound();
    return unavailable(this.location, err);
  }
}

/** Whether the open descriptor `fd` is the file at the link-free path `expected` (see FolderObjectStore). */
async function openedAt(fd: number, expected: string, opened: Stats): Promise<boolean> {
  if (process.platform === 'linux') {
    const where = await readlink(`/proc/self/fd/${fd}`).catch(() => null);
    if (where !== null && where !== expected) return false;
  }
  // Everywhere (the only check where /proc is missing): the path still resolves to itself, to the same file.
  if ((await realpath(expected)) !== expected) return false;
  const now = await lstat(expected);
  return now.dev === opened.dev && now.ino === opened.ino;
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

  /**
   * One GET, never a HEAD first: S3 answers a HEAD that fails with a status and
   * no body, so a wrong secret, an unknown key id and a missing permission all
   * read as a bare 403, and a missing bucket as a missing object. The GET's
   * error document names the store's own code, which s3Failure maps.
   */
  async open(key: string): Promise<StoredObject> {
    assertObjectKey(key);
    let response: Awaited<ReturnType<Client['getObject']>>;
    try {
      response = await this.client.getObject(this.bucket, key);
    } catch (err) {
      throw s3Failure(this.location, err);
    }
    // minio's getObject resolves with the HTTP response itself (a stream with its headers).
    const headers = (response as { headers?: Record<string, string | string[] | undefined> }).headers ?? {};
    const length = headers['content-length'];
    const contentType = headers['content-type'];
    return {
      size: typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : Number.NaN,
      contentType: typeof contentType === 'string' ? contentType : undefined,
      body: response,
    };
  }
}

/** S3 error codes that mean the broker's own access key or secret is wrong, unknown or expired. */
const CREDENTIAL_CODES: ReadonlySet<string> = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
  'InvalidSecurity',
]);
/** The credentials are good, but the store's policy does not let them read this object. */
const DENIED_CODES: ReadonlySet<string> = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem']);

/**
 * An S3 failure as a PavilionError with a stable code, naming the store's own
 * error code (AccessDenied, SignatureDoesNotMatch, …) in the message so an
 * operator sees what the store said. Never retried by the broker: a wrong
 * secret does not become right, and repeating it can lock an access key.
 *
 * - NoSuchKey → OBJECT_NOT_FOUND (404)
 * - InvalidAccessKeyId, SignatureDoesNotMatch, expired or bad tokens → OBJECT_STORE_CREDENTIALS_INVALID (503)
 * - AccessDenied and the like → OBJECT_STORE_ACCESS_DENIED (403)
 * - NoSuchBucket → OBJECT_STORE_BUCKET_MISSING (503)
 * - anything else (network, 5xx, throttling) → OBJECT_STORE_UNAVAILABLE (503)
 */
export function s3Failure(location: string, err: unknown): PavilionError {
  const code = storeCode(err);
  if (code === 'NoSuchKey' || code === 'NotFound')
    return new PavilionError('OBJECT_NOT_FOUND', 'no object with that key', { cause: err });
  if (CREDENTIAL_CODES.has(code))
    return new PavilionError(
      'OBJECT_STORE_CREDENTIALS_INVALID',
      `object store ${location} refused the broker's credentials (${code}): check S3_ACCESS_KEY and S3_SECRET_KEY`,
      { cause: err },
    );
  if (DENIED_CODES.has(code))
    return new PavilionError(
      'OBJECT_STORE_ACCESS_DENIED',
      `object store ${location} denied the broker read access to this object (${code})`,
      { cause: err },
    );
  if (code === 'NoSuchBucket')
    return new PavilionError(
      'OBJECT_STORE_BUCKET_MISSING',
      `object store ${location}: the bucket does not exist (${code}); check S3_BUCKET`,
      { cause: err },
    );
  return unavailable(location, err);
}

/** The S3 error code of a client error (minio's S3Error.code), or a network error's code; safe to print. */
function storeCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'unknown';
}
