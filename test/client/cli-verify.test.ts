/**
 * `pavilion verify` (cli/verify.ts), the CLI's use of the client library, as
 * a person runs it against a real broker: rows encoded locally, answers and
 * verified receipts as JSON lines in row order, a failing row reported with
 * its code (and exit 1) without its values.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pavilion } from '../../client/index.js';
import { fromRoot } from '../../common/paths.js';
import { loadDemoSchema, syntheticPeople, withTypo } from '../../demo/people.js';
import { api, startTestBroker, type TestBroker } from '../server/helpers.js';

const run = promisify(execFile);
let t: TestBroker;
let dir: string;
const SECRET = 'cli-verify-secret';
const people = syntheticPeople(200, 3);

beforeAll(async () => {
  t = await startTestBroker();
  dir = mkdtempSync(join(tmpdir(), 'pavilion-cli-verify-'));
  const schema = loadDemoSchema();
  const enc = new Pavilion({ url: t.url }).encoder(schema, SECRET);
  expect(
    (await api(t.url, 'PUT', '/v1/datasets/dmv', { token: t.tokens.dp, body: { schema, claims: ['over_18'] } })).status,
  ).toBe(201);
  const jsonl = people.map((p) =>
    JSON.stringify({ ref: p[0], clk: Buffer.from(enc.encode(p)).toString('base64'), claims: { over_18: true } }),
  );
  const up = await api(t.url, 'POST', '/v1/datasets/dmv/versions', {
    token: t.tokens.dp,
    raw: `${jsonl.join('\n')}\n`,
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
});

afterAll(async () => {
  await t?.broker.close();
  rmSync(dir, { recursive: true, force: true });
});

async function pavilion(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', fromRoot('cli', 'main.ts'), ...args], {
      cwd: fromRoot(),
      env: { ...process.env, PAVILION_TOKEN: t.tokens.rp },
    });
    return { code: 0, ...r };
  } catch (err) {
    return err as { code: number; stdout: string; stderr: string };
  }
}

describe('pavilion verify', () => {
  it('encodes each row here, verifies it, checks its receipt; a bad row fails alone, without its values', async () => {
    const csv = join(dir, 'people.csv');
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, `${SECRET}\n`);
    const rows = [withTypo(people[10]!), people[20]!, ['x', 'zzqx', 'qqzv', '1901-01-01', '0000'], ['too', 'few']];
    writeFileSync(csv, `rec_id,given_name,surname,dob,postcode\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    const common = ['verify', '--server', t.url, '--dataset', 'dmv', '--secret-file', secret, '--in', csv];
    const r = await pavilion([...common, '--purpose', 'age_verification', '--claims', 'over_18', '--check-receipts']);
    expect(r.code).toBe(1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.row)).toEqual([1, 2, 3, 4]);
    expect(lines[0]).toMatchObject({ decision: 'match', claims: { over_18: true }, receipt_verified: true });
    expect(lines[1]).toMatchObject({ decision: 'match', receipt_verified: true });
    expect(lines[2]).toMatchObject({ decision: 'no_match', claims: {}, receipt_verified: true });
    expect(lines[3]).toEqual({
      row: 4,
      error: { code: 'RECORD_FIELD_COUNT', detail: '2 columns, the header has 5' },
    });
    expect(r.stdout).not.toContain('zzqx');

    const denied = await pavilion([...common, '--purpose', 'marketing']);
    expect(JSON.parse(denied.stdout.split('\n')[0]!)).toMatchObject({ row: 1, error: { code: 'POLICY_DENIED' } });
    const noDataset = await pavilion([
      ...common.slice(0, 3),
      '--dataset',
      'nope',
      ...common.slice(5),
      '--purpose',
      'kyc',
    ]);
    expect(noDataset.stderr).toMatch(/^pavilion: DATASET_NOT_FOUND: /);
  });
});
