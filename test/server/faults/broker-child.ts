/**
 * A broker in a process of its own for the fault tests, so that "the process stays up" is observed:
 * started like every test broker (test/server/helpers.ts) on CHILD_DATABASE_URL, it prints one JSON line
 * `{"url", "tokens"}` and serves until SIGTERM. Its log goes to stderr.
 */
import { startTestBroker } from '../helpers.js';

const t = await startTestBroker({ DATABASE_URL: process.env.CHILD_DATABASE_URL!, LOG_LEVEL: 'warn' });
process.stdout.write(`${JSON.stringify({ url: t.url, tokens: t.tokens })}\n`);
const forward = setInterval(() => {
  for (const line of t.logs.splice(0)) if (/"level":(40|50|60)/.test(line)) process.stderr.write(line);
}, 100);
process.on('SIGTERM', () => {
  clearInterval(forward);
  t.broker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
