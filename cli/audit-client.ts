/**
 * The few broker endpoints an auditor's tools read, over plain fetch. Every
 * answer is untrusted input: signatures and proofs are checked by the caller.
 */

import { decodeBase64Strict } from '../audit/index.js';
import { ERROR_CODES, isErrorCode } from '../common/error-codes.js';
import { PavilionError } from '../common/errors.js';

/**
 * A check that could not be made, which says nothing about the log: the broker or the chain did not answer
 * (unreachable, a timeout, a 5xx or 429) or refused the caller (CallerRefused). `audit verify` and `audit monitor`
 * end with it as `pavilion: CODE: message` and exit CANNOT_CHECK_EXIT (cli/audit.ts, docs/audit.md), never as a
 * failed check: outages were reported as 'DIVERGENCE' and 'receipt NOT verified', exit 1, and a cron monitor
 * could not tell one from a log that misbehaves.
 */
export class CannotCheck extends PavilionError {}

/**
 * The broker refused the caller (401, 403: no token, a token it does not accept, a role it does not serve): the
 * caller's setting to fix, never evidence about the log.
 */
export class CallerRefused extends CannotCheck {}

/**
 * Why a request got no answer, from the error's cause chain: the system's code (ECONNREFUSED, ENOTFOUND,
 * ECONNRESET…) or a timeout. fetch's own error is only "TypeError: fetch failed", which told an auditor nothing.
 */
export function noAnswerReason(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, code } = e as { name?: unknown; code?: unknown };
    if (name === 'TimeoutError' || code === 'TIMEOUT' || code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')
      return 'timeout';
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
  }
  return 'no answer';
}

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
      throw new CannotCheck('SERVER_UNREACHABLE', `cannot reach ${this.server}: ${noAnswerReason(err)}`);
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
   * refused caller (401, 403) is told what to pass. A 5xx or 429 (the broker, or what fronts it, does not
   * answer now) is CannotCheck, as a refusal is.
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
    if (status >= 500 || status === 429) return new CannotCheck('SERVER_ERROR', `${path}: ${status} ${code}`);
    if (known) return new PavilionError(code, `${path}: ${status} ${code}`);
    return new PavilionError('SERVER_ERROR', `${path}: ${status} ${code}`);
  }

  async text(path: string): Promise<string> {
    const res = await this.get(path);
    try {
      return await res.text();
    } catch (err) {
      // The connection broke or timed out in the middle of the answer.
      throw new CannotCheck(
        'SERVER_UNREACHABLE',
        `${path}: the answer of ${this.server} broke off: ${noAnswerReason(err)}`,
      );
    }
  }

  /** An answer that is not JSON is the broker's (a SyntaxError, reported as a failed check), not an outage. */
  async json<T>(path: string): Promise<T> {
    return JSON.parse(await this.text(path)) as T;
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
