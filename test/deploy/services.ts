/**
 * The real services of the production stack for tests: Keycloak, Prometheus
 * and a signature-checking S3 (moto's server). `.ci/run` starts them (or puts
 * their binaries in reach) and exports where they are; a laptop `npm test`
 * without them skips those tests with a message saying what to start, and
 * with `CI` set they fail instead (as the Redis tests do, test/cache/redis-server.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { type Broker, startBroker } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import { dropTestDatabase } from '../server/helpers.js';

export const MUST_RUN = Boolean(process.env.CI);

export interface ServiceNeed {
  /** Environment variable that says where the service is (or its binary). */
  env: string;
  /** What to run to have it, for the skip message. */
  hint: string;
}

export const KEYCLOAK: ServiceNeed = {
  env: 'KEYCLOAK_URL',
  hint:
    'start Keycloak with deploy/keycloak/pavilion-realm.json (.ci/run does: kc.sh start-dev --import-realm) and set ' +
    'KEYCLOAK_URL=http://127.0.0.1:<port>, KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD',
};
export const PROMETHEUS: ServiceNeed = {
  env: 'PROMETHEUS_BIN',
  hint: 'install prometheus (Debian: apt-get install prometheus) and set PROMETHEUS_BIN and PROMTOOL_BIN',
};
export const MOTO: ServiceNeed = {
  env: 'MOTO_SERVER_BIN',
  hint: "pip install 'moto[server]' and set MOTO_SERVER_BIN to its moto_server (.ci/run does)",
};

/** The service's location, or undefined (the caller skips, or fails under CI). */
export function serviceLocation(need: ServiceNeed): string | undefined {
  const value = process.env[need.env];
  return value === undefined || value === '' ? undefined : value;
}

export function missingMessage(need: ServiceNeed): string {
  return `${need.env} is not set: ${need.hint}. Skipped without it, except when CI is set, where it fails.`;
}

/** For beforeAll: the location, or a thrown error naming what is missing (reached only under CI). */
export function requireService(need: ServiceNeed): string {
  const location = serviceLocation(need);
  if (location === undefined) throw new Error(missingMessage(need));
  return location;
}

export interface RunningBroker {
  broker: Broker;
  url: string;
  databaseUrl: string | undefined;
  logs: string[];
  close(opts?: { keepDatabase?: boolean }): Promise<void>;
}

/**
 * A broker on an ephemeral port with the given settings. On a real Postgres
 * (DATABASE_URL) it gets a database of its own unless the overrides name one.
 */
export async function startBrokerWith(overrides: Record<string, string>): Promise<RunningBroker> {
  let databaseUrl = overrides.DATABASE_URL;
  let created = false;
  if (databaseUrl === undefined && process.env.DATABASE_URL) {
    databaseUrl = await createTestDatabase(process.env.DATABASE_URL);
    created = true;
  }
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const config = loadConfig(
    {},
    {
      PORT: '0',
      HOST: '127.0.0.1',
      STATE_DIR: mkdtempSync(join(tmpdir(), 'pavilion-deploy-test-')),
      ENGINE_THREADS: '1',
      AUDIT_CHECKPOINT_MS: '200',
      AUDIT_CHECKPOINT_LEAVES: '10',
      ANCHORING: 'off',
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...overrides,
    },
  );
  const broker = await startBroker(config, { logger });
  return {
    broker,
    url: broker.url,
    databaseUrl,
    logs,
    async close(opts = {}) {
      await broker.close();
      if (created && databaseUrl && !opts.keepDatabase) await dropTestDatabase(databaseUrl);
    },
  };
}

/** A new empty database on the server of `serverUrl`; its URL. */
export async function createTestDatabase(serverUrl: string, prefix = 'pv_deploy_test'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
