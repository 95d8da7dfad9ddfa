/**
 * C2SP tlog-cosignature (Ed25519 and ML-DSA-44) and the tlog-witness service:
 * cosignatures verify under their key and fail under any change, a witness
 * policy counts distinct trusted witnesses, and a witness cosigns only
 * checkpoints consistent with the last one it cosigned, remembering it across
 * a restart. Real HTTP on loopback; the log's side is audit/witness-client.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkWitnessPolicy,
  encodeBase64,
  generateCosignerKey,
  generateSignerKey,
  MemoryMerkleTree,
  parseCosignatureVerifierKey,
  parseCosignerKey,
  parseSignerKey,
  signCheckpoint,
  WitnessCosigning,
} from '../../audit/index.js';
import { startWitness } from '../../audit/witness/index.js';
import { errorCode } from './error-code.js';

const ORIGIN = 'witness-test.pavilion.example/log';
const logSigner = parseSignerKey(generateSignerKey(ORIGIN));
const dir = mkdtempSync(join(tmpdir(), 'pavilion-witness-'));
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stops) await s();
});

function tree(n: number, salt = 'a'): MemoryMerkleTree {
  const t = new MemoryMerkleTree();
  for (let i = 0; i < n; i++) t.appendData(new TextEncoder().encode(`${salt}-${i}`));
  return t;
}

function checkpointNote(t: MemoryMerkleTree, size = t.size): string {
  return signCheckpoint({ origin: ORIGIN, size, root: t.root(size) }, [logSigner]);
}

describe('C2SP tlog-cosignature', () => {
  it.each(['ed25519', 'ml-dsa-44'] as const)(
    '%s: a cosignature verifies, and not on another checkpoint or time',
    (alg) => {
      const cosigner = parseCosignerKey(generateCosignerKey('witness.example/w1', alg));
      const verifier = parseCosignatureVerifierKey(cosigner.verifierKey);
      expect(verifier.algorithm).toBe(alg);
      const body = `${ORIGIN}\n5\n${encodeBase64(tree(5).root())}\n`;
      const sig = cosigner.cosign(body, 1_700_000_000);
      expect(sig.length).toBe(8 + (alg === 'ed25519' ? 64 : 2420));
      expect(verifier.verifiedTime(body, sig)).toBe(1_700_000_000);
      expect(verifier.verifiedTime(`${ORIGIN}\n6\n${encodeBase64(tree(6).root())}\n`, sig)).toBeUndefined();
      const otherTime = Uint8Array.from(sig);
      otherTime[7] ^= 1;
      expect(verifier.verifiedTime(body, otherTime)).toBeUndefined();
    },
  );

  it('key ids follow the spec: SHA-256(name || 0x0A || type || public key)[:4]', async () => {
    const { createHash } = await import('node:crypto');
    for (const [alg, type] of [
      ['ed25519', 0x04],
      ['ml-dsa-44', 0x06],
    ] as const) {
      const v = parseCosignerKey(generateCosignerKey('w.example/k', alg)).verifierKey;
      const [name, id] = v.split('+') as [string, string];
      const key = v.slice(name.length + id.length + 2);
      const raw = Buffer.from(key, 'base64');
      expect(raw[0]).toBe(type);
      expect(raw.length).toBe(alg === 'ed25519' ? 33 : 1313);
      const digest = createHash('sha256')
        .update(Buffer.concat([Buffer.from(`${name}\n`), raw]))
        .digest();
      expect(id).toBe(digest.subarray(0, 4).toString('hex'));
    }
  });

  it('a witness policy counts distinct trusted witnesses (k of n) and rejects a bad cosignature', () => {
    const w = ['ed25519', 'ml-dsa-44', 'ed25519'].map((alg, i) =>
      parseCosignerKey(generateCosignerKey(`witness.example/w${i}`, alg as 'ed25519')),
    );
    const t = tree(7);
    const note = checkpointNote(t);
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    const line = (c: (typeof w)[number], sig = c.cosign(body)) => {
      const payload = Buffer.alloc(4 + sig.length);
      payload.writeUInt32BE(c.keyId);
      payload.set(sig, 4);
      return `\u2014 ${c.name} ${payload.toString('base64')}\n`;
    };
    const twoOfThree = note + line(w[0]!) + line(w[1]!) + line(w[0]!);
    const keys = w.map((c) => c.verifierKey);
    const ok = checkWitnessPolicy(twoOfThree, { witnesses: keys, threshold: 2 });
    expect(ok.cosignedBy.map((c) => c.algorithm)).toEqual(['ed25519', 'ml-dsa-44']);
    expect(errorCode(() => checkWitnessPolicy(twoOfThree, { witnesses: keys, threshold: 3 }))).toBe(
      'WITNESS_QUORUM_NOT_MET',
    );
    const forged = Uint8Array.from(w[2]!.cosign(body));
    forged[20] ^= 1;
    expect(errorCode(() => checkWitnessPolicy(note + line(w[2]!, forged), { witnesses: keys, threshold: 1 }))).toBe(
      'WITNESS_SIGNATURE_INVALID',
    );
    expect(errorCode(() => checkWitnessPolicy(note, { witnesses: keys, threshold: 4 }))).toBe('WITNESS_POLICY_INVALID');
  });
});

describe('pavilion witness (C2SP tlog-witness)', () => {
  async function witness(stateFile = join(dir, `state-${Math.random()}.json`)) {
    const keys = [
      generateCosignerKey('witness.example/w', 'ed25519'),
      generateCosignerKey('witness.example/pq', 'ml-dsa-44'),
    ];
    const w = await startWitness({
      cosignerKeys: keys,
      stateFile,
      logs: [{ origin: ORIGIN, keys: [logSigner.verifierKey] }],
    });
    stops.push(() => w.close());
    return { ...w, keys, stateFile };
  }
  const post = (url: string, body: string) =>
    fetch(`${url}/add-checkpoint`, { method: 'POST', body }).then(async (r) => ({
      status: r.status,
      type: r.headers.get('content-type'),
      text: await r.text(),
    }));
  const request = (old: number, proof: Uint8Array[], note: string) =>
    `old ${old}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${note}`;

  it('cosigns a consistent checkpoint and refuses a forked one (same size, or a failing proof)', async () => {
    const w = await witness();
    const honest = tree(8);
    const first = await post(w.url, request(0, [], checkpointNote(honest, 5)));
    expect(first.status, first.text).toBe(200);
    expect(first.text.split('\n').filter(Boolean)).toHaveLength(2);
    const grown = await post(w.url, request(5, honest.consistencyProof(5, 8), checkpointNote(honest, 8)));
    expect(grown.status, grown.text).toBe(200);

    // A fork: same size 8, another tree.
    const fork = tree(8, 'b');
    expect((await post(w.url, request(8, [], checkpointNote(fork, 8)))).status).toBe(409);
    // A fork that grew: the proof from 8 is the fork's own, so it does not verify against the witnessed root.
    const forkNine = tree(9, 'b');
    expect((await post(w.url, request(8, forkNine.consistencyProof(8, 9), checkpointNote(forkNine, 9)))).status).toBe(
      422,
    );
    // A stale old size: 409 with the witness's size.
    const stale = await post(w.url, request(5, honest.consistencyProof(5, 8), checkpointNote(honest, 8)));
    expect(stale).toMatchObject({ status: 409, type: 'text/x.tlog.size', text: '8\n' });
    // Unknown log, untrusted signature, malformed.
    const stranger = signCheckpoint({ origin: ORIGIN, size: 9, root: honest.root(8) }, [
      parseSignerKey(generateSignerKey(ORIGIN)),
    ]);
    expect((await post(w.url, request(8, [], stranger))).status).toBe(403);
    const otherLog = signCheckpoint({ origin: 'other.example/log', size: 1, root: honest.root(1) }, [
      parseSignerKey(generateSignerKey('other.example/log')),
    ]);
    expect((await post(w.url, request(0, [], otherLog))).status).toBe(404);
    expect((await post(w.url, 'old x\n\nnot a note')).status).toBe(400);
  });

  it('remembers the last cosigned checkpoint across a restart', async () => {
    const stateFile = join(dir, 'restart.json');
    const first = await witness(stateFile);
    const honest = tree(6);
    expect((await post(first.url, request(0, [], checkpointNote(honest, 6)))).status).toBe(200);
    await first.close();
    const again = await witness(stateFile);
    const fork = tree(6, 'c');
    expect(await post(again.url, request(0, [], checkpointNote(fork, 6)))).toMatchObject({ status: 409, text: '6\n' });
    expect((await post(again.url, request(6, [], checkpointNote(fork, 6)))).status).toBe(409);
  });

  it("the log's client learns the witness's size, sends a proof, and keeps only cosignatures that verify", async () => {
    const w = await witness();
    const honest = tree(12);
    // The witness already saw size 4 (another log instance asked it).
    expect((await post(w.url, request(0, [], checkpointNote(honest, 4)))).status).toBe(200);
    const verifierKeys = w.keys.map((k) => parseCosignerKey(k).verifierKey);
    const client = new WitnessCosigning(
      verifierKeys.map((key) => ({ url: w.url, key })),
      async (from, to) => honest.consistencyProof(from, to),
    );
    const out = await client.cosign(checkpointNote(honest, 12), 12);
    expect(out.failures).toEqual([]);
    expect(out.cosignedBy).toHaveLength(2);
    expect(checkWitnessPolicy(out.note, { witnesses: verifierKeys, threshold: 2 }).cosignedBy).toHaveLength(2);
    // A forked checkpoint gets no cosignature, and says why.
    const fork = tree(13, 'z');
    const forkClient = new WitnessCosigning(
      verifierKeys.map((key) => ({ url: w.url, key })),
      async (from, to) => fork.consistencyProof(from, to),
    );
    const forked = await forkClient.cosign(checkpointNote(fork, 13), 13);
    expect(forked.cosignedBy).toEqual([]);
    expect(forked.failures.map((f) => f.code)).toEqual(['WITNESS_REFUSED']);
  });
});

describe('pavilion witness keygen / serve (the command line)', () => {
  it('generates a key, serves the configured log from a config file, and stops on SIGTERM', async () => {
    const { spawn, execFileSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const main = join(process.cwd(), 'cli/main.ts');
    const keygen = execFileSync(
      process.execPath,
      ['--import', 'tsx', main, 'witness', 'keygen', '--name', 'cli.example/w'],
      {
        encoding: 'utf8',
      },
    );
    const secret = /signer key \(secret\):\s+(PRIVATE\+KEY\+\S+)/.exec(keygen)![1]!;
    const verifierKey = /verifier key:\s+(\S+)/.exec(keygen)![1]!;
    expect(parseCosignerKey(secret).verifierKey).toBe(verifierKey);
    writeFileSync(join(dir, 'cli-witness.key'), `${secret}\n`);
    const config = join(dir, 'cli-witness.json');
    writeFileSync(
      config,
      JSON.stringify({
        keyFile: 'cli-witness.key',
        stateFile: 'cli-witness-state.json',
        port: 0,
        logs: [{ origin: ORIGIN, keys: [logSigner.verifierKey] }],
      }),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', main, 'witness', 'serve', '--config', config]);
    stops.push(async () => {
      child.kill('SIGKILL');
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /witness listening on (\S+)\/add-checkpoint/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`witness exited ${code}: ${out}`)));
    });
    const t = tree(3);
    const res = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: `old 0\n\n${checkpointNote(t)}` });
    const line = await res.text();
    expect(res.status, line).toBe(200);
    expect(
      checkWitnessPolicy(checkpointNote(t) + line, { witnesses: [verifierKey], threshold: 1 }).cosignedBy,
    ).toHaveLength(1);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
