/**
 * startBroker(config): the whole broker in one process, and the one place that wires it. Every part is
 * built here from the settings (server/config.ts) and handed exactly what it uses: the database (and
 * migrations), the audit log, the engine pool, the cache, the policy, identity, metrics, the datasets
 * reloaded from the database, and the uWS front end serving HTTP and WebSocket on one port (TLS when a
 * certificate is configured). docs/architecture.md draws the result.
 */

import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type Logger, pino, stdSerializers } from 'pino';
import { type AuditLog, logSigningOptions, openAuditLog } from '../audit/index.js';
import { createCache } from '../cache/index.js';
import type { CacheStats } from '../cache/verification-cache.js';
import { withDeadline } from '../common/deadline.js';
import { PavilionError } from '../common/errors.js';
import { createEngine, type Engine } from '../engine/index.js';
import { createLocalIdentity, createVerifier, type LocalIdentity, type Verifier } from '../identity/index.js';
import { FolderObjectStore, type ObjectStore, S3ObjectStore } from '../storage/object-store.js';
import { type Database, loggableError, openDatabase } from '../storage/postgres.js';
import type { BrokerConfig } from './config.js';
import { ActiveDatasets } from './datasets/active-datasets.js';
import { LinkageSecrets } from './datasets/linkage-secrets.js';
import { PullStore } from './datasets/pull-store.js';
import { DatasetPulls } from './datasets/pulls.js';
import { DatasetService } from './datasets/service.js';
import { DatasetStore } from './datasets/store.js';
import { bearerAuthenticator } from './http/auth.js';
import { openApiDocument } from './http/openapi.js';
import { HttpRouter } from './http/router.js';
import { tls13OnlyOptions } from './http/tls.js';
import { LinkageJobs } from './linkage/jobs.js';
import { openLinkageQueue } from './linkage/queue.js';
import { JobStore } from './linkage/store.js';
import { PartyRegistry } from './parties/registry.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerDatasetRoutes } from './routes/datasets.js';
import { serveDemoPage } from './routes/demo-page.js';
import { type ReadinessReport, registerHealthRoutes } from './routes/health.js';
import { registerLinkageJobRoutes } from './routes/linkage-jobs.js';
import { registerPartyRoutes } from './routes/parties.js';
import { registerPolicyRoutes } from './routes/policy.js';
import { registerVerificationRoutes } from './routes/verifications.js';
import { registerWebSocket } from './routes/ws.js';
import { AuditTrail } from './support/audit-trail.js';
import { loadMasterKeys, type MasterKeys, proveMasterKey } from './support/master-keys.js';
import { MeteredEngine } from './support/metered-engine.js';
import { OutageLog } from './support/outage-log.js';
import type { DecisionOutcome } from './verification/decision.js';
import { type VerificationCacheOf, VerificationService } from './verification/service.js';
import { startAnchoring } from './wiring/anchoring.js';
import { createBrokerMetrics } from './wiring/metrics.js';
import { openBrokerPolicy } from './wiring/policy.js';

/** The parts a running broker is made of, for operators' tools, the demo loader and tests. */
export interface BrokerParts {
  log: Logger;
  db: Database;
  audit: AuditLog;
  engine: Engine;
  cache: VerificationCacheOf;
  cacheStats(): CacheStats;
  datasetStore: DatasetStore;
  jobStore: JobStore;
  datasets: DatasetService;
  keys: MasterKeys;
}

export interface Broker extends BrokerParts {
  port: number;
  /** http(s)://host:port, as a client on this machine reaches it. */
  url: string;
  /** What the broker listens on: HOST:PORT (`0.0.0.0:8080` means every interface). */
  listenAddress: string;
  /** The local development issuer (absent when OIDC_ISSUER/JWKS_URL is set). */
  localIdentity?: LocalIdentity;
  /** Registered routes (method, template), for the OpenAPI coverage test. */
  routes: { method: string; template: string }[];
  /** Stops accepting, lets in-flight requests and jobs finish, flushes the audit log, closes everything. */
  close(): Promise<void>;
}

/**
 * uWS.LIBUS_LISTEN_EXCLUSIVE_PORT and the listen() overload that takes it, which this build's typings lack (the
 * native module has both: a second listen on a taken port then fails instead of sharing it).
 */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
interface ExclusiveListen {
  listen(host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void): void;
}

export interface StartOptions {
  logger?: Logger;
}

/** The longest a readiness check waits for the database (GET /readyz answers within about this). */
const READY_CHECK_MS = 1000;

/** Logged objects never carry request bodies; these paths are redacted in case an error object drags headers along. */
const REDACT = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  'secret',
  'record',
  'clk',
];

function listenFailed(config: BrokerConfig): PavilionError {
  return new PavilionError(
    'LISTEN_FAILED',
    `cannot listen on ${config.host}:${config.port}: the port is taken (another broker?) or the address is not ` +
      'this machine; set PORT or HOST',
  );
}

/**
 * Refuses a port that is taken before the start-up's work rather than after it: a second `npm start` said
 * LISTEN_FAILED only after 7 s of database, chain and demo set-up, whose shutdown then logged a stack. The
 * listen at the end still decides (another process may take the port in between).
 */
async function portFree(config: BrokerConfig): Promise<void> {
  if (config.port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', () => reject(listenFailed(config)));
    probe.listen({ host: config.host, port: config.port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export async function startBroker(config: BrokerConfig, opts: StartOptions = {}): Promise<Broker> {
  // Every error logged as `err` goes through loggableError first: a database error quotes the rows it
  // failed on (its detail, where, the message itself), and pino's own serialiser logs all of it.
  const log = (opts.logger ?? pino({ level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' } })).child(
    {},
    { serializers: { err: (err: unknown) => stdSerializers.err(loggableError(err) as Error) } },
  );
  const cleanup: (() => Promise<unknown>)[] = [];
  const undo = async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
  };
  let closing = false;
  let databaseBack = () => {};
  try {
    await portFree(config);
    const keys = loadMasterKeys({ masterKey: config.masterKey, stateDir: config.stateDir, warn: (m) => log.warn(m) });

    const db = await openDatabase({
      ...(config.databaseUrl ? { url: config.databaseUrl } : {}),
      ...(config.pgliteDataDir ? { dataDir: config.pgliteDataDir } : {}),
      onReachability: (up) => {
        if (!up) return log.error('Postgres does not answer: requests that need it get 503 DATABASE_UNAVAILABLE');
        log.warn('Postgres answers again');
        // Cover what was acknowledged before the outage without waiting for the next tick.
        databaseBack();
      },
    });
    cleanup.push(() => db.close());
    const datasetStore = await DatasetStore.open(db.sql);
    const jobStore = await JobStore.open(db.sql);
    // Before anything opens a sealed value or takes a linkage chunk: a broker with another MASTER_KEY than the
    // database's stops here (SECRET_UNREADABLE) instead of failing the secrets and chunks it touches.
    if ((await proveMasterKey(db.sql, keys)) === 'written') log.info('master key check written to the database');
    const pullStore = await PullStore.open(db.sql);
    const parties = await PartyRegistry.open(db.sql, log);

    const signing = logSigningOptions({ ...config.audit, stateDir: config.stateDir });
    const checkpointFailures = new OutageLog(log, 'audit checkpoint');
    const audit = await openAuditLog({
      sql: db.sql,
      origin: config.audit.origin,
      ...(signing.signerKey ? { signerKey: signing.signerKey, keySetting: signing.source } : {}),
      ...(signing.developmentKeyFile ? { developmentKeyFile: signing.developmentKeyFile } : {}),
      witnesses: config.audit.witnesses,
      onCosigned: (size, o) => {
        if (o.failures.length > 0)
          log.warn({ size, cosignedBy: o.cosignedBy, failures: o.failures }, 'witnesses missing');
      },
      checkpointEvery: { leaves: config.audit.checkpointLeaves, ms: config.audit.checkpointMs },
      onBackgroundError: (err) => checkpointFailures.failed(err),
      onBackgroundSuccess: () => checkpointFailures.succeeded(),
      cacheBytes: config.audit.cacheBytes,
    });
    // Proofs read the database until this finishes (about 1 s per million
    // entries); closing the log stops it between two reads.
    const warming = audit.warmCache().then(
      (hashes) => log.info({ hashes, bytes: audit.cachedBytes }, 'audit tree hashes held in memory'),
      (err) => log.warn({ err }, 'audit cache warm-up failed; proofs read the database'),
    );
    cleanup.push(() => warming);
    log.info(
      { origin: audit.origin, verifierKeys: audit.verifierKeys, keySource: signing.source, witnesses: audit.witnesses },
      'audit log signing key',
    );
    if (signing.source === 'STATE_DIR')
      log.warn('AUDIT_SIGNING_KEY unset: checkpoints are signed with the development key kept in STATE_DIR');
    cleanup.push(() => audit.close());
    databaseBack = () => audit.checkpointSoon();

    const engine = await createEngine({
      ...(config.engine.threads ? { threads: config.engine.threads } : {}),
      ...(config.engine.simd !== undefined ? { simd: config.engine.simd } : {}),
    });
    cleanup.push(() => engine.close());

    // Unknown until the first report: a Redis down from the start is warned about too (it was not, as "no change").
    let redisUp: boolean | undefined;
    const cache = await createCache<DecisionOutcome>({
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      lruEntries: Math.max(1, config.cacheLruEntries),
      onStatus: (s) => {
        if (config.redisUrl && s.redisUp !== redisUp && !(redisUp === undefined && s.redisUp))
          log.warn(
            { redisUp: s.redisUp },
            s.redisUp
              ? 'Redis reachable: cache shared again'
              : 'Redis unreachable: answers served uncached by Redis (LRU only)',
          );
        redisUp = s.redisUp;
      },
    });
    cleanup.push(() => cache.close());

    const policy = await openBrokerPolicy(config, log);
    cleanup.push(async () => policy.close());

    let localIdentity: LocalIdentity | undefined;
    let verifier: Verifier;
    if (config.identity.issuer || config.identity.jwksUrl) {
      verifier = createVerifier({
        ...(config.identity.issuer ? { issuer: config.identity.issuer } : {}),
        ...(config.identity.jwksUrl ? { jwksUrl: config.identity.jwksUrl } : {}),
        audience: config.identity.audience,
        algorithms: config.identity.algorithms,
      });
    } else {
      localIdentity = await createLocalIdentity({
        keyFile: join(config.stateDir, 'identity-key.json'),
        issuer: config.identity.localIssuer,
        audience: config.identity.audience,
      });
      verifier = localIdentity.verifier;
      log.warn(
        'no OIDC_ISSUER or JWKS_URL: the broker is its own development token issuer ' +
          '(pavilion token --role rp --sub <name>: the start banner gives the command)',
      );
    }

    const active = new ActiveDatasets(engine);
    const metered = new MeteredEngine(engine, (task, seconds) => metrics.observePoolTask(task, seconds));
    const metrics = createBrokerMetrics({
      cacheStats: () => cache.stats(),
      datasetSizes: () => active.sizes(),
      auditSize: () => audit.size(),
      auditCacheBytes: () => audit.cachedBytes,
      enginePending: () => metered.pending,
      poolThreads: () => engine.threads,
      databasePing: () => db.sql`select 1`,
      latestCheckpoint: () => audit.latestCheckpoint(),
      checkpointLag: () => audit.checkpointLagSeconds(),
    });
    const countComparisons = (n: number) => metrics.addDiceComparisons(n);

    const anchoring = await startAnchoring(config, db.sql, audit, metrics, log);
    if (anchoring) {
      // Closed before the audit log and the database it reads (cleanup runs in reverse).
      cleanup.push(() => anchoring.close());
      log.info({ ...anchoring.facts, mode: config.anchoring.mode }, 'anchoring audit checkpoints');
    }

    const trail = new AuditTrail(audit, keys.auditHashKey, policy, (seconds) => metrics.observeAuditAppend(seconds));
    const secrets = new LinkageSecrets(datasetStore, keys);
    const datasets = new DatasetService({ store: datasetStore, active, cache, secrets, trail, policy, log });
    cleanup.push(async () => datasets.close());
    const objects: ObjectStore = config.objects.s3
      ? new S3ObjectStore(config.objects.s3)
      : new FolderObjectStore(config.objects.folder);
    const pulls = new DatasetPulls({
      datasets,
      pulls: pullStore,
      objects,
      pullLimit: config.limits.pull,
      idleMs: config.objects.timeoutMs,
      log,
    });
    cleanup.push(() => pulls.close());
    log.info({ objects: objects.location }, 'dataset pulls read from the object store');
    const verification = new VerificationService({
      datasets: active,
      policy,
      cache,
      engine: metered,
      secrets,
      trail,
      cacheSecret: keys.cacheSecret,
      ambiguityMargin: config.ambiguityMargin,
      encodeDeadlineMs: config.encodeDeadlineMs,
      encodeTimedOut: (dataset) =>
        log.warn({ dataset }, 'a record sent for broker-side encoding ran past ENCODE_DEADLINE_MS on this schema'),
      countComparisons,
      observeVerification: (cached, seconds) => metrics.observeVerification(cached, seconds),
    });
    // The chunks of linkage jobs, shared by every broker on this database (pg-boss, in its own schema).
    const queue = await openLinkageQueue(db.sql, log);
    const linkage = new LinkageJobs({
      jobs: jobStore,
      datasets: active,
      policy,
      engine: metered,
      trail,
      keys,
      log,
      countComparisons,
      queue,
      chunkComparisons: config.linkageChunkComparisons,
    });
    cleanup.push(() => linkage.close());

    const reloaded = await datasets.reloadAll();
    for (const r of reloaded) log.info(r, 'dataset version reloaded');
    await linkage.startWorking();
    datasets.startHeartbeat();
    if (!db.embedded) {
      // Several broker processes may share this database: follow the dataset
      // changes the others commit (uploads, deletions, definitions, secrets).
      const follow = (id: string) =>
        datasets.refresh(id).catch((err) => log.warn({ err, dataset: id }, 'could not follow a dataset change'));
      const unlisten = await datasetStore.listenForChanges(
        (id) => void follow(id),
        // Also on reconnect: changes made while the connection was down sent no message here.
        () =>
          void datasets.knownIds().then(
            (ids) => Promise.all(ids.map(follow)),
            (err) => log.warn({ err }, 'could not re-read datasets'),
          ),
      );
      cleanup.push(() => unlisten());
    }

    // Readiness answers at once during an outage: a server known unreachable is not asked, and a check
    // that does not answer within READY_CHECK_MS counts as failed.
    const answers = (p: Promise<unknown>) =>
      withDeadline(p, READY_CHECK_MS, () => new Error('readiness check timed out')).then(
        () => true,
        () => false,
      );
    const ready = async (): Promise<ReadinessReport> => {
      const checks: Record<string, boolean> = {};
      const reachable = db.reachable();
      [checks.database, checks.audit] = reachable
        ? await Promise.all([answers(db.sql`select 1`.execute()), answers(audit.size())])
        : [false, false];
      checks.accepting = !closing;
      // Redis down degrades to the LRU (answers still served): reported, not fatal.
      const stats = cache.stats();
      if (stats.redisConfigured) checks.cache_redis = stats.redisUp;
      return { ok: checks.database! && checks.audit! && checks.accepting!, checks };
    };

    // ---- front end
    let inFlight = 0;
    let idle: (() => void) | null = null;
    const app: TemplatedApp = config.tls
      ? uWS.SSLApp(tls13OnlyOptions(config.tls.certFile, config.tls.keyFile))
      : uWS.App();
    const authenticate = bearerAuthenticator(verifier, parties);
    // Requests in flight, HTTP and WebSocket verifications alike: close() lets them finish before it ends the
    // sockets, and while it waits new ones are refused with SHUTTING_DOWN.
    const requests = {
      onStart: () => {
        inFlight++;
      },
      onEnd: () => {
        if (--inFlight === 0 && idle) idle();
      },
      isClosing: () => closing,
    };
    const router = new HttpRouter(
      app,
      {
        observeRequest: (route, method, status, seconds) => metrics.observeRequest(route, method, status, seconds),
        unexpected: (err, route) => log.error({ err, route }, 'request failed unexpectedly'),
        ...requests,
        databaseUnreachable: () => !db.reachable(),
      },
      authenticate,
    );
    registerHealthRoutes(router, {
      ready,
      metrics,
      openApiDocument: () => openApiDocument(router.routes),
      ...(localIdentity ? { localJwks: localIdentity.jwks } : {}),
    });
    registerDatasetRoutes(router, datasets, pulls, config.limits);
    registerVerificationRoutes(router, verification, config.limits);
    registerLinkageJobRoutes(router, linkage, config.limits);
    registerAuditRoutes(router, {
      audit,
      public: config.audit.public,
      party: (id) => trail.party(id),
      ...(anchoring ? { anchoring } : {}),
    });
    registerPartyRoutes(router, parties);
    registerPolicyRoutes(router, { policy, log });
    serveDemoPage(app, {
      config,
      log,
      localIdentity,
      datasets: datasetStore,
      secrets,
      embeddedDatabase: db.embedded,
    });
    const sockets = registerWebSocket(app, router, {
      authenticate,
      verification,
      jobs: linkage,
      log,
      requests,
      limits: config.limits,
      onRequest: (_type, status, seconds) => metrics.observeRequest('/v1/ws', 'WS', status, seconds),
    });
    router.finish();
    metrics.registerRoutes(...router.routes.map((r) => r.template), '/v1/ws', '/*');

    const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      // Exclusive: without it uWS binds with SO_REUSEPORT, and a second broker on a taken port would quietly
      // share its traffic instead of failing to start.
      (app as unknown as ExclusiveListen).listen(config.host, config.port, LIBUS_LISTEN_EXCLUSIVE_PORT, (s) =>
        s ? resolve(s) : reject(listenFailed(config)),
      );
    });
    const port = uWS.us_socket_local_port(listenSocket as never);
    const scheme = config.tls ? 'https' : 'http';
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `${scheme}://${host}:${port}`;
    log.info(
      {
        url,
        engine: { threads: engine.threads, kernel: engine.kernel },
        embeddedDatabase: db.embedded,
        redis: !!config.redisUrl,
        policy: policy.version,
      },
      'broker listening',
    );

    let closed: Promise<void> | null = null;
    return {
      port,
      url,
      listenAddress: `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      log,
      db,
      audit,
      engine,
      cache,
      cacheStats: () => cache.stats(),
      datasetStore,
      jobStore,
      datasets,
      keys,
      ...(localIdentity ? { localIdentity } : {}),
      routes: router.routes.map((r) => ({ method: r.methodName, template: r.template })),
      close() {
        closed ??= (async () => {
          closing = true;
          uWS.us_listen_socket_close(listenSocket);
          if (inFlight > 0)
            await new Promise<void>((resolve) => {
              idle = resolve;
              setTimeout(resolve, 10_000).unref();
            });
          sockets.closeAll();
          // A moment for the last answers to leave uWS's buffers, then end the
          // keep-alive connections, which outlive the listen socket; close()
          // is present in this uWS build though missing from its typings.
          await new Promise((resolve) => setTimeout(resolve, 50));
          (app as unknown as { close?: () => void }).close?.();
          await undo();
        })();
        return closed;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
