/**
 * startBroker(config): the whole broker in one process — database (and
 * migrations), audit log, engine pool, cache, policy, identity, metrics, the
 * active datasets reloaded from the database, and the uWS front end serving
 * HTTP and WebSocket on one port (TLS when a certificate is configured).
 */

import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { type AuditLog, openAuditLog } from '../audit/index.js';
import { createCache } from '../cache/index.js';
import type { VerificationCache } from '../cache/verification-cache.js';
import { PavilionError } from '../common/errors.js';
import { PullStore } from '../datasets/pull-store.js';
import { DatasetStore } from '../datasets/store.js';
import { createEngine, type Engine } from '../engine/index.js';
import { createLocalIdentity, createVerifier, type LocalIdentity, type Verifier } from '../identity/index.js';
import { JobStore } from '../jobs/store.js';
import { loadPolicy } from '../policy/index.js';
import { FolderObjectStore, type ObjectStore, S3ObjectStore } from '../storage/object-store.js';
import { type Database, openDatabase } from '../storage/postgres.js';
import { ActiveDatasets } from './active-datasets.js';
import { startAnchoring } from './anchoring-wiring.js';
import type { BrokerConfig } from './config.js';
import type { BrokerContext, CachedOutcome } from './context.js';
import { DatasetPulls } from './dataset-pulls.js';
import { DatasetService } from './dataset-service.js';
import { HttpRouter } from './http.js';
import { LinkageJobs } from './linkage-jobs.js';
import { loadMasterKeys } from './master-key.js';
import { createBrokerMetrics } from './metrics-wiring.js';
import { PartyRegistry } from './parties.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerDatasetRoutes } from './routes/datasets.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerLinkageJobRoutes } from './routes/linkage-jobs.js';
import { registerPartyRoutes } from './routes/parties.js';
import { registerVerificationRoutes } from './routes/verifications.js';
import { tls13OnlyOptions } from './tls.js';
import { auditIdentifier, VerificationService } from './verification.js';
import { registerWebSocket } from './ws.js';

export interface Broker {
  port: number;
  /** http(s)://host:port */
  url: string;
  ctx: BrokerContext;
  /** The database connection (operators' tools and tests reach stored rows through it). */
  db: Database;
  datasets: DatasetService;
  /** The local development issuer (absent when OIDC_ISSUER/JWKS_URL is set). */
  localIdentity?: LocalIdentity;
  /** Registered routes (method, template), for the OpenAPI coverage test. */
  routes: { method: string; template: string }[];
  /** Stops accepting, lets in-flight requests and jobs finish, flushes the audit log, closes everything. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
}

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

export async function startBroker(config: BrokerConfig, opts: StartOptions = {}): Promise<Broker> {
  const log = opts.logger ?? pino({ level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' } });
  const cleanup: (() => Promise<unknown>)[] = [];
  const undo = async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
  };
  let closing = false;
  try {
    const keys = loadMasterKeys({ masterKey: config.masterKey, stateDir: config.stateDir, warn: (m) => log.warn(m) });

    const db: Database = await openDatabase({
      ...(config.databaseUrl ? { url: config.databaseUrl } : {}),
      ...(config.pgliteDataDir ? { dataDir: config.pgliteDataDir } : {}),
    });
    cleanup.push(() => db.close());
    const datasets = await DatasetStore.open(db.sql);
    const jobs = await JobStore.open(db.sql);
    const parties = await PartyRegistry.open(db.sql, log);

    const audit: AuditLog = await openAuditLog({
      sql: db.sql,
      origin: config.audit.origin,
      checkpointEvery: { leaves: config.audit.checkpointLeaves, ms: config.audit.checkpointMs },
      onBackgroundError: (err) => log.error({ err }, 'audit checkpoint failed'),
      cacheBytes: config.audit.cacheBytes,
    });
    // Proofs read the database until this finishes (about 1 s per million
    // entries); closing the log stops it between two reads.
    const warming = audit.warmCache().then(
      (hashes) => log.info({ hashes, bytes: audit.cachedBytes }, 'audit tree hashes held in memory'),
      (err) => log.warn({ err }, 'audit cache warm-up failed; proofs read the database'),
    );
    cleanup.push(() => warming);
    cleanup.push(() => audit.close());

    const engine: Engine = await createEngine({
      ...(config.engine.threads ? { threads: config.engine.threads } : {}),
      ...(config.engine.simd !== undefined ? { simd: config.engine.simd } : {}),
    });
    cleanup.push(() => engine.close());

    let redisUp = !config.redisUrl;
    const cache: VerificationCache<CachedOutcome> = await createCache<CachedOutcome>({
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      lruEntries: Math.max(1, config.cacheLruEntries),
      onStatus: (s) => {
        if (config.redisUrl && s.redisUp !== redisUp)
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

    const policy = await loadPolicy(config.policyWasm);

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
        'no OIDC_ISSUER or JWKS_URL: the broker is its own development token issuer (pavilion token --role rp --sub <name>)',
      );
    }

    const counters = { enginePending: 0 };
    const active = new ActiveDatasets(engine);
    const metrics = createBrokerMetrics({
      cacheStats: () => cache.stats(),
      datasetSizes: () => active.sizes(),
      auditSize: () => audit.size(),
      auditCacheBytes: () => audit.cachedBytes,
      enginePending: () => counters.enginePending,
      poolThreads: () => engine.threads,
      databasePing: () => db.sql`select 1`,
      latestCheckpoint: () => audit.latestCheckpoint(),
    });

    const anchoring = await startAnchoring(config, db.sql, audit, metrics);
    if (anchoring) {
      // Closed before the audit log and the database it reads (cleanup runs in reverse).
      cleanup.push(() => anchoring.close());
      log.info(
        { chain: anchoring.anchorer.chain, contract: anchoring.anchorer.contract, mode: config.anchoring.mode },
        'anchoring audit checkpoints',
      );
    }

    const ctx: BrokerContext = {
      config,
      log,
      engine,
      audit,
      cache,
      cacheStats: () => cache.stats(),
      policy,
      verifier,
      datasets,
      jobs,
      parties,
      active,
      keys,
      metrics,
      ...(localIdentity ? { localJwks: localIdentity.jwks } : {}),
      ...(anchoring ? { anchoring } : {}),
      async engineCall(task, fn) {
        counters.enginePending++;
        const t = performance.now();
        try {
          return await fn();
        } finally {
          counters.enginePending--;
          metrics.observePoolTask(task, (performance.now() - t) / 1000);
        }
      },
      auditId: (id) => auditIdentifier(id, keys.auditHashKey),
      async appendAudit(event) {
        const t = performance.now();
        const r = await audit.append(event);
        metrics.observeAuditAppend((performance.now() - t) / 1000);
        return r;
      },
      async ready() {
        const checks: Record<string, boolean> = {};
        checks.database = await db.sql`select 1`.then(
          () => true,
          () => false,
        );
        checks.audit = await audit.size().then(
          () => true,
          () => false,
        );
        checks.accepting = !closing;
        // Redis down degrades to the LRU (answers still served): reported, not fatal.
        const stats = cache.stats();
        if (stats.redisConfigured) checks.cache_redis = stats.redisUp;
        return { ok: checks.database! && checks.audit! && checks.accepting!, checks };
      },
    };

    const datasetService = new DatasetService(ctx);
    const objects: ObjectStore = config.objects.s3
      ? new S3ObjectStore(config.objects.s3)
      : new FolderObjectStore(config.objects.folder);
    const pullStore = await PullStore.open(db.sql);
    const pulls = new DatasetPulls(ctx, datasetService, pullStore, objects);
    cleanup.push(() => pulls.close());
    log.info({ objects: objects.location }, 'dataset pulls read from the object store');
    const verification = new VerificationService(ctx);
    const linkage = new LinkageJobs(ctx, verification);
    cleanup.push(() => linkage.close());

    const reloaded = await datasetService.reloadAll();
    for (const r of reloaded) log.info(r, 'dataset version reloaded');
    linkage.startHeartbeat();
    if (!db.embedded) {
      // Several broker processes may share this database: follow the dataset
      // changes the others commit (uploads, deletions, definitions, secrets).
      const follow = (id: string) =>
        datasetService.refresh(id).then(
          () => verification.forgetSecret(id),
          (err) => log.warn({ err, dataset: id }, 'could not follow a dataset change'),
        );
      const unlisten = await datasets.listenForChanges(
        (id) => void follow(id),
        // Also on reconnect: changes made while the connection was down sent no message here.
        () =>
          void datasetService.knownIds().then(
            (ids) => Promise.all(ids.map(follow)),
            (err) => log.warn({ err }, 'could not re-read datasets'),
          ),
      );
      cleanup.push(() => unlisten());
    }

    // ---- front end
    let inFlight = 0;
    let idle: (() => void) | null = null;
    const app: TemplatedApp = config.tls
      ? uWS.SSLApp(tls13OnlyOptions(config.tls.certFile, config.tls.keyFile))
      : uWS.App();
    const router = new HttpRouter(app, {
      observeRequest: (route, method, status, seconds) => metrics.observeRequest(route, method, status, seconds),
      unexpected: (err, route) => log.error({ err, route }, 'request failed unexpectedly'),
      onStart: () => {
        inFlight++;
      },
      onEnd: () => {
        if (--inFlight === 0 && idle) idle();
      },
      isClosing: () => closing,
    });
    registerHealthRoutes(router, ctx);
    registerDatasetRoutes(router, ctx, datasetService, verification, pulls);
    registerVerificationRoutes(router, ctx, verification);
    registerLinkageJobRoutes(router, ctx, linkage);
    registerAuditRoutes(router, ctx);
    registerPartyRoutes(router, ctx);
    const sockets = registerWebSocket(app, ctx, verification, linkage, (_type, status, seconds) =>
      metrics.observeRequest('/v1/ws', 'WS', status, seconds),
    );
    router.finish();
    metrics.registerRoutes(...router.routes.map((r) => r.template), '/v1/ws', '/*');

    const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen(config.host, config.port, (s) =>
        s
          ? resolve(s)
          : reject(new PavilionError('LISTEN_FAILED', `cannot listen on ${config.host}:${config.port}`, 500)),
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
      ctx,
      db,
      datasets: datasetService,
      ...(localIdentity ? { localIdentity } : {}),
      routes: router.routes,
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
