/**
 * The per-text memo of a query CLK's digests (server/verification/query-digests.ts): what it returns must be
 * exactly what decoding and hashing afresh gives, for every change of the key's other parts, and a text
 * checked against one CLK length must be checked again against another.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../../cache/cache-key.js';
import { decodeClkBase64 } from '../../../engine/index.js';
import { type CacheKeyContext, MAX_REMEMBERED_TEXT, QueryDigests } from '../../../server/verification/query-digests.js';

const cacheSecret = randomBytes(32);
const hashKey = randomBytes(32);

function digests(): { queries: QueryDigests; hashed: () => number } {
  let calls = 0;
  const queries = new QueryDigests(cacheSecret, (clk) => {
    calls++;
    return createHmac('sha256', hashKey).update(clk).digest('base64url');
  });
  return { queries, hashed: () => calls };
}

const context: CacheKeyContext = {
  datasetId: 'licences',
  datasetVersion: 3,
  claims: ['over_18', 'licence_class'],
  threshold: 0.85,
  policyVersion: 'r7+0123456789ab',
  party: 'rp-acme',
};

describe('query digests', () => {
  it('decodes and hashes a text once, and gives what decoding and hashing afresh gives', () => {
    const { queries, hashed } = digests();
    const clk = randomBytes(128);
    const text = clk.toString('base64');
    const first = queries.ofText(text, 1024);
    expect(Buffer.from(first.clk).equals(clk)).toBe(true);
    expect(first.queryHash).toBe(createHmac('sha256', hashKey).update(clk).digest('base64url'));
    // The remembered bytes own their memory (not a slice of Buffer's shared pool).
    expect(first.clk.buffer.byteLength).toBe(128);
    // A new string object with the same text: remembered by value, not by identity.
    const again = queries.ofText(`${text.slice(0, 10)}${text.slice(10)}`, 1024);
    expect(again).toBe(first);
    expect(hashed()).toBe(1);
  });

  it('checks a remembered text again against another CLK length', () => {
    const { queries } = digests();
    const text = randomBytes(128).toString('base64');
    queries.ofText(text, 1024);
    expect(() => queries.ofText(text, 512)).toThrow(expect.objectContaining({ code: 'CLK_LENGTH_MISMATCH' }));
  });

  it('remembers nothing for a text it refuses', () => {
    const { queries, hashed } = digests();
    for (let i = 0; i < 2; i++)
      expect(() => queries.ofText('not base64!', 1024)).toThrow(
        expect.objectContaining({ code: 'CLK_BASE64_INVALID' }),
      );
    expect(hashed()).toBe(0);
  });

  it('does not remember a text longer than MAX_REMEMBERED_TEXT (memory stays bounded whatever the CLK length)', () => {
    const { queries, hashed } = digests();
    const bits = 32_768;
    const text = randomBytes(bits / 8).toString('base64');
    expect(text.length).toBeGreaterThan(MAX_REMEMBERED_TEXT);
    const first = queries.ofText(text, bits);
    expect(queries.ofText(text, bits)).not.toBe(first);
    expect(hashed()).toBe(2);
    // A 16,384-bit CLK's text is the longest remembered.
    const edge = randomBytes(16_384 / 8).toString('base64');
    expect(edge.length).toBe(MAX_REMEMBERED_TEXT);
    expect(queries.ofText(edge, 16_384)).toBe(queries.ofText(edge, 16_384));
    expect(hashed()).toBe(3);
  });

  it('does not remember a CLK given without text (encoded from a record)', () => {
    const { queries, hashed } = digests();
    const clk = new Uint8Array(randomBytes(128));
    expect(queries.of(clk).queryHash).toBe(queries.ofText(Buffer.from(clk).toString('base64'), 1024).queryHash);
    expect(hashed()).toBe(2);
  });

  it('gives the cache key cacheKey gives, whichever part changes between questions', () => {
    const { queries } = digests();
    const text = randomBytes(128).toString('base64');
    const changes: Partial<CacheKeyContext>[] = [
      {},
      { datasetVersion: 4 },
      { threshold: 0.9 },
      { claims: ['over_18'] },
      { claims: ['licence_class', 'over_18'] },
      { claims: [] },
      { policyVersion: 'r8+0123456789ab' },
      { datasetId: 'licences2' },
      // Strings that would run into each other if the parts were only joined.
      { datasetId: 'licences1', policyVersion: '5:r7+0123456789ab' },
      { datasetId: 'lic', claims: ['ences'] },
      { party: 'rp-other' },
      { tenant: 'tenant-a' },
      { party: 'rp', tenant: '-' },
      { party: 'rp-' },
      {},
    ];
    for (const change of changes) {
      const parts = { ...context, ...change };
      const digest = queries.ofText(text, 1024);
      const expected = cacheKey(cacheSecret, { ...parts, clk: decodeClkBase64(text, 1024) });
      expect(queries.cacheKey(digest, parts)).toBe(expected);
      // Asked again with the same parts: the remembered key, still the right one.
      expect(queries.cacheKey(digest, parts)).toBe(expected);
    }
  });

  it('lets cacheKey refuse malformed parts, and remembers no key for them', () => {
    const { queries } = digests();
    const digest = queries.ofText(randomBytes(128).toString('base64'), 1024);
    expect(() => queries.cacheKey(digest, { ...context, threshold: 2 })).toThrow(
      expect.objectContaining({ code: 'CACHE_KEY_INVALID' }),
    );
    expect(digest.lastKey).toBeUndefined();
  });
});
