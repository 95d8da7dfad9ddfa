import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyDatasetVersion } from '../../cache/cache-key.js';
import { type CacheKeyParts, cacheKey, datasetKeyPrefix } from '../../cache/index.js';
import { PavilionError } from '../../common/errors.js';

const secret = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const clk = Uint8Array.from({ length: 128 }, (_, i) => (i * 37 + 11) & 0xff);
const base: CacheKeyParts = {
  datasetId: 'dmv-licenses',
  datasetVersion: 7,
  clk,
  claims: ['over_21', 'license_valid'],
  threshold: 0.85,
  policyVersion: 'policy-2026-11-01',
  party: 'rp-acme',
};

/** Plain reference encoding, built with Buffer.concat instead of the scratch-buffer writer. */
function referenceKey(key: Buffer, p: CacheKeyParts): string {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([u32(b.length), b]);
  };
  const version = Buffer.alloc(8);
  version.writeBigUInt64BE(BigInt(p.datasetVersion));
  const threshold = Buffer.alloc(8);
  threshold.writeDoubleBE(p.threshold === 0 ? 0 : p.threshold);
  const claims = [...p.claims].sort();
  const msg = Buffer.concat([
    Buffer.from('pavilion/verification-cache-key/v2\0'),
    str(p.datasetId),
    version,
    u32(p.clk.length),
    Buffer.from(p.clk),
    u32(claims.length),
    ...claims.map(str),
    threshold,
    str(p.policyVersion),
    str(p.party),
    ...(p.tenant === undefined ? [Buffer.from([0])] : [Buffer.from([1]), str(p.tenant)]),
  ]);
  const escaped = [...Buffer.from(p.datasetId, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) && b < 0x80
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
  return `pv:${escaped}:${p.datasetVersion}:${createHmac('sha256', key).update(msg).digest('base64url')}`;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(PavilionError);
    return (err as PavilionError).code;
  }
  return undefined;
}

describe('cacheKey', () => {
  it('has the documented shape and is deterministic', () => {
    const k = cacheKey(secret, base);
    expect(k).toMatch(/^pv:dmv-licenses:7:[A-Za-z0-9_-]{43}$/);
    expect(cacheKey(secret, { ...base, clk: Uint8Array.from(clk), claims: [...base.claims] })).toBe(k);
  });

  it('matches an answer computed independently (Python hmac; changing it orphans every deployed entry)', () => {
    expect(cacheKey(secret, base)).toBe(referenceKey(secret, base));
    expect(cacheKey(secret, base)).toMatchInlineSnapshot(
      `"pv:dmv-licenses:7:zG9gCVqrd6MAhau8SW-0n_FSlCutp5YGs34moF8VMqA"`,
    );
  });

  it('agrees with the reference encoding on varied inputs', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ['a', 'b', 'é', '猫', '😀', ':', '*', '%', ' ', '_'];
    const word = () => Array.from({ length: 1 + rnd(8) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let i = 0; i < 300; i++) {
      const p: CacheKeyParts = {
        datasetId: word(),
        datasetVersion: rnd(3) === 0 ? 2 ** 40 + rnd(1000) : rnd(1000),
        clk: Uint8Array.from({ length: 1 + rnd(300) }, () => rnd(256)),
        claims: Array.from({ length: rnd(6) }, word),
        threshold: rnd(1001) / 1000,
        policyVersion: word(),
        party: word(),
        ...(rnd(2) === 0 ? {} : { tenant: word() }),
      };
      const k = secret.subarray(0, 16 + rnd(17));
      expect(cacheKey(k, p)).toBe(referenceKey(k, p));
    }
  });

  it('changes when any part changes', () => {
    const k = cacheKey(secret, base);
    const flipped = Uint8Array.from(clk);
    flipped[100]! ^= 0x04;
    const variants: Partial<CacheKeyParts>[] = [
      { datasetId: 'dmv-licenses2' },
      { datasetVersion: 8 },
      { clk: flipped },
      { clk: clk.subarray(0, 127) },
      { claims: ['over_21'] },
      { claims: ['over_21', 'license_valid', 'address'] },
      { claims: ['over_18', 'license_valid'] },
      { claims: [] },
      { threshold: 0.8500000000000001 },
      { threshold: 0.9 },
      { policyVersion: 'policy-2026-11-02' },
      // Another party, or the same party name in a tenant: never one another's cache hit.
      { party: 'rp-other' },
      { tenant: 'tenant-a' },
    ];
    const seen = new Set([k]);
    for (const v of variants) seen.add(cacheKey(secret, { ...base, ...v }));
    expect(seen.size).toBe(variants.length + 1);
  });

  it('ignores claim order but not duplicates', () => {
    const k = cacheKey(secret, base);
    expect(cacheKey(secret, { ...base, claims: ['license_valid', 'over_21'] })).toBe(k);
    expect(cacheKey(secret, { ...base, claims: ['license_valid', 'over_21', 'over_21'] })).not.toBe(k);
  });

  it('keeps field boundaries unambiguous', () => {
    const a = cacheKey(secret, { ...base, claims: ['ab'] });
    const b = cacheKey(secret, { ...base, claims: ['a', 'b'] });
    expect(a).not.toBe(b);
    // Dataset "a:1" version 2 must not look like dataset "a" in any way a prefix match would catch.
    const colon = cacheKey(secret, { ...base, datasetId: 'a:1', datasetVersion: 2 });
    expect(colon.startsWith(datasetKeyPrefix('a'))).toBe(false);
    expect(colon.startsWith(datasetKeyPrefix('a:1'))).toBe(true);
    expect(datasetKeyPrefix('a:1')).toBe('pv:a%3A1:');
    expect(datasetKeyPrefix('x*[?]\\')).toBe('pv:x%2A%5B%3F%5D%5C:');
    expect(keyDatasetVersion(colon, datasetKeyPrefix('a:1'))).toBe(2);
    expect(keyDatasetVersion(colon, datasetKeyPrefix('a'))).toBeUndefined();
  });

  it('treats -0 and 0 as the same threshold', () => {
    expect(cacheKey(secret, { ...base, threshold: -0 })).toBe(cacheKey(secret, { ...base, threshold: 0 }));
  });

  it('depends on the secret and reveals none of its inputs', () => {
    const other = Buffer.from(secret);
    other[31]! ^= 1;
    const k = cacheKey(secret, base);
    expect(cacheKey(other, base)).not.toBe(k);
    const mac = k.split(':')[3]!;
    expect(k).not.toContain('over_21');
    expect(k).not.toContain('policy');
    expect(mac).not.toContain(Buffer.from(clk).toString('base64url').slice(0, 8));
    expect(mac).not.toBe(createHmac('sha256', Buffer.alloc(0)).update(Buffer.from(clk)).digest('base64url'));
  });

  it('rejects malformed parts with stable codes and without echoing values', () => {
    const secretish = 'S3CR3T-LOOKING-VALUE';
    const bad: Array<[Partial<CacheKeyParts>, string]> = [
      [{ datasetId: '' }, 'datasetId'],
      [{ datasetId: 'x'.repeat(257) }, 'datasetId'],
      [{ datasetId: `\uD800${secretish}` }, 'datasetId'],
      [{ datasetVersion: -1 }, 'datasetVersion'],
      [{ datasetVersion: 1.5 }, 'datasetVersion'],
      [{ datasetVersion: Number.NaN }, 'datasetVersion'],
      [{ clk: new Uint8Array(0) }, 'clk'],
      [{ clk: 'AAAA' as unknown as Uint8Array }, 'clk'],
      [{ claims: 'over_21' as unknown as string[] }, 'claims'],
      [{ claims: ['ok', ''] }, 'claims[1]'],
      [{ claims: [secretish, 5 as unknown as string] }, 'claims[1]'],
      [{ threshold: 1.01 }, 'threshold'],
      [{ threshold: Number.NaN }, 'threshold'],
      [{ policyVersion: '' }, 'policyVersion'],
      [{ party: '' }, 'party'],
      [{ party: 'x'.repeat(256) }, 'party'],
      [{ tenant: `\uDC00${secretish}` }, 'tenant'],
    ];
    for (const [patch, field] of bad) {
      let caught: unknown;
      try {
        cacheKey(secret, { ...base, ...patch });
      } catch (err) {
        caught = err;
      }
      expect(caught, field).toBeInstanceOf(PavilionError);
      expect((caught as PavilionError).code).toBe('CACHE_KEY_INVALID');
      expect((caught as PavilionError).message).toContain(field);
      expect((caught as PavilionError).message).not.toContain(secretish);
    }
    expect(codeOf(() => cacheKey(Buffer.alloc(15), base))).toBe('CACHE_SECRET_INVALID');
    expect(codeOf(() => cacheKey('secret-as-string' as unknown as Buffer, base))).toBe('CACHE_SECRET_INVALID');
  });

  it('stays in the low microseconds per key', () => {
    const n = 20_000;
    const claimsA = ['over_21', 'license_valid'];
    for (let i = 0; i < 2000; i++) cacheKey(secret, { ...base, claims: claimsA });
    const t = performance.now();
    for (let i = 0; i < n; i++) cacheKey(secret, { ...base, datasetVersion: i });
    const usPerKey = ((performance.now() - t) * 1000) / n;
    console.log(`cacheKey: ${usPerKey.toFixed(2)} µs/key (128-byte CLK, 2 claims)`);
    // Generous bound for a noisy shared 2-core box; measured ~2 µs.
    expect(usPerKey).toBeLessThan(25);
  });
});
