/**
 * What a relying party gets, and what it is told when something is wrong, so that nothing goes wrong
 * silently: linkage results carry the claims the policy releases, never the provider's record ids;
 * policy denials are in the audit log with their reasons; broker-side encoding names the field that
 * does not fit and refuses a secret that is not the one the version was encoded with; clk and record
 * together are refused as such; a receipt index that does not exist is not "not ready"; 500s are logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretFingerprint } from '../../../common/secret-fingerprint.js';
import { loadDemoSchema, syntheticPeople } from '../../../demo/people.js';
import { api, b64, expectProblem, perturb, randomClk, startTestBroker, type TestBroker } from '../helpers.js';

let t: TestBroker;
const N = 50;
const clks = Array.from({ length: N }, (_, i) => randomClk(1024, 910_000 + i));
const SECRET = 'the provider secret';
const ANOTHER = 'another provider secret';

function jsonl(rows: { ref: string; clk: Uint8Array; claims?: Record<string, unknown> }[]): string {
  return rows
    .map((r) => `${JSON.stringify({ ref: r.ref, clk: b64(r.clk), ...(r.claims ? { claims: r.claims } : {}) })}\n`)
    .join('');
}

/** The audit events appended since `from`. */
async function eventsSince(from: number): Promise<Record<string, unknown>[]> {
  const size = await t.broker.audit.size();
  const out: Record<string, unknown>[] = [];
  for (let i = from; i < size; i++) out.push(JSON.parse((await t.broker.audit.entry(i)).event));
  return out;
}

async function jobResults(id: string) {
  for (let i = 0; i < 200; i++) {
    const r = await api(t.url, 'GET', `/v1/linkage-jobs/${id}/results`, { token: t.tokens.rp });
    if (r.status === 200) return r;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the job never finished');
}

beforeAll(async () => {
  t = await startTestBroker();
  const defined = await api(t.url, 'PUT', '/v1/datasets/rp', {
    token: t.tokens.dp,
    body: {
      schema: loadDemoSchema(),
      claims: { over_18: 'boolean', over_21: 'boolean', license_valid: 'boolean' },
      allow_broker_encoding: true,
    },
  });
  expect(defined.status, defined.text).toBe(201);
  const up = await api(t.url, 'POST', '/v1/datasets/rp/versions', {
    token: t.tokens.dp,
    raw: jsonl(
      clks.map((clk, i) => ({
        ref: `P${String(i).padStart(5, '0')}`,
        clk,
        claims: { over_18: i % 2 === 0, over_21: i % 4 === 0, license_valid: true },
      })),
    ),
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

describe('linkage job results', () => {
  it("give the match, the score and the released claims; never the provider's record ids", async () => {
    const queries = [3, 8, 9].map((i) => b64(perturb(clks[i]!, 4, i)));
    const sent = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: {
        dataset: 'rp',
        clks: queries,
        threshold: 0.9,
        solution: 'greedy',
        claims: ['over_18', 'over_21'],
        purpose: 'age_verification',
      },
    });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.json.claims).toEqual(['over_18', 'over_21']);
    const r = await jobResults(sent.json.id);
    // Greedy pairs come best first; candidates are numbered in that order.
    const byQuery = [...r.json.pairs].sort((a, b) => a.query - b.query);
    expect(byQuery).toEqual([
      {
        query: 0,
        candidate: expect.any(Number),
        score: expect.any(Number),
        claims: { over_18: false, over_21: false },
      },
      { query: 1, candidate: expect.any(Number), score: expect.any(Number), claims: { over_18: true, over_21: true } },
      {
        query: 2,
        candidate: expect.any(Number),
        score: expect.any(Number),
        claims: { over_18: false, over_21: false },
      },
    ]);
    expect(r.json.pairs.map((p: { candidate: number }) => p.candidate)).toEqual([0, 1, 2]);
    // Neither the refs (P00003…) nor the rows (3, 8, 9) of the provider.
    expect(r.text).not.toMatch(/P0000\d/);
    expect(r.text).not.toMatch(/"(ref|index)"/);
    const event = (await eventsSince(0)).findLast((e) => e.type === 'linkage_job' && e.job === sent.json.id);
    expect(event).toMatchObject({ released_claims: ['over_18', 'over_21'], pairs: 3 });
  });

  it('carry no claims when none are asked for, and only those the purpose releases', async () => {
    const none = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: { dataset: 'rp', clks: [b64(clks[4]!)], threshold: 0.9, purpose: 'kyc' },
    });
    expect(none.status, none.text).toBe(202);
    expect((await jobResults(none.json.id)).json.pairs).toEqual([{ query: 0, candidate: 0, score: 1, claims: {} }]);
    // license_valid is not an age_verification claim: asked for alone, refused as a verification is, and recorded.
    const before = await t.broker.audit.size();
    const denied = await api(t.url, 'POST', '/v1/linkage-jobs', {
      token: t.tokens.rp,
      body: {
        dataset: 'rp',
        clks: [b64(clks[4]!)],
        threshold: 0.9,
        claims: ['license_valid'],
        purpose: 'age_verification',
      },
    });
    expectProblem(denied, 403, 'POLICY_DENIED');
    expect(denied.json.errors[0]).toMatchObject({ path: '$.claims', message: expect.stringContaining('over_18') });
    expect((await eventsSince(before)).filter((e) => e.type === 'policy_denied')).toMatchObject([
      {
        action: 'link',
        purpose: 'age_verification',
        requested_claims: ['license_valid'],
        reasons: ['no_revealable_claims'],
      },
    ]);
  });
});

describe('policy denials', () => {
  it('are in the audit log with their reasons, before the 403 is sent', async () => {
    const before = await t.broker.audit.size();
    const unknownPurpose = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', clk: b64(clks[0]!), claims: ['over_18'], purpose: 'ada.lovelace' },
    });
    expectProblem(unknownPurpose, 403, 'POLICY_DENIED');
    const noConsent = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', clk: b64(clks[0]!), claims: ['license_valid'], purpose: 'employment_screening' },
    });
    expectProblem(noConsent, 403, 'POLICY_DENIED');
    // (Linkage jobs of the tests before may append their events meanwhile.)
    const events = (await eventsSince(before)).filter((e) => e.type === 'policy_denied');
    expect(events).toEqual([
      {
        type: 'policy_denied',
        v: 1,
        action: 'verify',
        relying_party: 'acme-bank',
        dataset: 'rp',
        // An unknown purpose is the caller's free text: not recorded.
        purpose: null,
        requested_claims: ['over_18'],
        reasons: ['purpose_unknown'],
        actor: 'acme-bank',
        time: expect.any(String),
        policy_version: expect.any(String),
      },
      expect.objectContaining({
        type: 'policy_denied',
        purpose: 'employment_screening',
        requested_claims: ['license_valid'],
        reasons: ['consent_required'],
      }),
    ]);
    expect(JSON.stringify(events)).not.toContain('ada.lovelace');
  });
});

describe('broker-side encoding', () => {
  const person = syntheticPeople(1, 4242)[0]!;
  const record = { given_name: person[1], surname: person[2], dob: person[3], postcode: person[4] };

  it('names the field that does not fit the schema, never its value', async () => {
    expect(
      (await api(t.url, 'PUT', '/v1/datasets/rp/secret', { token: t.tokens.dp, body: { secret: SECRET } })).status,
    ).toBe(204);
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', record: { ...record, dob: 'Ada-Lovelace-1815' }, purpose: 'age_verification' },
    });
    expectProblem(r, 422, 'RECORD_INVALID');
    expect(r.json.detail).toMatch(/^field 'dob' does not match format /);
    expect(r.text).not.toContain('Ada-Lovelace');
  });

  it('sending both clk and record says so', async () => {
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', clk: b64(clks[0]!), record, purpose: 'age_verification' },
    });
    expectProblem(r, 422, 'VALIDATION_FAILED');
    expect(r.json.errors).toEqual([{ path: '$.record', message: 'send clk or record, not both' }]);
    const neither = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', purpose: 'age_verification' },
    });
    expect(neither.json.errors).toEqual([{ path: '$.clk', message: 'one of clk or record is required' }]);
  });

  it('refuses a registered secret other than the one the active version was encoded with', async () => {
    const up = await api(t.url, 'POST', `/v1/datasets/rp/versions?secret_fingerprint=${secretFingerprint(ANOTHER)}`, {
      token: t.tokens.dp,
      raw: jsonl(clks.slice(0, 5).map((clk, i) => ({ ref: `v${i}`, clk }))),
      contentType: 'application/x-ndjson',
    });
    expect(up.status, up.text).toBe(201);
    const r = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', record, purpose: 'age_verification' },
    });
    expectProblem(r, 409, 'SECRET_FINGERPRINT_MISMATCH');
    expect(r.json.detail).toContain(secretFingerprint(SECRET));
    expect(r.json.detail).toContain(secretFingerprint(ANOTHER));
    expect(r.text).not.toContain(SECRET);
    // Registering the right one ends it.
    const set = await api(t.url, 'PUT', '/v1/datasets/rp/secret', { token: t.tokens.dp, body: { secret: ANOTHER } });
    expect(set.status, set.text).toBe(204);
    const ok = await api(t.url, 'POST', '/v1/verifications', {
      token: t.tokens.rp,
      body: { dataset: 'rp', record, purpose: 'age_verification' },
    });
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('server errors', () => {
  it('are logged with their code and route (a corrupt stored version, activated)', async () => {
    const staged = await api(t.url, 'POST', '/v1/datasets/rp/versions?activate=false', {
      token: t.tokens.dp,
      raw: jsonl(clks.slice(0, 3).map((clk, i) => ({ ref: `c${i}`, clk }))),
      contentType: 'application/x-ndjson',
    });
    expect(staged.status, staged.text).toBe(201);
    await t.broker.db
      .sql`update dataset_chunks set clks = '\\x00' where dataset_id = 'rp' and version = ${staged.json.version}`;
    const logged = t.logs.length;
    const r = await api(t.url, 'POST', `/v1/datasets/rp/versions/${staged.json.version}/activate`, {
      token: t.tokens.dp,
    });
    expectProblem(r, 500, 'DATASET_CORRUPT');
    const lines = t.logs.slice(logged).map((l) => JSON.parse(l));
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        route: '/v1/datasets/{id}/versions/{version}/activate',
        err: expect.objectContaining({ code: 'DATASET_CORRUPT' }),
      }),
    );
  });
});

describe('receipts', () => {
  it('of an index the log never reached: 404 ENTRY_NOT_FOUND, not 409 RECEIPT_NOT_READY', async () => {
    // A broker that signs no checkpoint for the test's duration: every fresh entry is "not ready".
    const slow = await startTestBroker({ AUDIT_CHECKPOINT_MS: '3600000', AUDIT_CHECKPOINT_LEAVES: '1000000' });
    try {
      await api(slow.url, 'PUT', '/v1/datasets/r', {
        token: slow.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      await api(slow.url, 'POST', '/v1/datasets/r/versions', {
        token: slow.tokens.dp,
        raw: jsonl([{ ref: 'a', clk: clks[0]! }]),
        contentType: 'application/x-ndjson',
      });
      const answer = await api(slow.url, 'POST', '/v1/verifications', {
        token: slow.tokens.rp,
        body: { dataset: 'r', clk: b64(clks[0]!), purpose: 'age_verification' },
      });
      expect(answer.status, answer.text).toBe(200);
      const index = answer.json.receipt.index as number;
      const get = (i: number) => api(slow.url, 'GET', `/v1/audit/receipts/${i}`, { token: slow.tokens.rp });
      expectProblem(await get(index), 409, 'RECEIPT_NOT_READY');
      expectProblem(await get(index + 1), 404, 'ENTRY_NOT_FOUND');
      expectProblem(await get(10_000_000), 404, 'ENTRY_NOT_FOUND');
      // Once a checkpoint covers it, the receipt is there.
      await slow.broker.audit.checkpoint();
      expect((await get(index)).status).toBe(200);
    } finally {
      await slow.broker.close();
    }
  });
});
