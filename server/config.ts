/**
 * Broker settings. Every setting is an environment variable with a default
 * suited to `npm start` on a laptop (embedded PGlite, in-process LRU, a local
 * signing key); `CONFIG_FILE` may name a JSON file of the same keys, which
 * the environment overrides; an empty value counts as unset. Parsed and validated with zod: a bad value stops
 * the broker at start with CONFIG_INVALID naming the variable (never echoing
 * its value, it may be a secret).
 *
 * SETTINGS below is the single source for the README table
 * (`npm run -s docs:settings` prints it, scripts/docs.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { invalidSettings, PavilionError } from '../common/errors.js';
import { safeMessage } from '../common/zod-issues.js';
import { PUBLIC_KEY_ALGORITHMS } from '../identity/algorithms.js';

interface Setting {
  env: string;
  default: string;
  description: string;
}

export const SETTINGS: readonly Setting[] = [
  { env: 'PORT', default: '8080', description: 'HTTP and WebSocket port (0 picks a free one)' },
  {
    env: 'HOST',
    default: '127.0.0.1',
    description: 'listen address: loopback for development; `0.0.0.0` in containers (the image and chart set it)',
  },
  {
    env: 'TLS_CERT_FILE',
    default: '',
    description: 'PEM certificate; with TLS_KEY_FILE the broker serves HTTPS/WSS only',
  },
  { env: 'TLS_KEY_FILE', default: '', description: 'PEM private key for TLS_CERT_FILE' },
  { env: 'STATE_DIR', default: '.pavilion', description: 'folder for development keys and embedded data' },
  { env: 'DATABASE_URL', default: '', description: 'PostgreSQL URL; unset → embedded PGlite served over the wire' },
  {
    env: 'PGLITE_DATA_DIR',
    default: '',
    description:
      'embedded PGlite data folder: made if missing; else empty or a PostgreSQL data folder (PG_VERSION); ' +
      'unset → a temporary one, removed at exit (after a SIGKILL, at the next start)',
  },
  { env: 'REDIS_URL', default: '', description: 'Redis URL for the verification cache; unset → in-process LRU only' },
  {
    env: 'CACHE_LRU_ENTRIES',
    default: '100000',
    description: 'entries in the in-process LRU (in front of Redis when set)',
  },
  { env: 'OIDC_ISSUER', default: '', description: 'OIDC issuer (JWKS discovered from it, e.g. a Keycloak realm URL)' },
  { env: 'JWKS_URL', default: '', description: 'JWKS URL when not discovered from OIDC_ISSUER (which it needs)' },
  { env: 'OIDC_AUDIENCE', default: 'pavilion', description: 'required `aud` of access tokens' },
  { env: 'JWT_ALGORITHMS', default: 'ES256,RS256,EdDSA', description: 'allowed JWS algorithms (comma-separated)' },
  {
    env: 'LOCAL_ISSUER',
    default: 'urn:pavilion:local',
    description: 'issuer of development tokens when no OIDC issuer is set',
  },
  {
    env: 'MASTER_KEY',
    default: '',
    description:
      'base64 32-byte key encrypting linkage secrets (AES-256-GCM); unset → generated under STATE_DIR with a warning',
  },
  {
    env: 'POLICY_BUNDLE',
    default: '',
    description: 'OPA policy bundle, a folder or .tar.gz (default: policy/bundle); see docs/policy.md',
  },
  {
    env: 'POLICY_BUNDLE_KEY',
    default: '',
    description: "PEM public key (or certificate) file; set → the bundle's .signatures.json must verify with it",
  },
  { env: 'POLICY_BUNDLE_KEY_ALG', default: 'RS256', description: 'JWS algorithm of POLICY_BUNDLE_KEY' },
  {
    env: 'POLICY_RELOAD_MS',
    default: '2000',
    description: 're-read the policy bundle this often and swap in a changed one (0: only POST /v1/policy/reload)',
  },
  { env: 'ENGINE_THREADS', default: '', description: 'engine worker threads (default: one per core)' },
  {
    env: 'ENGINE_SIMD',
    default: '',
    description: '`false` forces the scalar Dice kernel, `true` the SIMD one; unset → detected (broker and CLI)',
  },
  {
    env: 'ENCODE_DEADLINE_MS',
    default: '2000',
    description:
      "most time a worker spends encoding a verification's record (broker-side encoding); past it the worker is " +
      'replaced and the answer is 422 ENCODE_TIMEOUT',
  },
  {
    env: 'AUDIT_ORIGIN',
    default: '',
    description:
      'origin line of audit checkpoints; unset → AUDIT_URL_PREFIX without its scheme, else `pavilion.local/audit`',
  },
  {
    env: 'AUDIT_URL_PREFIX',
    default: '',
    description: 'public URL prefix of the log (C2SP tlog-tiles), e.g. `https://broker.example/v1/audit`',
  },
  {
    env: 'AUDIT_SIGNING_KEY',
    default: '',
    description:
      'checkpoint signing key(s), `PRIVATE+KEY+…` or a 32-byte Ed25519 seed, comma-separated, primary first ' +
      '(rotation: new,old); never logged',
  },
  {
    env: 'AUDIT_SIGNING_KEY_FILE',
    default: '',
    description:
      'file with the signing key(s), one per line; unset with no AUDIT_SIGNING_KEY → a development key kept ' +
      'in STATE_DIR',
  },
  {
    env: 'AUDIT_WITNESSES',
    default: '',
    description:
      'JSON array of C2SP tlog-witnesses `[{"url","key"}]` asked to cosign each checkpoint before it is published',
  },
  { env: 'AUDIT_CHECKPOINT_LEAVES', default: '1000', description: 'sign a checkpoint after this many new leaves' },
  { env: 'AUDIT_CHECKPOINT_MS', default: '1000', description: 'or after this many milliseconds' },
  {
    env: 'AUDIT_PUBLIC',
    default: 'false',
    description:
      '`true`: checkpoints, proofs, receipts and hash tiles need no token (witnesses, public monitors); ' +
      'entries always need auditor or admin',
  },
  {
    env: 'AUDIT_CACHE_MB',
    default: '128',
    description: 'memory for audit tree hashes, so proofs skip the database (about 64 MB per million entries; 0: off)',
  },
  {
    env: 'S3_ENDPOINT',
    default: '',
    description:
      'S3 API (MinIO or any S3) that dataset pulls read from, `http(s)://host:port`; unset → the folder ' +
      'STATE_DIR/objects',
  },
  { env: 'S3_BUCKET', default: 'pavilion', description: 'bucket holding `datasets/<dataset id>/…` objects' },
  { env: 'S3_ACCESS_KEY', default: '', description: 'S3 access key id' },
  { env: 'S3_SECRET_KEY', default: '', description: 'S3 secret key (never logged)' },
  { env: 'S3_REGION', default: 'us-east-1', description: 'S3 region used for request signing' },
  {
    env: 'OBJECT_STORE_TIMEOUT_MS',
    default: '30000',
    description: 'a pull fails when the object store answers nothing, or sends nothing more, for this long',
  },
  {
    env: 'AMBIGUITY_MARGIN',
    default: '0.02',
    description: 'two candidates ≥ min score within this Dice margin → `ambiguous`',
  },
  { env: 'BODY_LIMIT_BYTES', default: '1048576', description: 'limit for JSON request bodies (413 beyond)' },
  {
    env: 'UPLOAD_LIMIT_BYTES',
    default: '999999999',
    description:
      'limit for one dataset version upload over HTTP, at most 999999999 (the largest Content-Length uWS reads); ' +
      'larger files go through a pull',
  },
  {
    env: 'PULL_LIMIT_BYTES',
    default: '1073741824',
    description: 'limit for one object a dataset pull reads from the object store',
  },
  { env: 'JOB_BODY_LIMIT_BYTES', default: '67108864', description: 'limit for a linkage job request' },
  {
    env: 'LINKAGE_CHUNK_COMPARISONS',
    default: '2000000000',
    description:
      'comparisons (or their blocking equivalent) a chunk of a linkage job is sized to; chunks are run by any ' +
      'broker replica; a two-party job without blocking under this runs whole in the broker that took it',
  },
  {
    env: 'WS_MAX_PAYLOAD',
    default: '65536',
    description: 'largest WebSocket message accepted (the socket is closed beyond)',
  },
  {
    env: 'WS_MAX_BACKPRESSURE',
    default: '1048576',
    description: 'bytes buffered for a slow WebSocket reader before it is closed',
  },
  {
    env: 'WS_MAX_IN_FLIGHT',
    default: '256',
    description: 'verifications in flight per WebSocket; more are refused with TOO_MANY_IN_FLIGHT',
  },
  { env: 'LOG_LEVEL', default: 'info', description: 'pino log level' },
  {
    env: 'ANCHORING',
    default: 'anvil',
    description: '`anvil` (local chain started on loopback), `rpc` (ETH_RPC_URL…) or `off`',
  },
  { env: 'ETH_RPC_URL', default: '', description: 'ANCHORING=rpc: JSON-RPC URL of the chain (Polygon, Amoy)' },
  {
    env: 'ANCHOR_CHAIN_ID',
    default: '80002',
    description: 'EIP-155 chain id (137 Polygon PoS, 80002 Amoy; anvil uses it too)',
  },
  {
    env: 'ANCHOR_CONTRACT',
    default: '',
    description: 'ANCHORING=rpc: MerkleAnchor contract address (`pavilion anchor deploy` deploys one)',
  },
  {
    env: 'ANCHOR_DEPLOY_BLOCK',
    default: '',
    description:
      'ANCHORING=rpc: block that deployed ANCHOR_CONTRACT (published to auditors); unset → searched on chain',
  },
  {
    env: 'ANCHOR_PUBLIC_RPC_URL',
    default: '',
    description: 'RPC URL published to auditors (GET /v1/audit/anchoring); ANCHORING=anvil publishes its loopback URL',
  },
  {
    env: 'ANCHOR_PRIVATE_KEY',
    default: '',
    description: 'ANCHORING=rpc: hex key of the contract owner (never logged)',
  },
  { env: 'ANCHOR_MIN_SIZE_DELTA', default: '1000', description: 'anchor once the log grew by this many entries' },
  { env: 'ANCHOR_MAX_INTERVAL_MS', default: '60000', description: 'or once this long passed with any growth' },
  { env: 'ANCHOR_POLL_MS', default: '5000', description: 'pause between anchoring passes' },
  {
    env: 'DEMO_RECORDS',
    default: '100000',
    description: '`npm start`: synthetic people in the demo dataset (0: none)',
  },
  {
    env: 'DEMO_PAGE',
    default: 'auto',
    description:
      'serve the development demo page at /demo/ (it discloses the demo linkage secret); `auto`: only with ' +
      'the embedded database and the local token issuer',
  },
  {
    env: 'CONFIG_FILE',
    default: '',
    description: 'optional JSON file of these keys (environment wins; any other key is refused)',
  },
];

/**
 * Numbers are written in plain decimal: z.coerce.number() took whatever Number() takes, so `0x46B0` was port
 * 18096 and `1e3` a thousand (and an empty value was 0; loadConfig now drops empty values first).
 */
const decimal = (integer: boolean) =>
  z
    .string()
    .trim()
    .regex(
      integer ? /^-?\d+$/ : /^-?(\d+(\.\d*)?|\.\d+)$/,
      integer ? 'expected a decimal integer' : 'expected a decimal number',
    )
    .transform(Number);
const intIn = (min: number, max: number) => decimal(true).pipe(z.number().int().min(min).max(max));
const optionalText = z.string().transform((s) => (s.trim() === '' ? undefined : s.trim()));
/**
 * An optional URL with one of `schemes`, checked here so that a malformed one is a CONFIG_INVALID naming the
 * setting, not a driver's exception at start-up that prints the URL (with its password) back.
 */
const urlWith = (...schemes: string[]) =>
  optionalText.pipe(
    z
      .string()
      .refine((s) => URL.canParse(s) && schemes.includes(new URL(s).protocol), {
        message: `expected a ${schemes.map((x) => `${x}//`).join(' or ')} URL`,
      })
      .optional(),
  );

/**
 * The largest Content-Length uWebSockets.js 20.30 reads: its parser (HttpParser.h, toUnsignedInteger) takes at
 * most 9 digits and drops a request declaring more, closing the connection with no answer, before any of the
 * broker's code runs (measured: 999999999 is answered, 1000000000 is not; test/server/datasets/upload-limit.test.ts).
 * A body limit above it could never be reached nor answered with its 413 (docs/security.md).
 */
export const MAX_CONTENT_LENGTH = 999_999_999;

/** The settings a failed parse names, each with its first issue; safeMessage never repeats a value. */
function settingIssues(issues: readonly z.ZodIssue[]): PavilionError {
  const byName = new Map<string, string>();
  for (const i of issues) {
    const name = String(i.path[0]);
    if (!byName.has(name)) byName.set(name, safeMessage(i));
  }
  return invalidSettings([...byName]);
}

const ConfigSchema = z.object({
  PORT: intIn(0, 65535),
  HOST: z.string().min(1),
  TLS_CERT_FILE: optionalText,
  TLS_KEY_FILE: optionalText,
  STATE_DIR: z.string().min(1),
  DATABASE_URL: urlWith('postgres:', 'postgresql:'),
  PGLITE_DATA_DIR: optionalText,
  REDIS_URL: optionalText,
  CACHE_LRU_ENTRIES: intIn(0, 100_000_000),
  OIDC_ISSUER: urlWith('https:', 'http:'),
  JWKS_URL: urlWith('https:', 'http:'),
  OIDC_AUDIENCE: z.string().min(1),
  JWT_ALGORITHMS: z.string().transform((s) =>
    s
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
  ),
  LOCAL_ISSUER: z.string().min(1),
  MASTER_KEY: optionalText,
  POLICY_BUNDLE: optionalText,
  POLICY_BUNDLE_KEY: optionalText,
  POLICY_BUNDLE_KEY_ALG: z.enum(PUBLIC_KEY_ALGORITHMS),
  POLICY_RELOAD_MS: intIn(0, 86_400_000),
  ENGINE_THREADS: optionalText.pipe(intIn(1, 256).optional()),
  ENGINE_SIMD: optionalText.pipe(z.enum(['true', 'false']).optional()),
  ENCODE_DEADLINE_MS: intIn(1, 3_600_000),
  AUDIT_ORIGIN: optionalText,
  AUDIT_URL_PREFIX: optionalText.pipe(z.string().url().optional()),
  AUDIT_SIGNING_KEY: optionalText,
  AUDIT_SIGNING_KEY_FILE: optionalText,
  AUDIT_WITNESSES: optionalText,
  AUDIT_CHECKPOINT_LEAVES: intIn(1, 10_000_000),
  AUDIT_CHECKPOINT_MS: intIn(1, 86_400_000),
  AUDIT_PUBLIC: z.enum(['true', 'false']),
  AUDIT_CACHE_MB: intIn(0, 1 << 20),
  S3_ENDPOINT: optionalText,
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
  S3_ACCESS_KEY: optionalText,
  S3_SECRET_KEY: optionalText,
  S3_REGION: z.string().min(1),
  OBJECT_STORE_TIMEOUT_MS: intIn(100, 3_600_000),
  AMBIGUITY_MARGIN: decimal(false).pipe(z.number().min(0).max(1)),
  BODY_LIMIT_BYTES: intIn(1024, MAX_CONTENT_LENGTH),
  UPLOAD_LIMIT_BYTES: intIn(1024, MAX_CONTENT_LENGTH),
  PULL_LIMIT_BYTES: intIn(1024, 2 ** 40),
  JOB_BODY_LIMIT_BYTES: intIn(1024, MAX_CONTENT_LENGTH),
  LINKAGE_CHUNK_COMPARISONS: intIn(1, 2 ** 52),
  WS_MAX_PAYLOAD: intIn(1024, 1 << 30),
  WS_MAX_BACKPRESSURE: intIn(1024, 1 << 30),
  WS_MAX_IN_FLIGHT: intIn(1, 100_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  ANCHORING: z.enum(['anvil', 'rpc', 'off']),
  ETH_RPC_URL: urlWith('https:', 'http:'),
  ANCHOR_CHAIN_ID: intIn(1, 2 ** 31),
  ANCHOR_CONTRACT: optionalText.pipe(
    z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, 'expected 0x and 40 hex digits')
      .optional(),
  ),
  ANCHOR_PRIVATE_KEY: optionalText,
  ANCHOR_DEPLOY_BLOCK: optionalText.pipe(intIn(0, Number.MAX_SAFE_INTEGER).optional()),
  ANCHOR_PUBLIC_RPC_URL: optionalText.pipe(z.string().url().optional()),
  ANCHOR_MIN_SIZE_DELTA: intIn(1, 1e9),
  ANCHOR_MAX_INTERVAL_MS: intIn(1000, 7 * 86_400_000),
  ANCHOR_POLL_MS: intIn(100, 3_600_000),
  DEMO_RECORDS: intIn(0, 50_000_000),
  DEMO_PAGE: z.enum(['auto', 'true', 'false']),
  CONFIG_FILE: optionalText,
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface BrokerConfig {
  port: number;
  host: string;
  tls?: { certFile: string; keyFile: string };
  stateDir: string;
  databaseUrl?: string;
  pgliteDataDir?: string;
  redisUrl?: string;
  cacheLruEntries: number;
  identity: { issuer?: string; jwksUrl?: string; audience: string; algorithms: string[]; localIssuer: string };
  masterKey?: string;
  policy: { bundle?: string; keyFile?: string; keyAlg: string; reloadMs: number };
  engine: { threads?: number; simd?: boolean };
  audit: {
    origin: string;
    urlPrefix?: string;
    checkpointLeaves: number;
    checkpointMs: number;
    cacheBytes: number;
    public: boolean;
    signingKey?: string;
    signingKeyFile?: string;
    witnesses: { url: string; key: string }[];
  };
  /** Where dataset pulls read from: an S3 API, or a local folder when no endpoint is set. */
  objects: {
    s3?: { endpoint: string; bucket: string; accessKey: string; secretKey: string; region: string };
    folder: string;
    timeoutMs: number;
  };
  ambiguityMargin: number;
  /** Most milliseconds a worker may run the encoding of a verification's record (server/verification/service.ts). */
  encodeDeadlineMs: number;
  /** Comparisons one chunk of a linkage job is sized to (server/linkage/jobs.ts). */
  linkageChunkComparisons: number;
  limits: {
    body: number;
    upload: number;
    /** PULL_LIMIT_BYTES: a pulled object is not an HTTP body, so it may exceed MAX_CONTENT_LENGTH. */
    pull: number;
    jobBody: number;
    wsPayload: number;
    wsBackpressure: number;
    wsInFlight: number;
  };
  anchoring: {
    mode: 'anvil' | 'rpc' | 'off';
    rpcUrl?: string;
    chainId: number;
    contract?: string;
    privateKey?: string;
    deployBlock?: number;
    publicRpcUrl?: string;
    minSizeDelta: number;
    maxIntervalMs: number;
    pollMs: number;
  };
  logLevel: RawConfig['LOG_LEVEL'];
  demoRecords: number;
  demoPage: RawConfig['DEMO_PAGE'];
}

/**
 * The engine settings alone (ENGINE_THREADS, ENGINE_SIMD), which the command line honours as the broker
 * does without needing the broker's whole configuration to be valid.
 */
export function engineSettings(env: Record<string, string | undefined> = process.env): {
  threads?: number;
  simd?: boolean;
} {
  const r = ConfigSchema.pick({ ENGINE_THREADS: true, ENGINE_SIMD: true }).safeParse({
    ENGINE_THREADS: env.ENGINE_THREADS ?? '',
    ENGINE_SIMD: env.ENGINE_SIMD ?? '',
  });
  if (!r.success) throw settingIssues(r.error.issues);
  return {
    ...(r.data.ENGINE_THREADS !== undefined ? { threads: r.data.ENGINE_THREADS } : {}),
    ...(r.data.ENGINE_SIMD !== undefined ? { simd: r.data.ENGINE_SIMD === 'true' } : {}),
  };
}

/**
 * A setting's value, or undefined when it is unset, empty or blank: an empty value counts as unset, so the
 * CONFIG_FILE value or the default applies. docker-compose passes `PORT: ${PORT}` with PORT unset as an empty
 * PORT, which was read as 0 (a random port) and, in the environment, hid the CONFIG_FILE's value.
 */
export function settingValue(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * Reads settings from `env` (default process.env) over the optional
 * CONFIG_FILE over the defaults; an empty value in either counts as unset
 * (settingValue). `overrides` (tests) win over everything, as given.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<string, string>> = {},
): BrokerConfig {
  const merged: Record<string, string> = {};
  for (const s of SETTINGS) merged[s.env] = s.default;
  const file = settingValue(overrides.CONFIG_FILE ?? env.CONFIG_FILE)?.trim();
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new PavilionError('CONFIG_INVALID', 'CONFIG_FILE: cannot read a JSON object from the file');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new PavilionError('CONFIG_INVALID', 'CONFIG_FILE: expected a JSON object');
    for (const [k, v] of Object.entries(parsed)) {
      // A misspelt key is refused, not ignored: {"PROT": 18150} started a broker on the default port.
      if (!Object.hasOwn(merged, k))
        throw new PavilionError('CONFIG_INVALID', `CONFIG_FILE: ${JSON.stringify(k.slice(0, 64))} is not a setting`);
      const text = settingValue(typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
      if (text !== undefined) merged[k] = text;
    }
  }
  for (const s of SETTINGS) {
    const v = settingValue(env[s.env]);
    if (v !== undefined) merged[s.env] = v;
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;

  const r = ConfigSchema.safeParse(merged);
  if (!r.success) throw settingIssues(r.error.issues);
  const c = r.data;
  // Without OIDC_ISSUER no `iss` is checked: any token the key set verifies would be let in, whoever issued it
  // (an IdP serving one key set for several realms or tenants). A probe with JWKS_URL alone was let in with
  // tokens of three issuers and none; docs/operations.md, "Bringing your own realm".
  if (c.JWKS_URL && !c.OIDC_ISSUER)
    throw invalidSettings([['JWKS_URL', 'needs OIDC_ISSUER, the `iss` its tokens must carry']]);
  if (!!c.TLS_CERT_FILE !== !!c.TLS_KEY_FILE)
    throw new PavilionError('CONFIG_INVALID', 'TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  return {
    port: c.PORT,
    host: c.HOST,
    tls: c.TLS_CERT_FILE && c.TLS_KEY_FILE ? { certFile: c.TLS_CERT_FILE, keyFile: c.TLS_KEY_FILE } : undefined,
    stateDir: c.STATE_DIR,
    databaseUrl: c.DATABASE_URL,
    pgliteDataDir: c.PGLITE_DATA_DIR,
    redisUrl: c.REDIS_URL,
    cacheLruEntries: c.CACHE_LRU_ENTRIES,
    identity: {
      issuer: c.OIDC_ISSUER,
      jwksUrl: c.JWKS_URL,
      audience: c.OIDC_AUDIENCE,
      algorithms: c.JWT_ALGORITHMS,
      localIssuer: c.LOCAL_ISSUER,
    },
    masterKey: c.MASTER_KEY,
    policy: {
      bundle: c.POLICY_BUNDLE,
      keyFile: c.POLICY_BUNDLE_KEY,
      keyAlg: c.POLICY_BUNDLE_KEY_ALG,
      reloadMs: c.POLICY_RELOAD_MS,
    },
    engine: { threads: c.ENGINE_THREADS, simd: c.ENGINE_SIMD === undefined ? undefined : c.ENGINE_SIMD === 'true' },
    audit: {
      origin: c.AUDIT_ORIGIN ?? (c.AUDIT_URL_PREFIX ? originFromPrefix(c.AUDIT_URL_PREFIX) : 'pavilion.local/audit'),
      ...(c.AUDIT_URL_PREFIX ? { urlPrefix: c.AUDIT_URL_PREFIX } : {}),
      ...(c.AUDIT_SIGNING_KEY ? { signingKey: c.AUDIT_SIGNING_KEY } : {}),
      ...(c.AUDIT_SIGNING_KEY_FILE ? { signingKeyFile: c.AUDIT_SIGNING_KEY_FILE } : {}),
      witnesses: parseWitnesses(c.AUDIT_WITNESSES),
      checkpointLeaves: c.AUDIT_CHECKPOINT_LEAVES,
      checkpointMs: c.AUDIT_CHECKPOINT_MS,
      cacheBytes: c.AUDIT_CACHE_MB * 2 ** 20,
      public: c.AUDIT_PUBLIC === 'true',
    },
    objects: {
      ...(c.S3_ENDPOINT
        ? {
            s3: {
              endpoint: c.S3_ENDPOINT,
              bucket: c.S3_BUCKET,
              accessKey: c.S3_ACCESS_KEY ?? '',
              secretKey: c.S3_SECRET_KEY ?? '',
              region: c.S3_REGION,
            },
          }
        : {}),
      folder: join(c.STATE_DIR, 'objects'),
      timeoutMs: c.OBJECT_STORE_TIMEOUT_MS,
    },
    ambiguityMargin: c.AMBIGUITY_MARGIN,
    encodeDeadlineMs: c.ENCODE_DEADLINE_MS,
    linkageChunkComparisons: c.LINKAGE_CHUNK_COMPARISONS,
    limits: {
      body: c.BODY_LIMIT_BYTES,
      upload: c.UPLOAD_LIMIT_BYTES,
      pull: c.PULL_LIMIT_BYTES,
      jobBody: c.JOB_BODY_LIMIT_BYTES,
      wsPayload: c.WS_MAX_PAYLOAD,
      wsBackpressure: c.WS_MAX_BACKPRESSURE,
      wsInFlight: c.WS_MAX_IN_FLIGHT,
    },
    anchoring: {
      mode: c.ANCHORING,
      rpcUrl: c.ETH_RPC_URL,
      chainId: c.ANCHOR_CHAIN_ID,
      contract: c.ANCHOR_CONTRACT,
      privateKey: c.ANCHOR_PRIVATE_KEY,
      deployBlock: c.ANCHOR_DEPLOY_BLOCK,
      publicRpcUrl: c.ANCHOR_PUBLIC_RPC_URL,
      minSizeDelta: c.ANCHOR_MIN_SIZE_DELTA,
      maxIntervalMs: c.ANCHOR_MAX_INTERVAL_MS,
      pollMs: c.ANCHOR_POLL_MS,
    },
    logLevel: c.LOG_LEVEL,
    demoRecords: c.DEMO_RECORDS,
    demoPage: c.DEMO_PAGE,
  };
}

/** C2SP tlog-checkpoint: the origin SHOULD be the log's URL prefix without the scheme. */
function originFromPrefix(prefix: string): string {
  return prefix.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
}

const WitnessList = z.array(z.object({ url: z.string().url(), key: z.string().min(1) }).strict());

function parseWitnesses(text: string | undefined): { url: string; key: string }[] {
  if (!text) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalidSettings([['AUDIT_WITNESSES', 'not JSON']]);
  }
  const r = WitnessList.safeParse(json);
  if (!r.success) throw invalidSettings([['AUDIT_WITNESSES']]);
  return r.data;
}

/** The settings table for the README. */
export function settingsMarkdown(): string {
  const rows = SETTINGS.map(
    (s) => `| \`${s.env}\` | ${s.default === '' ? '—' : `\`${s.default}\``} | ${s.description} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
