/**
 * A C2SP tlog-witness (c2sp.org/tlog-witness): for each configured log
 * (origin + verifier keys) it keeps the last checkpoint it cosigned, and
 * cosigns a new one only when the log's signature verifies and a consistency
 * proof shows it extends that one. A fork (same size, another root; or a
 * proof that does not verify) is refused and never cosigned.
 *
 * Status codes are the spec's: 400 malformed request or old size above the
 * checkpoint's, 403 no trusted log signature, 404 unknown log, 409 old size
 * not the witness's (body: its size, `text/x.tlog.size`) or same size with
 * another root, 422 consistency proof does not verify.
 */
import {
  type Cosigner,
  decodeBase64Strict,
  encodeBase64,
  HASH_SIZE,
  openNote,
  parseCheckpoint,
  parseNote,
  verifyConsistency,
} from '../index.js';
import type { WitnessStateStore } from './state.js';

export interface WitnessedLog {
  origin: string;
  /** The log's verifier keys (note format). */
  keys: string[];
}

export interface WitnessAnswer {
  status: number;
  body: string;
  contentType: string;
}

const TEXT = 'text/plain; charset=utf-8';
const answer = (status: number, body: string, contentType = TEXT): WitnessAnswer => ({ status, body, contentType });

export class Witness {
  private readonly logs: Map<string, WitnessedLog>;
  /** Check-then-persist runs one request at a time (the spec's race: a rollback between two requests). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cosigners: readonly Cosigner[],
    logs: readonly WitnessedLog[],
    private readonly state: WitnessStateStore,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.logs = new Map(logs.map((l) => [l.origin, l]));
  }

  /** Verifier keys to publish. */
  get verifierKeys(): string[] {
    return this.cosigners.map((c) => c.verifierKey);
  }

  addCheckpoint(request: string): Promise<WitnessAnswer> {
    const run = this.queue.then(() => this.handle(request));
    this.queue = run.catch(() => {});
    return run;
  }

  private async handle(request: string): Promise<WitnessAnswer> {
    const parsed = parseRequest(request);
    if (typeof parsed === 'string') return answer(400, `${parsed}\n`);
    const { old, proof, note } = parsed;
    let body: string;
    let checkpoint: ReturnType<typeof parseCheckpoint>;
    try {
      body = parseNote(note).text;
      checkpoint = parseCheckpoint(body);
    } catch {
      return answer(400, 'malformed checkpoint\n');
    }
    const log = this.logs.get(checkpoint.origin);
    if (!log) return answer(404, 'unknown log\n');
    try {
      openNote(note, log.keys);
    } catch {
      return answer(403, 'no valid signature by a trusted log key\n');
    }
    if (old > checkpoint.size) return answer(400, 'old size above the checkpoint size\n');
    const known = await this.state.get(checkpoint.origin);
    const knownSize = known?.size ?? 0;
    if (old !== knownSize) return answer(409, `${knownSize}\n`, 'text/x.tlog.size');
    if (known && old === checkpoint.size) {
      if (Buffer.compare(known.root, checkpoint.root) !== 0) return answer(409, 'fork: another root at this size\n');
    } else if (old === 0) {
      if (proof.length > 0) return answer(422, 'the proof from size 0 must be empty\n');
    } else {
      try {
        verifyConsistency(old, checkpoint.size, proof, known!.root, checkpoint.root);
      } catch {
        return answer(422, 'consistency proof does not verify\n');
      }
    }
    await this.state.put(checkpoint.origin, { size: checkpoint.size, root: checkpoint.root });
    const time = this.now();
    const lines = this.cosigners.map((c) => signatureLineFor(c, c.cosign(body, time)));
    return answer(200, lines.join(''));
  }
}

function signatureLineFor(c: Cosigner, sig: Uint8Array): string {
  const payload = new Uint8Array(4 + sig.length);
  new DataView(payload.buffer).setUint32(0, c.keyId);
  payload.set(sig, 4);
  return `\u2014 ${c.name} ${encodeBase64(payload)}\n`;
}

/** old line, up to 63 proof lines, blank line, checkpoint note. A string is the reason it is malformed. */
function parseRequest(request: string): { old: number; proof: Uint8Array[]; note: string } | string {
  const blank = request.indexOf('\n\n');
  if (blank < 0) return 'no blank line before the checkpoint';
  const head = request.slice(0, blank).split('\n');
  const oldLine = /^old (0|[1-9][0-9]{0,15})$/.exec(head[0] ?? '');
  if (!oldLine) return 'first line must be "old <size>"';
  const old = Number(oldLine[1]);
  if (!Number.isSafeInteger(old)) return 'old size too large';
  const proofLines = head.slice(1);
  if (proofLines.length > 63) return 'more than 63 proof lines';
  const proof: Uint8Array[] = [];
  for (const line of proofLines) {
    try {
      const h = decodeBase64Strict(line, 'PROOF_MALFORMED', 'proof line');
      if (h.length !== HASH_SIZE) return 'proof hashes must be 32 bytes';
      proof.push(h);
    } catch {
      return 'proof lines must be base64 hashes';
    }
  }
  return { old, proof, note: request.slice(blank + 2) };
}
