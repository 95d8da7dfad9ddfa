/**
 * The log's side of C2SP tlog-witness: before a checkpoint is stored (and so
 * before anyone can fetch it or a receipt carrying it), each configured
 * witness is asked to cosign it with `POST <url>/add-checkpoint`, giving a
 * consistency proof from the size the witness last cosigned. The cosignature
 * lines that verify under the witness's pinned key are appended to the note;
 * anything else a witness answers is ignored (the spec: clients MUST ignore
 * cosignatures from unknown keys).
 *
 * A witness that is down or refuses does not stop the log: the checkpoint is
 * stored with the cosignatures it got, the failure is reported, and auditors'
 * witness policies (k of n) decide whether that is enough.
 */
import { PavilionError } from '../common/errors.js';
import { encodeBase64 } from './base64.js';
import { type CosignatureVerifier, parseCosignatureVerifierKey } from './cosignature.js';
import { parseNote } from './note.js';

export interface WitnessEndpoint {
  /** Submission prefix; add-checkpoint is `<url>/add-checkpoint`. */
  url: string;
  /** The witness's cosigner verifier key (Ed25519 0x04 or ML-DSA-44 0x06). */
  key: string;
}

export interface CosigningOutcome {
  note: string;
  /** Witness labels whose cosignature was added. */
  cosignedBy: string[];
  failures: { witness: string; code: string; message: string }[];
}

const MAX_PROOF_LINES = 63;

export class WitnessCosigning {
  /** One request per witness URL; a witness may hold several keys (e.g. Ed25519 and ML-DSA-44). */
  private readonly witnesses: { url: string; verifiers: CosignatureVerifier[] }[];
  /** The size each witness last cosigned, as far as this process knows (0: ask, the witness says). */
  private readonly known = new Map<string, number>();

  constructor(
    endpoints: readonly WitnessEndpoint[],
    private readonly proof: (from: number, to: number) => Promise<Uint8Array[]>,
    private readonly timeoutMs = 5_000,
  ) {
    const byUrl = new Map<string, CosignatureVerifier[]>();
    for (const e of endpoints) {
      if (typeof e.url !== 'string' || !/^https?:\/\//.test(e.url))
        throw new PavilionError('CONFIG_INVALID', 'a witness URL must be http(s)');
      const url = e.url.replace(/\/+$/, '');
      byUrl.set(url, [...(byUrl.get(url) ?? []), parseCosignatureVerifierKey(e.key)]);
    }
    this.witnesses = [...byUrl].map(([url, verifiers]) => ({ url, verifiers }));
  }

  get size(): number {
    return this.witnesses.length;
  }

  /** Asks every witness at once; resolves with the note plus the cosignatures that verified. */
  async cosign(note: string, size: number): Promise<CosigningOutcome> {
    const body = parseNote(note).text;
    const results = await Promise.all(
      this.witnesses.map(async (w) => {
        try {
          return { w, lines: await this.ask(w, note, body, size) };
        } catch (err) {
          const e = err as { code?: string; message?: string };
          return { w, lines: [], error: { code: e.code ?? 'WITNESS_FAILED', message: String(e.message ?? err) } };
        }
      }),
    );
    return {
      note: note + results.flatMap((r) => r.lines.map((l) => l.line)).join(''),
      cosignedBy: results.flatMap((r) => r.lines.map((l) => l.label)),
      failures: results
        .filter((r) => r.error)
        .map((r) => ({ witness: r.w.url, code: r.error!.code, message: r.error!.message })),
    };
  }

  private async ask(
    w: { url: string; verifiers: CosignatureVerifier[] },
    note: string,
    body: string,
    size: number,
  ): Promise<{ line: string; label: string }[]> {
    let old = Math.min(this.known.get(w.url) ?? 0, size);
    for (let attempt = 0; attempt < 2; attempt++) {
      const proof = old > 0 && old < size ? await this.proof(old, size) : [];
      if (proof.length > MAX_PROOF_LINES) throw new PavilionError('WITNESS_FAILED', 'consistency proof too long');
      const request = `old ${old}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${note}`;
      let res: Response;
      try {
        res = await fetch(`${w.url}/add-checkpoint`, {
          method: 'POST',
          body: request,
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        throw new PavilionError('WITNESS_UNREACHABLE', `witness ${w.url} unreachable`, { cause: err });
      }
      const text = await res.text();
      if (res.status === 409 && (res.headers.get('content-type') ?? '').startsWith('text/x.tlog.size')) {
        const theirs = /^(0|[1-9][0-9]{0,15})\n$/.exec(text);
        if (!theirs) throw new PavilionError('WITNESS_FAILED', 'witness sent a malformed size');
        const n = Number(theirs[1]);
        this.known.set(w.url, n);
        if (n > size || n === old)
          throw new PavilionError('WITNESS_REFUSED', `witness ${w.url} is at size ${n}: conflict`);
        old = n;
        continue;
      }
      if (res.status !== 200) throw new PavilionError('WITNESS_REFUSED', `witness ${w.url} answered ${res.status}`);
      // The answer is one or more signature lines; keep those that verify under a pinned key.
      const kept: { line: string; label: string }[] = [];
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let sig: ReturnType<typeof parseNote>['signatures'][number];
        try {
          sig = parseNote(`${body}\n${line}\n`).signatures[0]!;
        } catch {
          continue;
        }
        const v = w.verifiers.find((k) => k.name === sig.name && k.keyId === sig.keyId);
        if (!v || kept.some((k) => k.label === v.label)) continue;
        if (v.verifiedTime(body, sig.signature) === undefined) continue;
        kept.push({ line: `${line}\n`, label: v.label });
      }
      if (kept.length === 0)
        throw new PavilionError('WITNESS_FAILED', `witness ${w.url} sent no cosignature that verifies`);
      this.known.set(w.url, size);
      return kept;
    }
    throw new PavilionError('WITNESS_REFUSED', `witness ${w.url} keeps answering 409`);
  }
}
