/**
 * A broker process for the crash test: appends events forever through its own
 * Postgres connection and prints `ack <index> <leaf hash hex>` for each append
 * whose transaction committed. The parent SIGKILLs it mid-stream.
 *
 * env: CHILD_DATABASE_URL, CHILD_SEARCH_PATH, CHILD_SIGNER_KEY.
 */
import postgres from 'postgres';
import { openAuditLog } from '../../audit/index.js';

const sql = postgres(process.env.CHILD_DATABASE_URL!, {
  max: 2,
  onnotice: () => {},
  connection: { search_path: process.env.CHILD_SEARCH_PATH! },
});
const log = await openAuditLog({
  sql,
  origin: 'pavilion.test/audit',
  signerKey: process.env.CHILD_SIGNER_KEY!,
  maxBatch: 64,
});
process.stdout.write('ready\n');

let n = 0;
async function worker(): Promise<void> {
  for (;;) {
    const i = n++;
    const r = await log.append({ type: 'crash-test', pid: process.pid, i });
    process.stdout.write(`ack ${r.index} ${Buffer.from(r.leafHash).toString('hex')}\n`);
  }
}
await Promise.all(Array.from({ length: 32 }, worker));
