/**
 * `npm start`: the broker on embedded defaults (or whatever the environment
 * configures), a generated demo dataset of synthetic people, a development
 * token and a curl line that verifies a demo person. SIGINT/SIGTERM stop it
 * gracefully: stop accepting, finish in-flight requests, flush the audit log.
 */
import { isPavilionError } from '../common/errors.js';
import type { PersonRow } from '../demo/people.js';
import { databaseUnavailable, loggableError } from '../storage/postgres.js';
import { startBroker } from './app.js';
import { loadConfig } from './config.js';
import { DEMO_DATASET, demoQuery, loadDemoDataset } from './demo.js';
import { developmentHints } from './routes/demo-page.js';

/**
 * Set by the first SIGINT/SIGTERM once the broker is up. What main() still does then (loading the demo dataset)
 * fails as the engine and database close under it; the shutdown, not that failure, decides the exit status.
 */
let stopping = false;

async function main(): Promise<void> {
  const config = loadConfig();
  const broker = await startBroker(config);
  const log = broker.log;

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    broker.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  if (config.demoRecords > 0) {
    const t = performance.now();
    const demo = await loadDemoDataset(broker, config.demoRecords);
    log.info(
      {
        dataset: DEMO_DATASET,
        version: demo.version,
        rows: demo.people.length,
        secretFingerprint: demo.fingerprint,
        ms: Math.round(performance.now() - t),
      },
      'demo dataset of synthetic people loaded',
    );
    if (broker.localIdentity) {
      const token = await broker.localIdentity.mint({ sub: 'demo-rp', roles: ['rp'], ttlSec: 12 * 3600 });
      const clk = await demoQuery(broker, demo, Math.floor(demo.people.length / 2));
      const body = JSON.stringify({
        dataset: DEMO_DATASET,
        clk,
        claims: ['over_18', 'over_21'],
        purpose: 'age_verification',
      });
      process.stdout.write(
        [
          '',
          listeningLine(broker),
          '',
          'Development token (role rp, subject demo-rp, 12 h):',
          token,
          '',
          `Demo dataset: version ${demo.version}, ${demo.people.length} synthetic people, linkage secret fingerprint ` +
            `${demo.fingerprint}`,
          '(the same STATE_DIR gives the same people and secret on every start: this curl line keeps matching).',
          '',
          // Someone to look for: a new user typing their own name on the demo page always got no_match.
          `A demo person to type on ${broker.url}/demo/ or put in a CSV for pavilion verify (synthetic): ` +
            demoPerson(demo.people[0]!),
          '',
          'Verify a demo person (a synthetic record re-typed with a surname typo):',
          `curl -s -H "authorization: Bearer ${token}" -H 'content-type: application/json' \\`,
          `  -d '${body}' \\`,
          `  ${broker.url}/v1/verifications`,
          '',
        ].join('\n'),
      );
    }
  } else {
    process.stdout.write(`\n${listeningLine(broker)}\n\n`);
  }
  if (broker.localIdentity) process.stdout.write(developmentHints(config, broker));
}

/** A demo row as the schema's fields name it, for the banner. */
function demoPerson([, givenName, surname, dob, postcode]: PersonRow): string {
  return `given_name ${givenName}, surname ${surname}, dob ${dob}, postcode ${postcode}`;
}

/** The URL to use first (tests and scripts take the token after "listening on"); the bound address when it differs. */
function listeningLine(broker: { url: string; listenAddress: string }): string {
  const bound = broker.url.endsWith(`//${broker.listenAddress}`) ? '' : ` (bound to ${broker.listenAddress})`;
  return `Pavilion broker listening on ${broker.url}${bound}`;
}

/**
 * What a failed start prints: `pavilion: CODE: message` on one line, as every `pavilion` command does (cli/main.ts).
 * An unreachable database, or an embedded one that failed to start (storage/embedded-server.ts), is
 * DATABASE_UNAVAILABLE; a PGLITE_DATA_DIR that cannot be a data folder is CONFIG_INVALID. Any other error without a
 * code (a bug, a database error nothing expected) is INTERNAL, followed by its stack for the report. The stack, not
 * the whole object: a library's error may carry its input as a property (postgres's "Invalid URL" holds the
 * database URL, password included), and inspecting it would print that; and a Postgres error as the broker logs it
 * (its SQLSTATE, no message that could quote values).
 */
function startFailure(err: unknown): string {
  const coded = isPavilionError(err) ? err : databaseUnavailable(err, 'start');
  if (coded) return `pavilion: ${coded.code}: ${coded.message}`;
  const safe = loggableError(err);
  return `pavilion: INTERNAL: the broker failed to start\n${safe instanceof Error ? safe.stack : String(safe)}`;
}

main().catch((err) => {
  if (stopping) return;
  console.error(startFailure(err));
  process.exit(1);
});
