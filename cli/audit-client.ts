/**
 * The few broker endpoints an auditor's tools read, over plain fetch. Every
 * answer is untrusted input: signatures and proofs are checked by the caller.
 */

import { decodeBase64Strict } from '../audit/index.js';
import { ERROR_CODES, isErrorCode } from '../common/error-codes.js';
import { PavilionError } from '../common/errors.js';

/**
 * The broker refused the caller (401, 403: no token, a token it does not accept, a role it does not serve): the
 * caller's setting to fix, never evidence about the log, so `audit monitor` ends the pass with it as
 * `pavilion: CODE: message` instead of reporting a failed check as a divergence (cli/audit.ts).
 */
export class CallerRefused extends PavilionError {}

export class AuditClient {
  constructor(
    private readonly server: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 10_000,
  ) {}

  private async get(path: string): Promise<Response> {
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
    let res: Response;
    try {
      res = await fetch(new URL(path, this.server), { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new PavilionError('SERVER_UNREACHABLE', `cannot reach ${this.server}: ${(err as Error).name}`);
    }
    if (!res.ok) {
      let code = `HTTP_${res.status}`;
      try {
        code = ((await res.json()) as { code?: string }).code ?? code;
      } catch {
        /* not problem JSON */
      }
      throw this.refusal(path, res.status, code);
    }
    return res;
  }

  /**
   * A broker's error answer as a coded error. Only a 5xx is SERVER_ERROR; a 4xx is the caller's, so it
   * keeps the broker's own code (AUTH_MISSING, FORBIDDEN_ROLE, ENTRY_NOT_FOUND…) as `publish` does, and a
   * refused caller (401, 403) is told what to pass.
   */
  private refusal(path: string, status: number, code: string): PavilionError {
    // The answer is untrusted: its code is taken only when the catalogue gives it this very status.
    const known = isErrorCode(code) && ERROR_CODES[code].status === status;
    if (status === 401 || status === 403) {
      const fix = this.token
        ? 'the broker refused the token given (--token or $PAVILION_TOKEN): pass one it accepts'
        : 'the broker wants a token: pass --token or set $PAVILION_TOKEN';
      // AUTH_FAILED (the broker refused the caller) when the answer is not a Pavilion problem, e.g. a proxy's.
      return new CallerRefused(known ? code : 'AUTH_FAILED', `${path}: ${status} ${code}: ${fix}`);
    }
    if (status < 500 && known) return new PavilionError(code, `${path}: ${status} ${code}`);
    return new PavilionError('SERVER_ERROR', `${path}: ${status} ${code}`);
  }

  async text(path: string): Promise<string> {
    return (await this.get(path)).text();
  }

  async json<T>(path: string): Promise<T> {
    return (await (await this.get(path)).json()) as T;
  }

  async latestCheckpointNote(): Promise<string> {
    return this.text('/v1/audit/checkpoint');
  }

  async verifierKey(): Promise<{
    origin: string;
    verifierKey: string;
    verifierKeys: string[];
    witnesses: string[];
    witnessThreshold?: number;
  }> {
    const k = await this.json<{
      origin: string;
      verifier_key: string;
      verifier_keys?: string[];
      witnesses?: { key: string }[];
      witness_threshold?: number;
    }>('/v1/audit/key');
    return {
      origin: k.origin,
      verifierKey: k.verifier_key,
      verifierKeys: k.verifier_keys ?? [k.verifier_key],
      witnesses: (k.witnesses ?? []).map((w) => w.key),
      ...(k.witness_threshold ? { witnessThreshold: k.witness_threshold } : {}),
    };
  }

  /** The anchoring facts the server publishes (GET /v1/audit/anchoring), or undefined when it does not anchor. */
  async anchoringFacts(): Promise<
    { chain: string; contract: string; deploy_block: number | null; rpc_url: string | null } | undefined
  > {
    const f = await this.json<{
      enabled: boolean;
      chain: string;
      contract: string;
      deploy_block: number | null;
      rpc_url: string | null;
    }>('/v1/audit/anchoring');
    return f.enabled ? f : undefined;
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    const r = await this.json<{ hashes: string[] }>(`/v1/audit/proofs/consistency?from=${from}&to=${to}`);
    return r.hashes.map((h) => decodeBase64Strict(h, 'PROOF_MALFORMED', 'a consistency proof hash'));
  }

  async entry(index: number): Promise<{ leafHash: Uint8Array; event: unknown }> {
    const e = await this.json<{ leaf_hash: string; event: unknown }>(`/v1/audit/entries/${index}`);
    return { leafHash: decodeBase64Strict(e.leaf_hash, 'ENTRY_MALFORMED', "the entry's leaf hash"), event: e.event };
  }

  async receipt(index: number): Promise<string> {
    return this.text(`/v1/audit/receipts/${index}`);
  }
}
