import { describe, expect, it } from 'vitest';
import {
  canonicalEvent,
  encodeAnchorExtra,
  eventLeafHash,
  formatReceipt,
  generateSignerKey,
  MemoryMerkleTree,
  openNote,
  parseReceipt,
  parseSignerKey,
  signCheckpoint,
  verifyReceipt,
} from '../../audit/index.js';
import { isPavilionError } from '../../common/errors.js';
import { errorCode } from './error-code.js';

const ORIGIN = 'receipt.example/log';
const signer = parseSignerKey(generateSignerKey(ORIGIN));
const events = Array.from({ length: 37 }, (_, i) => ({ type: 'test', i }));
const tree = new MemoryMerkleTree();
for (const e of events) tree.appendLeafHash(eventLeafHash(canonicalEvent(e)));
const note = signCheckpoint({ origin: ORIGIN, size: tree.size, root: tree.root() }, [signer]);

function receiptFor(index: number, extra?: Uint8Array): string {
  return formatReceipt({ index, proof: tree.inclusionProof(index), checkpointNote: note, ...(extra ? { extra } : {}) });
}

/** Deterministic PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('tlog-proof receipts (pure)', () => {
  it('every index round trips and verifies by event and by leaf hash', () => {
    for (let i = 0; i < events.length; i++) {
      const text = receiptFor(i);
      const parsed = parseReceipt(text);
      expect(parsed.index).toBe(i);
      expect(parsed.checkpointNote).toBe(note);
      verifyReceipt(text, [signer.verifierKey], { event: events[i]! }, { origin: ORIGIN });
      verifyReceipt(text, [signer.verifierKey], { event: canonicalEvent(events[i]!) });
    }
  });

  it('the exact text layout follows c2sp.org/tlog-proof', () => {
    const anchor = {
      chain: 'eip155:137',
      contract: `0x${'11'.repeat(20)}`,
      tx: `0x${'22'.repeat(32)}`,
      block: 9,
      logIndex: 0,
      size: 37,
    };
    const text = receiptFor(5, encodeAnchorExtra(anchor));
    const lines = text.split('\n');
    expect(lines[0]).toBe('c2sp.org/tlog-proof@v1');
    expect(lines[1]).toBe(
      `extra ${Buffer.from(
        JSON.stringify({
          block: 9,
          chain: 'eip155:137',
          contract: anchor.contract,
          logIndex: 0,
          size: 37,
          tx: anchor.tx,
        }),
      ).toString('base64')}`,
    );
    expect(lines[2]).toBe('index 5');
    const proof = tree.inclusionProof(5);
    expect(lines.slice(3, 3 + proof.length)).toEqual(proof.map((h) => Buffer.from(h).toString('base64')));
    expect(lines[3 + proof.length]).toBe('');
    expect(lines.slice(4 + proof.length).join('\n')).toBe(note);
    expect(verifyReceipt(text, [signer.verifierKey], { event: events[5]! }).anchor).toEqual(anchor);
  });

  it('a malformed anchor reference is ANCHOR_INVALID (invalid UTF-8, truncated, extra keys, not canonical)', () => {
    const anchor = {
      chain: 'eip155:137',
      contract: `0x${'11'.repeat(20)}`,
      tx: `0x${'22'.repeat(32)}`,
      block: 9,
      logIndex: 0,
      size: 37,
    };
    const good = encodeAnchorExtra(anchor);
    const utf8 = Uint8Array.from(good);
    utf8[3] = 0xff;
    const bad = [
      utf8,
      good.subarray(0, good.length - 3),
      new TextEncoder().encode(JSON.stringify({ ...anchor, note: 'x' })),
      new TextEncoder().encode(JSON.stringify(anchor, null, 1)),
    ];
    for (const extra of bad) {
      const text = receiptFor(5, extra);
      expect(parseReceipt(text).anchorError).toBeDefined();
      expect(errorCode(() => verifyReceipt(text, [signer.verifierKey], { event: events[5]! }))).toBe('ANCHOR_INVALID');
    }
  });

  it('a non-canonical event text is refused rather than silently re-canonicalised', () => {
    const text = receiptFor(3);
    const code = (() => {
      try {
        verifyReceipt(text, [signer.verifierKey], { event: '{ "type": "test", "i": 3 }' });
      } catch (err) {
        return isPavilionError(err) ? err.code : 'untyped';
      }
      return null;
    })();
    expect(code).toBe('EVENT_INVALID');
  });

  it('random mutations of a receipt never crash and never verify as a different statement', () => {
    const rnd = prng(42);
    const original = receiptFor(11);
    const alphabet = 'AZaz09+/=\n \u2014.-x';
    let typed = 0;
    let stillValid = 0;
    for (let n = 0; n < 1500; n++) {
      const chars = [...original];
      const at = Math.floor(rnd() * chars.length);
      const op = rnd();
      if (op < 0.4) chars[at] = alphabet[Math.floor(rnd() * alphabet.length)]!;
      else if (op < 0.7) chars.splice(at, 1);
      else if (op < 0.85) chars.splice(at, 0, alphabet[Math.floor(rnd() * alphabet.length)]!);
      else chars.length = at;
      const mutated = chars.join('');
      try {
        const v = verifyReceipt(mutated, [signer.verifierKey], { event: events[11]! });
        // Only mutations that leave the statement intact may still verify.
        expect(v.index).toBe(11);
        expect(v.checkpoint.size).toBe(37);
        stillValid++;
      } catch (err) {
        expect(isPavilionError(err), String(err)).toBe(true);
        typed++;
      }
    }
    expect(typed).toBeGreaterThan(1400);
    expect(stillValid).toBeLessThan(100);
  });

  it('random mutations of a signed note never crash', () => {
    const rnd = prng(7);
    for (let n = 0; n < 1000; n++) {
      const chars = [...note];
      const at = Math.floor(rnd() * chars.length);
      chars[at] = String.fromCharCode(Math.floor(rnd() * 0x3000));
      try {
        openNote(chars.join(''), [signer.verifierKey]);
      } catch (err) {
        expect(isPavilionError(err), String(err)).toBe(true);
      }
    }
  });
});
