/**
 * Canonical base64 (engine/validation.ts isCanonicalBase64): a text is accepted exactly when Node's
 * decoder and encoder give it back unchanged, so no two accepted texts decode to one CLK.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeClkBase64 } from '../../engine/index.js';
import { isCanonicalBase64 } from '../../engine/validation.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const roundTrips = (text: string) => Buffer.from(text, 'base64').toString('base64') === text;

describe('canonical base64', () => {
  it('every last character before the padding, after 0 to 3 whole groups: accepted iff it round-trips', () => {
    for (const groups of ['', 'QUJD', 'QUJDREVG', 'QUJDREVGR0hJ']) {
      for (const c of ALPHABET) {
        for (const text of [`${groups}Q${c}==`, `${groups}QU${c}=`, `${groups}QUJ${c}`]) {
          expect(isCanonicalBase64(text), text).toBe(roundTrips(text));
        }
      }
    }
    // 4 unused bits before `==` leave 4 of the 64 characters; 2 before `=` leave 16; none unused without padding.
    expect([...ALPHABET].filter((c) => isCanonicalBase64(`Q${c}==`)).join('')).toBe('AQgw');
    expect([...ALPHABET].filter((c) => isCanonicalBase64(`QU${c}=`)).join('')).toBe('AEIMQUYcgkosw048');
  });

  it('random byte strings of every length mod 3 are canonical as Node encodes them', () => {
    for (let n = 0; n < 50; n++) expect(isCanonicalBase64(randomBytes(n).toString('base64'))).toBe(true);
  });

  it('the alphabet and the padding shape are still checked', () => {
    for (const text of ['QUJ', 'QU=', 'Q===', 'QUJD=', 'QU-_', 'QU J', '=QUJ', 'QU=J', 'QUJD\n']) {
      expect(isCanonicalBase64(text), JSON.stringify(text)).toBe(false);
    }
  });

  it('decodeClkBase64 refuses a CLK whose unused bits are set, as CLK_BASE64_INVALID', () => {
    // 128 bits = 16 bytes: the text ends in `==`, its last character has 4 unused bits.
    const clk = new Uint8Array(16).fill(0xa5);
    const text = Buffer.from(clk).toString('base64');
    expect(text).toBe('paWlpaWlpaWlpaWlpaWlpQ==');
    expect(decodeClkBase64(text, 128)).toEqual(clk);
    const altered = 'paWlpaWlpaWlpaWlpaWlpR==';
    expect(Buffer.from(altered, 'base64')).toEqual(Buffer.from(clk));
    expect(() => decodeClkBase64(altered, 128)).toThrow(expect.objectContaining({ code: 'CLK_BASE64_INVALID' }));
  });
});
