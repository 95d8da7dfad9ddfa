/**
 * `pavilion publish` and `pavilion dataset …` as a data provider runs them (child processes) against a
 * real broker: a CSV with a ref column, the schema's features and claim columns becomes a staged
 * version (claims parsed as their declared types, so a spreadsheet's "True" arrives as true), checked
 * by a dry run, activated, rolled back; a value that is not of its claim's type stops the command at
 * its line without printing it; a file for the pull route; and `pavilion verify` refusing a secret
 * whose fingerprint is not the dataset's.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { secretFingerprint } from '../../common/secret-fingerprint.js';
import { loadDemoSchema, type PersonRow, syntheticPeople, withTypo } from '../../demo/people.js';
import { ClkEncoder, clkToBase64 } from '../../engine/clk/index.js';
import { api, expectProblem, startTestBroker, type TestBroker } from '../server/helpers.js';
import { pavilion } from './pavilion.js';

let t: TestBroker;
const dir = mkdtempSync(join(tmpdir(), 'pavilion-publish-'));
const SECRET = 'publish test secret';
const FINGERPRINT = secretFingerprint(SECRET);
const secretFile = join(dir, 'secret.txt');
const people = syntheticPeople(300, 11);

/**
 * A provider's export: ref, the features (in another order than the schema's) and claims as a
 * spreadsheet writes them.
 */
function csv(rows: PersonRow[], over18: (i: number) => string): string {
  const lines = ['postcode,ref,surname,given_name,dob,over_18,over_21'];
  rows.forEach((p, i) => {
    lines.push([p[4], p[0], p[2], p[1], p[3], over18(i), i % 3 === 0 ? 'FALSE' : 'true'].join(','));
  });
  return `${lines.join('\n')}\n`;
}

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const publish = (input: string, ...extra: string[]) =>
  pavilion([
    'publish',
    '--server',
    t.url,
    '--dataset',
    'dmv',
    '--secret-file',
    secretFile,
    '--in',
    input,
    '--token',
    t.tokens.dp,
    ...extra,
  ]);
/** Offline: the schema from a file, the claims' types given (no broker is asked), the upload written to `out`. */
const publishOffline = (input: string, out: string) =>
  pavilion([
    'publish',
    '--dataset',
    'dmv',
    '--schema',
    fromRoot('demo', 'schema.json'),
    '--claim-type',
    'over_18:boolean',
    '--claim-type',
    'over_21:boolean',
    '--secret-file',
    secretFile,
    '--in',
    input,
    '--out',
    out,
  ]);
const dataset = (command: string, ...extra: string[]) =>
  pavilion(['dataset', command, '--server', t.url, '--dataset', 'dmv', '--token', t.tokens.dp, ...extra]);

async function verifyPerson(p: PersonRow) {
  const enc = ClkEncoder.create(loadDemoSchema(), SECRET);
  const clk = clkToBase64(enc.encode(withTypo(p)));
  enc.dispose();
  return api(t.url, 'POST', '/v1/verifications', {
    token: t.tokens.rp,
    body: { dataset: 'dmv', clk, claims: ['over_18', 'over_21'], purpose: 'age_verification' },
  });
}

beforeAll(async () => {
  t = await startTestBroker();
  writeFileSync(secretFile, `${SECRET}\n`);
  const defined = await api(t.url, 'PUT', '/v1/datasets/dmv', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: { over_18: 'boolean', over_21: 'boolean' } },
  });
  expect(defined.status, defined.text).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('pavilion publish', () => {
  it('encodes the CSV, types the claims ("True" is true), and stages the version with its fingerprint', async () => {
    const input = file(
      'people.csv',
      csv(people, (i) => (i % 2 === 0 ? 'True' : 'False')),
    );
    const r = await publish(input);
    expect(r.stderr).toContain(`linkage secret fingerprint ${FINGERPRINT}`);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      dataset: 'dmv',
      version: 1,
      status: 'staged',
      rows: 300,
      active_version: null,
      secret_fingerprint: FINGERPRINT,
      summary: { claims: { over_18: { type: 'boolean', values: 300 } }, duplicate_clks: 0, empty_clks: 0 },
    });
    expect(r.stderr).toContain('pavilion dataset activate');
    // Staged: nothing answers yet.
    expectProblem(await verifyPerson(people[4]!), 409, 'DATASET_NOT_READY');

    const activated = await dataset('activate', '--version', '1');
    expect(activated.code, activated.stderr).toBe(0);
    expect(JSON.parse(activated.stdout)).toMatchObject({ version: 1, previous_version: null, changed: true });
    const answer = await verifyPerson(people[4]!);
    expect(answer.json).toMatchObject({ decision: 'match', claims: { over_18: true, over_21: true } });
    expect((await verifyPerson(people[3]!)).json).toMatchObject({ claims: { over_18: false, over_21: false } });
    const ds = await api(t.url, 'GET', '/v1/datasets/dmv', { token: t.tokens.rp });
    expect(ds.json.secret_fingerprint).toBe(FINGERPRINT);
  });

  it('stops at a claim value that is not of its type, naming the line and the claim, never the value', async () => {
    const input = file(
      'bad.csv',
      csv(people.slice(0, 5), (i) => (i === 2 ? 'Maybe-so' : 'true')),
    );
    const r = await publish(input);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'pavilion: UPLOAD_CLAIM_TYPE: line 4: claim over_18 is not a boolean (true, false, 1 or 0)\n',
    );
    expect(r.stdout + r.stderr).not.toContain('Maybe-so');
    for (const p of people.slice(0, 5)) expect(r.stdout + r.stderr).not.toContain(p[2]);
    // Nothing was uploaded.
    const versions = (await api(t.url, 'GET', '/v1/datasets/dmv/versions', { token: t.tokens.dp })).json.versions;
    expect(versions.map((v: { version: number }) => v.version)).toEqual([1]);
  });

  it('a dry run reports and stores nothing; --activate refuses a version under half the active rows', async () => {
    const few = file(
      'few.csv',
      csv(people.slice(0, 10), () => '1'),
    );
    const dry = await publish(few, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: 'dry_run', version: null, rows: 10, active_rows: 300 });
    expect(dry.stderr).toContain('dry run: 10 records checked (active version 1 has 300)');

    const shrink = await publish(few, '--activate');
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toMatch(
      /pavilion: VERSION_SHRINKS: version 2 has 10 records, the active one 300: it stays staged/,
    );
    expect((await api(t.url, 'GET', '/v1/datasets/dmv', { token: t.tokens.rp })).json.active_version).toBe(1);

    const forced = await publish(few, '--activate', '--allow-shrink');
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({
      version: 3,
      status: 'active',
      activation: { version: 3, previous_version: 1 },
    });
    expect(forced.stderr).toContain('pavilion dataset rollback serves it again');

    // Two ends of a publish at once: refused by name, nothing stored or written (both did one of them in silence).
    const out = join(dir, 'not-written.jsonl');
    for (const [extra, named] of [
      [['--dry-run', '--activate'], "'--dry-run' cannot be used with option '--activate'"],
      [['--dry-run', '--out', out], "'--dry-run' cannot be used with option '--out <file>'"],
      [['--activate', '--out', out], "'--activate' cannot be used with option '--out <file>'"],
    ] as const) {
      const both = await publish(few, ...extra);
      expect(both.code, extra.join(' ')).not.toBe(0);
      expect(both.stderr).toContain(named);
    }
    expect(existsSync(out)).toBe(false);
    expect((await api(t.url, 'GET', '/v1/datasets/dmv', { token: t.tokens.rp })).json.active_version).toBe(3);
  });

  it('pavilion dataset rollback serves the previous version again; versions lists them all', async () => {
    const back = await dataset('rollback');
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ version: 1, previous_version: 3 });
    expect((await verifyPerson(people[200]!)).json).toMatchObject({ decision: 'match', dataset_version: 1 });
    const listed = await dataset('versions');
    expect(
      JSON.parse(listed.stdout).versions.map((v: { version: number; status: string }) => [v.version, v.status]),
    ).toEqual([
      [3, 'superseded'],
      [2, 'staged'],
      [1, 'active'],
    ]);
    const discarded = await dataset('discard', '--version', '2');
    expect(JSON.parse(discarded.stdout)).toMatchObject({ version: 2, status: 'discarded' });
  });

  it('without a token the broker refuses, and the CLI says which option sends one', async () => {
    const r = await pavilion(['dataset', 'versions', '--server', t.url, '--dataset', 'dmv']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'pavilion: AUTH_MISSING: an Authorization: Bearer token is required: pass --token or set $PAVILION_TOKEN\n',
    );
  });

  it('a claim the dataset declares by name only needs --claim-type', async () => {
    await api(t.url, 'PUT', '/v1/datasets/untyped', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    const input = file(
      'untyped.csv',
      'ref,given_name,surname,dob,postcode,over_18\nr1,ada,lovelace,1990-12-10,2000,TRUE\n',
    );
    const args = ['publish', '--server', t.url, '--dataset', 'untyped', '--secret-file', secretFile, '--in', input];
    const missing = await pavilion([...args, '--token', t.tokens.dp]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/pavilion: CLAIM_TYPE_MISSING: claim over_18 has no type in the dataset definition/);
    const typed = await pavilion([...args, '--token', t.tokens.dp, '--claim-type', 'over_18:boolean', '--activate']);
    expect(typed.code, typed.stderr).toBe(0);
    const enc = ClkEncoder.create(loadDemoSchema(), SECRET);
    const clk = clkToBase64(enc.encode(['', 'ada', 'lovelace', '1990-12-10', '2000']));
    enc.dispose();
    const answer = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'untyped', clk, claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(answer.json).toMatchObject({ decision: 'match', claims: { over_18: true } });
  });

  it('a column neither a feature nor a claim is refused saying how to declare it or which claims exist', async () => {
    // An outside probe: offline, a claim column not given --claim-type was only "not in the schema".
    const input = file(
      'licence.csv',
      'ref,given_name,surname,dob,postcode,over_18,license_class\nr1,ada,lovelace,1990-12-10,2000,TRUE,B\n',
    );
    const out = join(dir, 'licence.jsonl');
    const offline = [
      'publish',
      '--dataset',
      'dmv',
      '--schema',
      fromRoot('demo', 'schema.json'),
      '--claim-type',
      'over_18:boolean',
      '--secret-file',
      secretFile,
      '--in',
      input,
      '--out',
      out,
    ];
    const refused = await pavilion(offline);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      '\npavilion: CSV_HEADER_MISMATCH: the header does not match the schema: neither a feature of the schema nor a ' +
        'claim given --claim-type: "license_class" (declare a claim column with --claim-type NAME:TYPE, TYPE one ' +
        'of boolean, integer, number, string, date)\n',
    );
    expect(existsSync(out)).toBe(false);
    const declared = await pavilion([...offline, '--claim-type', 'license_class:string']);
    expect(declared.code, declared.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).claims).toEqual({ over_18: true, license_class: 'B' });

    // Against the broker the claims are the dataset's: the message lists them.
    const online = await publish(input, '--dry-run');
    expect(online.code).toBe(1);
    expect(online.stderr).toContain(
      'neither a feature of the schema nor a claim of dataset dmv: "license_class" (its claims: over_18, over_21)',
    );
    // The row has the ref column: it is a header, never "a file without a header row needs --no-header".
    const refOnly = file('ref-only.csv', 'ref,x\nr1,y\n');
    const noFeatures = await pavilion([...offline.slice(0, -4), '--in', refOnly, '--out', out]);
    expect(noFeatures.stderr).not.toContain('--no-header');
    expect(noFeatures.stderr).toContain('missing given_name, surname, dob, postcode');
  });

  it('writes the upload for the pull route with --out; pavilion dataset pull publishes it, staged', async () => {
    const out = join(dir, 'upload.jsonl');
    const input = file(
      'pull.csv',
      csv(people.slice(0, 150), () => 'true'),
    );
    const written = await publishOffline(input, out);
    expect(written.code, written.stderr).toBe(0);
    expect(JSON.parse(written.stdout)).toMatchObject({ rows: 150, secret_fingerprint: FINGERPRINT });
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({
      ref: people[0]![0],
      clk: expect.any(String),
      claims: { over_18: true, over_21: false },
    });
    // The broker's object store is STATE_DIR/objects without S3_ENDPOINT.
    const folder = join(t.stateDir, 'objects', 'datasets', 'dmv');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'june.jsonl'), readFileSync(out));
    const pulled = await dataset('pull', '--object', 'june.jsonl', '--secret-file', secretFile);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ status: 'succeeded', rows: 150, version: 4 });
    const versions = (await api(t.url, 'GET', '/v1/datasets/dmv/versions', { token: t.tokens.dp })).json.versions;
    expect(versions[0]).toMatchObject({ version: 4, status: 'staged', secret_fingerprint: FINGERPRINT });
  });

  it('pavilion dataset pull --format names the format of an object whose name does not say it', async () => {
    // PULL_FORMAT_UNKNOWN told the user to name the format; the command had no way to (an outside probe).
    const folder = join(t.stateDir, 'objects', 'datasets', 'dmv');
    writeFileSync(join(folder, 'june-export'), readFileSync(join(folder, 'june.jsonl')));
    const unnamed = await dataset('pull', '--object', 'june-export');
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toMatch(/^pavilion: PULL_FORMAT_UNKNOWN: name the format \("jsonl" or "binary"\)/);
    const named = await dataset('pull', '--object', 'june-export', '--format', 'jsonl');
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout)).toMatchObject({ status: 'succeeded', rows: 150, version: 5 });
    const wrong = await dataset('pull', '--object', 'june-export', '--format', 'csv');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("error: option '--format <format>' argument 'csv' is invalid");
    expect((await pavilion(['dataset', 'pull', '--help'])).stdout).toContain('--format <format>');
  });
});

describe('pavilion publish --out on files of many pieces (offline)', () => {
  const many = syntheticPeople(9000, 23);
  it('encodes a file read in 256 KiB pieces record for record as the encoder does, a BOM dropped', async () => {
    const text = csv(many, (i) => (i % 2 ? '1' : 'false'));
    expect(Buffer.byteLength(text)).toBeGreaterThan(256 * 1024); // more than one piece
    const out = join(dir, 'many.jsonl');
    const r = await publishOffline(file('many.csv', `\uFEFF${text}`), out);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(many.length);
    const enc = ClkEncoder.create(loadDemoSchema(), SECRET);
    for (const i of [0, 1, 2999, 3000, 4321, many.length - 1]) {
      expect(lines[i]).toEqual({
        ref: many[i]![0],
        clk: clkToBase64(enc.encode(many[i]!)),
        claims: { over_18: i % 2 === 1, over_21: i % 3 !== 0 },
      });
    }
    enc.dispose();
  });

  it('names the line of a bad record in a later piece, the first one in file order, never its value', async () => {
    const rows = csv(many, () => 'true').split('\n');
    const badDob = rows[5001]!.split(',');
    badDob[4] = '1990-02-30';
    rows[5001] = badDob.join(','); // line 5002: a dob that is no date
    const badClaim = rows[5003]!.split(',');
    badClaim[5] = 'maybe';
    rows[5003] = badClaim.join(','); // line 5004: a claim that is no boolean
    const r = await publishOffline(file('bad-late.csv', rows.join('\n')), join(dir, 'bad-late.jsonl'));
    expect(r.code).toBe(1);
    expect(existsSync(join(dir, 'bad-late.jsonl')), 'a partial upload file is left').toBe(false);
    expect(r.stderr).toContain("pavilion: RECORD_INVALID: line 5002: feature 'dob': does not match format");
    expect(r.stderr).not.toContain('1990-02-30');
    rows[5001] = csv(many, () => 'true').split('\n')[5001]!;
    const second = await publishOffline(file('bad-claim.csv', rows.join('\n')), join(dir, 'bad-claim.jsonl'));
    expect(second.stderr).toContain('pavilion: UPLOAD_CLAIM_TYPE: line 5004: claim over_18 ');
  });

  it('reads pieces without quotes (from their bytes) as quoted ones: the same upload, the same errors', async () => {
    // Every ref quoted (the same values) sends every piece through the string reader instead.
    const quoteRefs = (rows: string[]) =>
      rows.map((row, i) => (i === 0 || row === '' ? row : row.replace(/^([^,]*),([^,]*),/, '$1,"$2",')));
    const rows = csv(many, (i) => (i % 5 ? 'TRUE' : '0')).split('\n');
    rows.splice(4000, 0, '', '\r'); // blank lines: the later lines' numbers count them
    const plain = await publishOffline(file('plain.csv', rows.join('\r\n')), join(dir, 'plain.jsonl'));
    const quoted = await publishOffline(file('quoted.csv', quoteRefs(rows).join('\r\n')), join(dir, 'quoted.jsonl'));
    expect(plain.code, plain.stderr).toBe(0);
    expect(quoted.code, quoted.stderr).toBe(0);
    expect(readFileSync(join(dir, 'plain.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'quoted.jsonl'), 'utf8'));
    for (const [line, change, expected] of [
      [6001, (cells: string[]) => cells.slice(1), 'RECORD_FIELD_COUNT: line 6001: 6 columns, the header has 7'],
      [
        6002,
        (cells: string[]) => [cells[0], rows[4]!.split(',')[1], ...cells.slice(2)],
        'UPLOAD_DUPLICATE_REF: line 6002',
      ],
      [6003, (cells: string[]) => [cells[0], '', ...cells.slice(2)], 'UPLOAD_ROW_INVALID: line 6003: the ref must be'],
    ] as const) {
      const bad = [...rows];
      bad[line - 1] = change(bad[line - 1]!.split(',')).join(',');
      const a = await publishOffline(file('bad-plain.csv', bad.join('\n')), join(dir, 'bad.jsonl'));
      const b = await publishOffline(file('bad-quoted.csv', quoteRefs(bad).join('\n')), join(dir, 'bad.jsonl'));
      expect(a.code).toBe(1);
      expect(a.stderr).toContain(expected);
      expect(b.stderr).toBe(a.stderr);
    }
  });

  it('refuses an --out it cannot write (a folder, a missing folder) in one line, leaving no file', async () => {
    const input = file(
      'small.csv',
      csv(people.slice(0, 5), () => 'true'),
    );
    const folder = mkdtempSync(join(dir, 'out-folder-'));
    const missing = join(dir, 'no-such-folder', 'upload.jsonl');
    for (const [out, reason] of [
      [folder, 'EISDIR'],
      [missing, 'ENOENT'],
    ] as const) {
      const r = await publishOffline(input, out);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      // The fingerprint note, then the error alone: no stack trace.
      expect(r.stderr).toBe(
        `linkage secret fingerprint ${FINGERPRINT}\npavilion: OUTPUT_UNWRITABLE: ${out}: cannot write (${reason})\n`,
      );
    }
    expect(readdirSync(folder)).toEqual([]);
    expect(existsSync(missing)).toBe(false);
  });

  it('leaves an earlier --out file as it was when a run fails, and no temporary file', async () => {
    const out = file('earlier.jsonl', 'the earlier upload\n');
    const rows = csv(many, () => 'true').split('\n');
    const badDob = rows[5001]!.split(',');
    badDob[4] = '1990-02-30';
    rows[5001] = badDob.join(',');
    const r = await publishOffline(file('bad-over-earlier.csv', rows.join('\n')), out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("pavilion: RECORD_INVALID: line 5002: feature 'dob': does not match format");
    expect(readFileSync(out, 'utf8')).toBe('the earlier upload\n');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses an --out that is the input (also through a link), reading and writing nothing', async () => {
    const text = csv(people.slice(0, 5), () => 'true');
    const input = file('self.csv', text);
    const link = join(dir, 'self-link.csv');
    symlinkSync(input, link);
    for (const out of [input, link]) {
      const r = await publishOffline(input, out);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `linkage secret fingerprint ${FINGERPRINT}\n` +
          `pavilion: OUTPUT_UNWRITABLE: ${out}: cannot write (the same file as --in ${input})\n`,
      );
      expect(readFileSync(input, 'utf8')).toBe(text);
    }
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses bytes that are not UTF-8, naming the line (they were read as U+FFFD before)', async () => {
    const text = Buffer.from(csv(many.slice(0, 4000), () => 'true'));
    const at = text.indexOf('\n', text.length - 200) + 1; // the start of a line near the end
    const line = text.subarray(0, at).toString().split('\n').length;
    const bad = Buffer.concat([text.subarray(0, at + 3), Buffer.from([0xff]), text.subarray(at + 3)]);
    const r = await publishOffline(file('latin1.csv', bad), join(dir, 'latin1.jsonl'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pavilion: CSV_INVALID: line ${line}: not valid UTF-8`);
  });
});

describe('pavilion verify and the secret fingerprint', () => {
  it('refuses a secret whose fingerprint is not the one the active version was encoded with', async () => {
    const wrong = file('wrong-secret.txt', 'not the provider secret\n');
    const input = file(
      'rp.csv',
      `given_name,surname,dob,postcode\n${people
        .slice(0, 2)
        .map((p) => [p[1], p[2], p[3], p[4]].join(','))
        .join('\n')}\n`,
    );
    const args = ['verify', '--server', t.url, '--dataset', 'dmv', '--purpose', 'age_verification', '--in', input];
    const r = await pavilion([...args, '--secret-file', wrong, '--token', t.tokens.rp]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `pavilion: SECRET_FINGERPRINT_MISMATCH: the secret in ${wrong} has fingerprint ` +
        `${secretFingerprint('not the provider secret')}; ` +
        `version 1 of dmv was encoded with ${FINGERPRINT}`,
    );
    const ok = await pavilion([...args, '--secret-file', secretFile, '--token', t.tokens.rp]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`linkage secret fingerprint ${FINGERPRINT} (dataset dmv: ${FINGERPRINT})`);
    expect(
      ok.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).decision),
    ).toEqual(['match', 'match']);
  });

  it('reads its CSV as encode does: --no-header (as its own error says), --delimiter, columns by name', async () => {
    // An outside probe: the error told the user to pass --no-header, which verify did not have.
    const rows = people.slice(0, 2);
    const bare = file('rp-bare.csv', `${rows.map((p) => ['x', p[1], p[2], p[3], p[4]].join(',')).join('\n')}\n`);
    const args = ['verify', '--server', t.url, '--dataset', 'dmv', '--purpose', 'age_verification'];
    const run = (...extra: string[]) =>
      pavilion([...args, '--secret-file', secretFile, '--token', t.tokens.rp, ...extra]);
    const decisions = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).decision);

    const refused = await run('--in', bare);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('a file without a header row needs --no-header');
    const bareOk = await run('--in', bare, '--no-header');
    expect(bareOk.code, bareOk.stderr).toBe(0);
    expect(decisions(bareOk.stdout)).toEqual(['match', 'match']);

    // A header in another order than the schema's, semicolons between the columns.
    const semi = file(
      'rp-semi.csv',
      `postcode;dob;surname;given_name\n${rows.map((p) => [p[4], p[3], p[2], p[1]].join(';')).join('\n')}\n`,
    );
    const semiOk = await run('--in', semi, '--delimiter', ';');
    expect(semiOk.code, semiOk.stderr).toBe(0);
    expect(decisions(semiOk.stdout)).toEqual(['match', 'match']);

    const help = await pavilion(['verify', '--help']);
    expect(help.stdout).toContain('--no-header');
    expect(help.stdout).toContain('--delimiter');
    expect(help.stdout.replace(/\s+/g, ' ')).toContain("matched to the dataset schema's features by name");
  });
});
