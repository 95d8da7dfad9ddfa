/**
 * `pavilion witness serve --config witness.json`: a C2SP tlog-witness for the
 * logs named in the config. The config (JSON):
 *
 *   { "keyFile": "witness.key",          // one cosigner signer key per line (Ed25519 and/or ML-DSA-44)
 *     "stateFile": "witness-state.json",  // last cosigned size and root per log
 *     "host": "127.0.0.1", "port": 7380, "prefix": "",
 *     "logs": [{ "origin": "pavilion.local/audit", "keys": ["pavilion.local/audit+…+…"] }] }
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { PavilionError } from '../../common/errors.js';
import { parseCosignerKey } from '../index.js';
import { serveWitness, type WitnessServer } from './server.js';
import { FileWitnessState } from './state.js';
import { Witness, type WitnessedLog } from './witness.js';

export { serveWitness, type WitnessServer } from './server.js';
export { FileWitnessState, type WitnessedHead, type WitnessStateStore } from './state.js';
export { Witness, type WitnessAnswer, type WitnessedLog } from './witness.js';

const WitnessConfig = z
  .object({
    keyFile: z.string().min(1),
    stateFile: z.string().min(1),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7380),
    prefix: z.string().default(''),
    logs: z.array(z.object({ origin: z.string().min(1), keys: z.array(z.string().min(1)).min(1) }).strict()).min(1),
  })
  .strict();

/** Starts a witness from explicit parts (tests, embedding). */
export async function startWitness(opts: {
  cosignerKeys: string[];
  stateFile: string;
  logs: WitnessedLog[];
  host?: string;
  port?: number;
  prefix?: string;
}): Promise<WitnessServer & { witness: Witness }> {
  if (opts.cosignerKeys.length === 0) throw new PavilionError('CONFIG_INVALID', 'the witness needs a cosigner key');
  const witness = new Witness(opts.cosignerKeys.map(parseCosignerKey), opts.logs, new FileWitnessState(opts.stateFile));
  const served = await serveWitness(witness, opts.logs, opts);
  return { ...served, witness };
}

export async function runWitnessFromConfig(file: string): Promise<void> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new PavilionError('CONFIG_INVALID', `${file}: cannot read a JSON object`);
  }
  const parsed = WitnessConfig.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))];
    throw new PavilionError('CONFIG_INVALID', `${file}: invalid field(s): ${fields.join(', ')}`);
  }
  const c = parsed.data;
  const here = dirname(resolve(file));
  let keys: string[];
  try {
    keys = readFileSync(resolve(here, c.keyFile), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  } catch {
    throw new PavilionError('CONFIG_INVALID', `${c.keyFile}: cannot read the witness key file`);
  }
  const w = await startWitness({
    cosignerKeys: keys,
    stateFile: resolve(here, c.stateFile),
    logs: c.logs,
    host: c.host,
    port: c.port,
    prefix: c.prefix,
  });
  console.log(`witness listening on ${w.url}/add-checkpoint`);
  for (const k of w.witness.verifierKeys) console.log(`verifier key: ${k}`);
  const stop = () => void w.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
