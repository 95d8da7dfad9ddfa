/**
 * What an auditor pins once and then trusts: the log's verifier key(s) and
 * origin, the chain, the anchor contract and its deploy block, and the
 * witness policy. From flags or a JSON config file (flags win); never from
 * what the operator's server says at verification time. `pavilion audit pin`
 * writes such a file from the server's published facts, for the auditor to
 * check once against an out-of-band source.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PavilionError } from '../common/errors.js';

export interface AuditorPins {
  server?: string;
  rpc?: string;
  /** CAIP-2, e.g. eip155:80002. */
  chain?: string;
  contract?: string;
  deployBlock?: number;
  /** Log verifier keys (current and retired): a checkpoint must carry a valid signature by one. */
  logKeys: string[];
  origin?: string;
  /** Cosigner verifier keys; with witnessThreshold, the k-of-n witness policy. */
  witnesses: string[];
  witnessThreshold?: number;
}

const PinsFile = z
  .object({
    server: z.string().url().optional(),
    rpc: z.string().url().optional(),
    chain: z.union([z.string(), z.number().int().positive()]).optional(),
    contract: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/)
      .optional(),
    deployBlock: z.number().int().nonnegative().optional(),
    logKeys: z.array(z.string().min(1)).optional(),
    logKey: z.string().min(1).optional(),
    origin: z.string().min(1).optional(),
    witnesses: z.array(z.string().min(1)).optional(),
    witnessThreshold: z.number().int().positive().optional(),
  })
  .strict();

export type PinFlags = Partial<Omit<AuditorPins, 'logKeys' | 'witnesses' | 'chain'>> & {
  chain?: string;
  logKeys?: string[];
  witnesses?: string[];
  config?: string;
};

/** `137`, `eip155:137` → `eip155:137`. */
export function normaliseChain(chain: string | number): string {
  const text = String(chain).trim();
  if (/^[1-9][0-9]{0,17}$/.test(text)) return `eip155:${text}`;
  if (/^eip155:[1-9][0-9]{0,17}$/.test(text)) return text;
  throw new PavilionError('PINS_INVALID', 'chain must be an EIP-155 chain id or a CAIP-2 id eip155:<id>');
}

/** Flags over the config file. Throws PINS_INVALID for a file that is not a pins file. */
export async function loadPins(flags: PinFlags): Promise<AuditorPins> {
  let file: z.infer<typeof PinsFile> = {};
  if (flags.config) {
    let text: string;
    try {
      text = await readFile(flags.config, 'utf8');
    } catch {
      throw new PavilionError('FILE_NOT_FOUND', `${flags.config}: cannot read`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new PavilionError('PINS_INVALID', `${flags.config}: not JSON`);
    }
    const parsed = PinsFile.safeParse(json);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || i.message))];
      throw new PavilionError('PINS_INVALID', `${flags.config}: invalid field(s): ${fields.join(', ')}`);
    }
    file = parsed.data;
  }
  const chain = flags.chain ?? file.chain;
  const contract = flags.contract ?? file.contract;
  if (contract !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(contract))
    throw new PavilionError('PINS_INVALID', 'contract must be a 20-byte 0x address');
  const pins: AuditorPins = {
    logKeys: flags.logKeys?.length ? flags.logKeys : (file.logKeys ?? (file.logKey ? [file.logKey] : [])),
    witnesses: flags.witnesses?.length ? flags.witnesses : (file.witnesses ?? []),
  };
  const server = flags.server ?? file.server;
  const rpc = flags.rpc ?? file.rpc;
  const deployBlock = flags.deployBlock ?? file.deployBlock;
  const origin = flags.origin ?? file.origin;
  const threshold = flags.witnessThreshold ?? file.witnessThreshold;
  if (server) pins.server = server;
  if (rpc) pins.rpc = rpc;
  if (chain !== undefined) pins.chain = normaliseChain(chain);
  if (contract) pins.contract = contract;
  if (deployBlock !== undefined) pins.deployBlock = deployBlock;
  if (origin) pins.origin = origin;
  if (threshold !== undefined) pins.witnessThreshold = threshold;
  if (pins.witnesses.length > 0 && pins.witnessThreshold === undefined) pins.witnessThreshold = pins.witnesses.length;
  checkWitnessPins(pins);
  return pins;
}

/**
 * Refuses a witness threshold outside 1..n before any check runs. Without it, a threshold with no
 * witness keys pinned would skip the witness step and a receipt nobody cosigned would pass as verified.
 */
export function checkWitnessPins(p: Pick<AuditorPins, 'witnesses' | 'witnessThreshold'>): void {
  const k = p.witnessThreshold;
  if (k === undefined) return;
  if (p.witnesses.length === 0)
    throw new PavilionError(
      'WITNESS_POLICY_INVALID',
      `a witness threshold of ${k} but no witness keys: pin them with --witness (repeat) or witnesses in --config`,
    );
  if (!Number.isSafeInteger(k) || k < 1 || k > p.witnesses.length)
    throw new PavilionError(
      'WITNESS_POLICY_INVALID',
      `a witness threshold of ${k} with ${p.witnesses.length} witness key(s): it must be 1 to ${p.witnesses.length}`,
    );
}

/** The chain facts needed to read anchors, when all are pinned. */
export function chainPins(p: AuditorPins): { rpc: string; chain: string; contract: string } | undefined {
  return p.rpc && p.chain && p.contract ? { rpc: p.rpc, chain: p.chain, contract: p.contract } : undefined;
}

/**
 * The chain pins that are missing, as flags to name to the user: only `--rpc` when the chain and
 * contract came from `audit pin` against a broker that publishes no RPC URL.
 */
export function missingChainPins(p: AuditorPins): string {
  const missing = [!p.rpc && '--rpc', !p.chain && '--chain', !p.contract && '--contract'].filter((f) => f !== false);
  return missing.length > 1 ? `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}` : (missing[0] ?? '');
}
