/**
 * The log as the broker runs it (real broker, real database, anchoring on
 * anvil for the facts): the signing key survives a restart (development key
 * in STATE_DIR), rotates as audit/README.md says, and comes from
 * AUDIT_SIGNING_KEY; the anchoring facts are published; a relying party reads
 * the events it caused (and no others, not even named after another's digest)
 * and re-hashes them; entry bundles are gzip-compressed when asked; the origin
 * follows AUDIT_URL_PREFIX.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalEvent, eventLeafHash, generateSignerKey, verifierKeyFor, verifyReceipt } from '../../audit/index.js';
import { loadDemoSchema } from '../../demo/people.js';
import { api, b64, dropTestDatabase, randomClk, startTestBroker, type TestBroker } from '../server/helpers.js';

const started: TestBroker[] = [];
afterAll(async () => {
  for (const t of started) await t.broker.close().catch(() => {});
});

async function start(env: Record<string, string>, keep = false): Promise<TestBroker> {
  const t = await startTestBroker({ AUDIT_CHECKPOINT_LEAVES: '1', AUDIT_CHECKPOINT_MS: '50', ...env }, keep);
  started.push(t);
  return t;
}

async function loadPeople(t: TestBroker): Promise<void> {
  await api(t.url, 'PUT', '/v1/datasets/people', {
    token: t.tokens.dp,
    body: { schema: loadDemoSchema(), claims: ['over_18'] },
  });
  const upload = [0, 1, 2]
    .map((i) => JSON.stringify({ ref: `p${i}`, clk: b64(randomClk(1024, 900_000 + i)), claims: { over_18: true } }))
    .join('\n');
  const res = await api(t.url, 'POST', '/v1/datasets/people/versions', {
    token: t.tokens.dp,
    raw: upload,
    contentType: 'application/x-ndjson',
  });
  expect(res.status, res.text).toBeLessThan(300);
}

async function verification(t: TestBroker, token = t.tokens.rp): Promise<{ index: number; leaf_hash: string }> {
  const v = await api(t.url, 'POST', '/v1/verifications', {
    token,
    body: { dataset: 'people', clk: b64(randomClk(1024, 900_001)), claims: ['over_18'], purpose: 'age_verification' },
  });
  expect(v.status, v.text).toBe(200);
  return v.json.receipt;
}

async function receipt(t: TestBroker, index: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const r = await api(t.url, 'GET', `/v1/audit/receipts/${index}`, { token: t.tokens.auditor });
    if (r.status === 200) return r.text;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no receipt for ${index}`);
}

describe('the log signing key', () => {
  it('is the same after a restart on a persistent database (development key in STATE_DIR, mode 0600)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'pavilion-key-'));
    const pglite: Record<string, string> = process.env.DATABASE_URL ? {} : { PGLITE_DATA_DIR: join(stateDir, 'pg') };
    const first = await start({ STATE_DIR: stateDir, ...pglite }, true);
    await loadPeople(first);
    const { index, leaf_hash } = await verification(first);
    const text = await receipt(first, index);
    const key = first.broker.audit.verifierKey;
    const keyFile = join(stateDir, 'audit-signing-key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^PRIVATE\+KEY\+pavilion\.local\/audit\+/);
    await first.broker.close();

    const again = await start({
      STATE_DIR: stateDir,
      ...pglite,
      ...(first.databaseUrl ? { DATABASE_URL: first.databaseUrl } : {}),
    });
    expect(again.broker.audit.verifierKey).toBe(key);
    const leafHash = new Uint8Array(Buffer.from(leaf_hash, 'base64'));
    expect(verifyReceipt(text, [key], { leafHash }).index).toBe(index);
    expect(await again.broker.audit.verifyReceipt(text)).toMatchObject({ index });
    // The same receipt, issued again by the restarted broker, still verifies under the pinned key.
    expect(verifyReceipt(await receipt(again, index), [key], { leafHash }).index).toBe(index);
    await again.broker.close();
    if (first.databaseUrl) await dropTestDatabase(first.databaseUrl);
  }, 120_000);

  it('rotates as documented: receipts signed before the rotation still verify with the retired key', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'pavilion-rotate-'));
    const pglite: Record<string, string> = process.env.DATABASE_URL ? {} : { PGLITE_DATA_DIR: join(stateDir, 'pg') };
    const oldKey = generateSignerKey('pavilion.local/audit');
    const newKey = generateSignerKey('pavilion.local/audit');
    const before = await start({ STATE_DIR: stateDir, ...pglite, AUDIT_SIGNING_KEY: oldKey }, true);
    expect(before.broker.audit.verifierKey).toBe(verifierKeyFor(oldKey));
    // The key's secret is its base64 after PRIVATE+KEY+<name>+<id>+; base64 may itself hold '+'.
    expect(before.logs.join('\n')).not.toContain(oldKey.split('+').slice(4).join('+'));
    await loadPeople(before);
    const old = await verification(before);
    const oldReceipt = await receipt(before, old.index);
    await before.broker.close();
    const db: Record<string, string> = before.databaseUrl ? { DATABASE_URL: before.databaseUrl } : {};

    // Overlap: new and old sign every checkpoint.
    const overlap = await start(
      { STATE_DIR: stateDir, ...pglite, ...db, AUDIT_SIGNING_KEY: `${newKey},${oldKey}` },
      true,
    );
    const key = await api(overlap.url, 'GET', '/v1/audit/key', { token: overlap.tokens.rp });
    expect(key.json.verifier_keys).toEqual([verifierKeyFor(newKey), verifierKeyFor(oldKey)]);
    const mid = await verification(overlap);
    const midReceipt = await receipt(overlap, mid.index);
    for (const k of [oldKey, newKey])
      verifyReceipt(midReceipt, [verifierKeyFor(k)], { leafHash: Buffer.from(mid.leaf_hash, 'base64') });
    await overlap.broker.close();

    // After: the new key alone; the old receipt verifies with the retired key kept by verifiers.
    const after = await start({ STATE_DIR: stateDir, ...pglite, ...db, AUDIT_SIGNING_KEY: newKey }, false);
    const leafHash = new Uint8Array(Buffer.from(old.leaf_hash, 'base64'));
    expect(
      verifyReceipt(oldReceipt, [verifierKeyFor(newKey), verifierKeyFor(oldKey)], { leafHash }).verifiedBy,
    ).toEqual([`pavilion.local/audit+${verifierKeyFor(oldKey).split('+')[1]}`]);
    // Checkpoints signed from now on carry the new key only.
    const next = await verification(after);
    const nextReceipt = await receipt(after, next.index);
    const nextLeaf = new Uint8Array(Buffer.from(next.leaf_hash, 'base64'));
    expect(() => verifyReceipt(nextReceipt, [verifierKeyFor(oldKey)], { leafHash: nextLeaf })).toThrow();
    verifyReceipt(nextReceipt, [verifierKeyFor(newKey)], { leafHash: nextLeaf });
    await after.broker.close();
    if (before.databaseUrl) await dropTestDatabase(before.databaseUrl);
  }, 180_000);
});

describe('what the log publishes', () => {
  it('anchoring facts: chain, contract, deploy block, RPC URL and ABI', async () => {
    const t = await start({ ANCHORING: 'anvil', ANCHOR_POLL_MS: '200' });
    const facts = await api(t.url, 'GET', '/v1/audit/anchoring', { token: t.tokens.rp });
    expect(facts.status, facts.text).toBe(200);
    expect(facts.json).toMatchObject({
      enabled: true,
      chain: 'eip155:80002',
      origin: 'pavilion.local/audit',
      rpc_url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    });
    expect(facts.json.contract).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(facts.json.deploy_block).toBeGreaterThanOrEqual(1);
    // The deploy block really is the first with the contract's code.
    const code = async (block: number) =>
      (
        await fetch(facts.json.rpc_url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'eth_getCode',
            params: [facts.json.contract, `0x${block.toString(16)}`],
          }),
        }).then((r) => r.json() as Promise<{ result: string }>)
      ).result;
    expect(await code(facts.json.deploy_block)).not.toBe('0x');
    expect(await code(facts.json.deploy_block - 1)).toBe('0x');
    const abi = await api(t.url, 'GET', '/v1/audit/anchoring/abi.json', { token: t.tokens.rp });
    expect(abi.json).toEqual(JSON.parse(readFileSync('anchoring/MerkleAnchor.abi.json', 'utf8')));
    expect(t.logs.join('\n')).toMatch(/"deployBlock":\d+.*anchoring audit checkpoints/);
  }, 120_000);

  it('a relying party reads the events it caused, re-hashes them, and no one else’s', async () => {
    const t = await start({});
    await loadPeople(t);
    const mine = await verification(t, t.tokens.rp);
    const theirs = await verification(t, t.tokens.rp2);
    const own = await api(t.url, 'GET', `/v1/audit/entries/${mine.index}`, { token: t.tokens.rp });
    expect(own.status, own.text).toBe(200);
    expect(Buffer.from(eventLeafHash(canonicalEvent(own.json.event))).toString('base64')).toBe(mine.leaf_hash);
    const other = await api(t.url, 'GET', `/v1/audit/entries/${theirs.index}`, { token: t.tokens.rp });
    expect(other.status).toBe(403);
    expect(other.json.code).toBe('FORBIDDEN_ROLE');
    const dataset = await api(t.url, 'GET', '/v1/audit/entries/0', { token: t.tokens.rp });
    expect(dataset.status).toBe(403);
    expect((await api(t.url, 'GET', `/v1/audit/entries/${theirs.index}`, { token: t.tokens.auditor })).status).toBe(
      200,
    );
  }, 60_000);

  it('a party named after another party’s digest is not that party: it reads none of its events', async () => {
    const t = await start({});
    await loadPeople(t);
    const id = t.broker.localIdentity!;
    const vic = await id.mint({ sub: 'vic@x.org', roles: ['rp'] });
    const hers = await verification(t, vic);
    const read = (index: number, token: string) => api(t.url, 'GET', `/v1/audit/entries/${index}`, { token });
    // The digest the log spells her with (auditors read it; so could anyone who sees the log).
    const digest = (await read(hers.index, t.tokens.auditor)).json.event.actor as string;
    expect(digest).toMatch(/^hmac-sha256:/);
    const impostor = await id.mint({ sub: digest, roles: ['rp'] });
    expect((await read(hers.index, impostor)).json.code).toBe('FORBIDDEN_ROLE');
    const his = await verification(t, impostor);
    expect((await read(his.index, vic)).json.code).toBe('FORBIDDEN_ROLE');
    expect((await read(his.index, impostor)).status).toBe(200);
    const actor = (await read(his.index, t.tokens.auditor)).json.event.actor as string;
    expect(actor).toMatch(/^hmac-sha256:/);
    expect(actor).not.toBe(digest);
  }, 60_000);

  it('entry bundles are gzip-compressed when the client accepts it', async () => {
    const t = await start({});
    await loadPeople(t);
    await verification(t);
    const size = await t.broker.audit.size();
    const path = `/v1/audit/tile/entries/000.p/${size}`;
    const plain = await fetch(t.url + path, {
      headers: { authorization: `Bearer ${t.tokens.auditor}`, 'accept-encoding': 'identity' },
    });
    const plainBody = new Uint8Array(await plain.arrayBuffer());
    expect(plain.headers.get('content-encoding')).toBeNull();
    // Raw bytes as sent: node's http keeps the encoding for us to check.
    const { request } = await import('node:http');
    const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(t.url + path, {
        headers: { authorization: `Bearer ${t.tokens.auditor}`, 'accept-encoding': 'gzip, br;q=0' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.headers.vary).toBe('accept-encoding');
    expect(new Uint8Array(gunzipSync(raw.body))).toEqual(plainBody);
  }, 60_000);

  it('the origin defaults to AUDIT_URL_PREFIX without its scheme', async () => {
    const t = await start({ AUDIT_URL_PREFIX: 'https://broker.example.org/v1/audit/' });
    expect(t.broker.audit.origin).toBe('broker.example.org/v1/audit');
    const cp = await api(t.url, 'GET', '/v1/audit/checkpoint', { token: t.tokens.rp });
    expect(cp.text.split('\n')[0]).toBe('broker.example.org/v1/audit');
  }, 60_000);
});
