/**
 * Witnessed checkpoints checked by libraries this project did not write: a
 * real AuditLog asks a real `pavilion witness` (Ed25519 and ML-DSA-44 keys)
 * to cosign, then test/interop/main.go verifies the stored checkpoint with
 * golang.org/x/mod/sumdb/note (the log's signature), filippo.io/torchwood
 * (the Ed25519 cosignature, and the witness key's encoding) and
 * cloudflare/circl (the ML-DSA-44 cosignature), and torchwood's own
 * cosignature is verified here in turn.
 *
 * Needs the Go toolchain; the modules come from the Go module proxy (cached
 * in GOMODCACHE). Skipped without `go` unless CI is set, where it fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditLog,
  checkWitnessPolicy,
  generateCosignerKey,
  generateSignerKey,
  openAuditLog,
  openCheckpoint,
  parseCosignerKey,
  verifierKeyFor,
} from '../../audit/index.js';
import { startWitness } from '../../audit/witness/index.js';
import { openTestDatabase, type TestDatabase } from './db.js';

const INTEROP_DIR = fileURLToPath(new URL('../interop/', import.meta.url));
const hasGo = spawnSync('go', ['version']).status === 0;
if (!hasGo && process.env.CI) throw new Error('CI needs the Go toolchain for the interop test (test/interop)');

const ORIGIN = 'interop.pavilion.example/audit';
const logKey = generateSignerKey(ORIGIN);
const edKey = generateCosignerKey('witness.interop.example/ed', 'ed25519');
const pqKey = generateCosignerKey('witness.interop.example/pq', 'ml-dsa-44');
const witnessKeys = [edKey, pqKey].map((k) => parseCosignerKey(k).verifierKey);

let db: TestDatabase;
let log: AuditLog;
let stopWitness: () => Promise<void>;

beforeAll(async () => {
  if (!hasGo) return;
  // Built once up front (downloads the modules on a fresh machine), so the test's own run is quick.
  execFileSync('go', ['build', '-o', join(INTEROP_DIR, 'interop.bin'), '.'], { cwd: INTEROP_DIR, timeout: 300_000 });
  const w = await startWitness({
    cosignerKeys: [edKey, pqKey],
    stateFile: join(mkdtempSync(join(tmpdir(), 'pavilion-interop-')), 'state.json'),
    logs: [{ origin: ORIGIN, keys: [verifierKeyFor(logKey)] }],
  });
  stopWitness = w.close;
  db = await openTestDatabase();
  log = await openAuditLog({
    sql: db.sql,
    origin: ORIGIN,
    signerKey: logKey,
    witnesses: witnessKeys.map((key) => ({ url: w.url, key })),
  });
}, 360_000);

afterAll(async () => {
  await log?.close();
  await db?.close();
  await stopWitness?.();
});

function runGo(input: object): { status: number; out: any; err: string } {
  const r = spawnSync(join(INTEROP_DIR, 'interop.bin'), [], { input: JSON.stringify(input), encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.status === 0 ? JSON.parse(r.stdout) : null, err: r.stderr };
}

describe.skipIf(!hasGo)('witnessed checkpoints, checked with independent libraries', () => {
  it('the log stores checkpoints cosigned by the witness; x/mod, torchwood and circl verify them', async () => {
    for (let i = 0; i < 5; i++) await log.append({ type: 'interop', v: 1, i });
    await log.checkpoint();
    for (let i = 5; i < 9; i++) await log.append({ type: 'interop', v: 1, i });
    const cp = await log.checkpoint();
    expect(cp.size).toBe(9);

    // The project's own tools: the log's signature and a 2-of-2 witness policy.
    openCheckpoint(cp.note, log.verifierKeys, { origin: ORIGIN });
    const policy = checkWitnessPolicy(cp.note, { witnesses: witnessKeys, threshold: 2 });
    expect(policy.cosignedBy.map((c) => c.algorithm)).toEqual(['ed25519', 'ml-dsa-44']);

    const input = {
      note: cp.note,
      logKey: log.verifierKey,
      ed25519Witness: { signerKey: edKey, verifierKey: witnessKeys[0] },
      mldsaWitness: { verifierKey: witnessKeys[1] },
    };
    const go = runGo(input);
    expect(go.status, go.err).toBe(0);
    expect(go.out.logVerifiedBy).toEqual([ORIGIN]);
    expect(go.out.torchwoodVerifierKey).toBe(witnessKeys[0]);
    expect(go.out.ed25519Cosigned).toBe(true);
    expect(go.out.mldsaCosigned).toBe(true);
    expect(go.out.ed25519Timestamp).toBe(policy.cosignedBy[0]!.time);
    expect(go.out.mldsaTimestamp).toBe(policy.cosignedBy[1]!.time);

    // torchwood's own cosignature verifies with ours.
    const goOnly = checkWitnessPolicy(
      cp.note.replace(/\u2014 witness\.interop[^\n]*\n/g, '') + go.out.goCosignatureLine,
      {
        witnesses: [witnessKeys[0]!],
        threshold: 1,
      },
    );
    expect(goOnly.cosignedBy).toHaveLength(1);
  }, 120_000);

  it('a tampered checkpoint fails in Go too', async () => {
    const cp = (await log.latestCheckpoint())!;
    const tampered = cp.note.replace(`\n${cp.size}\n`, `\n${cp.size + 1}\n`);
    const go = runGo({
      note: tampered,
      logKey: log.verifierKey,
      ed25519Witness: { signerKey: edKey, verifierKey: witnessKeys[0] },
      mldsaWitness: { verifierKey: witnessKeys[1] },
    });
    expect(go.status).toBe(1);
    expect(go.err).toMatch(/note.Open|verif/);
  });
});
