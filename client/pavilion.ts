/**
 * `Pavilion`: a relying party's typed client for the broker, for Node and
 * browsers (client/README.md).
 *
 *   const pv = new Pavilion({ url: 'https://broker.example', token });
 *   const ds = await pv.dataset('dmv');                       // schema, claims
 *   const enc = pv.encoder(ds.schema, secret);                // the repository's CLK encoder (wasm)
 *   const answer = await pv.verify({ dataset: 'dmv', clk: enc.encodeRecord(person), purpose: 'age_verification',
 *                                    claims: ['over_18'] });
 *   await pv.checkReceipt(answer);                            // offline inclusion + signature check
 *
 * Verifications go over HTTP (`verify`) or one shared WebSocket
 * (`socket().verify`, reconnecting, bounded in flight: socket.ts); linkage
 * jobs are submitted and followed over the socket. Encoding happens here,
 * in the caller's process: a CLK leaves it, never the record.
 */

import { ClkEncoder, clkToBase64 } from '../engine/clk/index.js';
import { PavilionClientError } from './errors.js';
import { type HttpOptions, PavilionApiError, request, type TokenSource } from './http.js';
import { type ReceiptCheck, verifyReceiptOffline } from './receipt.js';
import { type JobMessage, type SocketOptions, VerificationSocket, type WebSocketConstructor } from './socket.js';

export interface PavilionOptions {
  /** Broker base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Bearer token, or a function returning a fresh one. */
  token?: TokenSource;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /** Default: globalThis.WebSocket, else the `ws` package (Node 20 has no global WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** Per HTTP request (default 30 s). */
  timeoutMs?: number;
  socket?: SocketOptions;
  /** The log's verifier key(s) to trust for receipts; default: fetched once from /v1/audit/key. */
  logKey?: string | string[];
}

export interface VerificationRequest {
  dataset: string;
  /** The CLK: bytes (encoded here) or standard base64. */
  clk?: Uint8Array | string;
  /** Raw fields for broker-side encoding, when the dataset and policy allow it. Prefer `clk`. */
  record?: Record<string, string>;
  /** Claims to reveal; none: a match-only question. */
  claims?: string[];
  purpose: string;
  consent?: boolean;
}

export interface Receipt {
  origin: string;
  index: number;
  leaf_hash: string;
}

export interface VerificationAnswer {
  id: string;
  decision: 'match' | 'no_match' | 'ambiguous';
  score: number;
  claims: Record<string, unknown>;
  dataset_version: number;
  receipt: Receipt;
  cached: boolean;
}

export interface DatasetInfo {
  id: string;
  schema: unknown;
  claims: string[];
  filter_bits: number;
  allow_broker_encoding: boolean;
  purposes: string[] | null;
  active_version: number | null;
  rows: number;
  /** Each claim's type (`scalar` for claims declared by name only). */
  claim_types?: Record<string, string>;
  /** Fingerprint of the secret the active version was encoded with (common/secret-fingerprint.ts). */
  secret_fingerprint?: string | null;
  broker_secret_fingerprint?: string | null;
}

export interface PolicyInfo {
  version: string;
  revision: string;
  purposes: Record<
    string,
    { claims: string[]; consent_required: boolean; min_score: number; cache_ttl_seconds: number; description: string }
  >;
  actions: Record<string, string[]>;
  reasons: Record<string, string>;
}

export interface LinkageRequest {
  dataset: string;
  clks: (Uint8Array | string)[];
  threshold: number;
  top_k?: number;
  solution?: 'pairs' | 'greedy';
  /** Claims of each matched record to return, as far as the policy releases them for the purpose. */
  claims?: string[];
  purpose: string;
  consent?: boolean;
}

export interface LinkageJob {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  dataset: string;
  done: number;
  total: number;
  pair_count: number | null;
  error_code: string | null;
}

export interface LinkageResults {
  job: string;
  pair_count: number;
  /** `candidate` numbers the matched records within these results; the provider's record ids are never sent. */
  pairs: { query: number; candidate: number; score: number; claims: Record<string, unknown> }[];
}

export interface Encoder {
  /** One row in the schema's feature order (ignored features included). */
  encode(row: readonly string[]): Uint8Array;
  /** Fields by feature identifier; missing ones are empty. */
  encodeRecord(record: Record<string, string>): Uint8Array;
  /** Drops the encoder's caches (they hold the values encoded). */
  dispose(): void;
}

const b64 = (clk: Uint8Array | string): string => (typeof clk === 'string' ? clk : clkToBase64(clk));

export class Pavilion {
  private readonly http: HttpOptions;
  private ws: VerificationSocket | undefined;
  private logKeys: Promise<string[]> | undefined;

  constructor(private readonly opts: PavilionOptions) {
    this.http = {
      baseUrl: opts.url,
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
      timeoutMs: opts.timeoutMs ?? 30_000,
    };
    if (opts.logKey) this.logKeys = Promise.resolve(typeof opts.logKey === 'string' ? [opts.logKey] : opts.logKey);
  }

  // ---- encoding (local: the record stays in this process)

  /** The clkhash-compatible encoder for a dataset's schema and the DP's linkage secret. */
  encoder(schema: unknown, secret: string | Uint8Array): Encoder {
    const e = ClkEncoder.create(schema, secret);
    return {
      encode: (row) => e.encode(row),
      encodeRecord: (record) => e.encodeRecord(record),
      dispose: () => e.dispose(),
    };
  }

  // ---- reading

  dataset(id: string): Promise<DatasetInfo> {
    return request(this.http, 'GET', `/v1/datasets/${encodeURIComponent(id)}`) as Promise<DatasetInfo>;
  }

  policy(): Promise<PolicyInfo> {
    return request(this.http, 'GET', '/v1/policy') as Promise<PolicyInfo>;
  }

  // ---- verification

  private body(req: VerificationRequest): Record<string, unknown> {
    return {
      dataset: req.dataset,
      ...(req.clk !== undefined ? { clk: b64(req.clk) } : {}),
      ...(req.record !== undefined ? { record: req.record } : {}),
      claims: req.claims ?? [],
      purpose: req.purpose,
      ...(req.consent !== undefined ? { consent: req.consent } : {}),
    };
  }

  /** POST /v1/verifications. */
  verify(req: VerificationRequest): Promise<VerificationAnswer> {
    return request(this.http, 'POST', '/v1/verifications', this.body(req)) as Promise<VerificationAnswer>;
  }

  /** The shared WebSocket (opened on first use). */
  socket(): { verify(req: VerificationRequest): Promise<VerificationAnswer>; raw: VerificationSocket } {
    this.ws ??= new VerificationSocket(
      this.opts.url.replace(/^http/, 'ws').replace(/\/?$/, '/v1/ws'),
      this.opts.token,
      () => webSocketImpl(this.opts.WebSocket),
      this.opts.socket,
    );
    const ws = this.ws;
    return {
      raw: ws,
      verify: async (req) => {
        const { type: _t, id: _i, verification_id, ...rest } = await ws.verify(this.body(req));
        return { id: verification_id, ...rest } as VerificationAnswer;
      },
    };
  }

  // ---- linkage jobs

  submitLinkage(req: LinkageRequest): Promise<LinkageJob> {
    return request(this.http, 'POST', '/v1/linkage-jobs', {
      ...req,
      clks: req.clks.map(b64),
    }) as Promise<LinkageJob>;
  }

  linkageJob(id: string): Promise<LinkageJob> {
    return request(this.http, 'GET', `/v1/linkage-jobs/${encodeURIComponent(id)}`) as Promise<LinkageJob>;
  }

  linkageResults(id: string): Promise<LinkageResults> {
    return request(this.http, 'GET', `/v1/linkage-jobs/${encodeURIComponent(id)}/results`) as Promise<LinkageResults>;
  }

  /**
   * Follows a job over the WebSocket until it ends; resolves with its pairs
   * (fetched over HTTP when too many to push), rejects with the job's code.
   */
  async followLinkage(id: string, onProgress?: (done: number, total: number) => void): Promise<LinkageResults> {
    const ws = this.socket().raw;
    const final = await new Promise<JobMessage>((resolve) => {
      let stop: (() => void) | undefined;
      let ended: JobMessage | undefined;
      void ws
        .subscribe(id, (m) => {
          if (m.type === 'progress') onProgress?.(m.done as number, m.total as number);
          else {
            ended = m;
            stop?.();
            resolve(m);
          }
        })
        .then((s) => {
          stop = s;
          if (ended) s();
        });
    });
    if (final.status !== 'done')
      throw new PavilionClientError(String(final.code ?? 'JOB_FAILED'), `linkage job ${id} failed`, 409);
    if (Array.isArray(final.pairs))
      return { job: id, pair_count: final.pair_count as number, pairs: final.pairs as LinkageResults['pairs'] };
    return this.linkageResults(id);
  }

  // ---- receipts

  /**
   * The C2SP tlog-proof receipt of an answer (text). An answer is durable
   * before the log signs a checkpoint covering it (AUDIT_CHECKPOINT_MS):
   * while the broker says RECEIPT_NOT_READY this waits and asks again, up to
   * `waitMs`.
   */
  async receipt(index: number, waitMs = 10_000): Promise<string> {
    const until = Date.now() + waitMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return (await request(this.http, 'GET', `/v1/audit/receipts/${index}`, undefined, 'text')) as string;
      } catch (err) {
        if (!(err instanceof PavilionApiError) || err.code !== 'RECEIPT_NOT_READY' || Date.now() + delay > until)
          throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** The log's verifier key(s): those given to the constructor, else the broker's (fetched once). */
  logKey(): Promise<string[]> {
    this.logKeys ??= (async () => {
      const k = (await request(this.http, 'GET', '/v1/audit/key')) as {
        verifier_key: string;
        verifier_keys?: string[];
      };
      return k.verifier_keys?.length ? k.verifier_keys : [k.verifier_key];
    })();
    return this.logKeys;
  }

  /**
   * Fetches the answer's receipt and verifies it offline (checkpoint
   * signature by the log key, inclusion of the answer's leaf). Throws when
   * it does not hold. Pin `logKey` in the options to not trust the broker's.
   */
  async checkReceipt(answer: { receipt: Receipt }): Promise<ReceiptCheck> {
    const [text, keys] = await Promise.all([this.receipt(answer.receipt.index), this.logKey()]);
    return verifyReceiptOffline(text, keys, answer.receipt);
  }

  close(): void {
    this.ws?.close();
  }
}

/** The given WebSocket, the global one (browsers, Node 22+), or the `ws` package (Node 20). */
async function webSocketImpl(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  try {
    return (await import('ws')).default as unknown as WebSocketConstructor;
  } catch (err) {
    throw new PavilionClientError('WEBSOCKET_UNAVAILABLE', 'no WebSocket: pass options.WebSocket', 500, { cause: err });
  }
}

export { type ReceiptCheck, verifyReceiptOffline };
