/**
 * What a verification derives from its query CLK — the bytes, the audit log's keyed query hash and the
 * cache key — remembered per CLK text, so a question asked again does not decode the base64 and run two
 * HMAC-SHA256 again. A cache hit is by definition a CLK asked before, and on that path these three were
 * the largest cost after the audit append: with them remembered, bench:server's cache-hit answer took
 * 41–42 µs of the event loop instead of 53–55 (128 connections, Postgres; docs/decisions.md, "The
 * cache-hit path").
 *
 * What it holds: the texts of the most recently queried CLKs, in this process's memory only (bounded by
 * QUERY_DIGESTS entries, never written anywhere). Redis and the audit log still see keyed hashes alone;
 * the engine holds every served CLK in the same memory anyway. A CLK the broker encoded from a record is
 * never remembered: it has no text, and a record's encoding should live no longer than its request.
 */
import { type CacheKeyParts, cacheKey } from '../../cache/cache-key.js';
import { GenerationalCache } from '../../common/generational-cache.js';
import { decodeClkBase64 } from '../../engine/index.js';

/** CLK texts remembered (a 1024-bit CLK's is 172 characters: about 0.6 KB each with its digests, ~2.5 MB in all). */
export const QUERY_DIGESTS = 4096;
/**
 * Longer texts are decoded every time (the text of a 16,384-bit CLK): with the longest CLK a request may carry
 * (2^17 characters) the memo could otherwise hold close to 1 GB; with this bound, at most ~20 MB.
 */
export const MAX_REMEMBERED_TEXT = 2732;

export interface QueryDigest {
  readonly clk: Uint8Array;
  /** AuditTrail.queryHash of the CLK. */
  readonly queryHash: string;
  /** The last cache key made for this CLK, and the other parts it was made from (see partsText). */
  lastKey?: { parts: string; key: string };
}

export type CacheKeyContext = Omit<CacheKeyParts, 'clk'>;

export class QueryDigests {
  private readonly memo = new GenerationalCache<QueryDigest & { readonly filterBits: number }>(QUERY_DIGESTS);

  constructor(
    private readonly cacheSecret: Buffer,
    private readonly queryHash: (clk: Uint8Array) => string,
  ) {}

  /** The digest of a base64 CLK text for a dataset of `filterBits`; throws as decodeClkBase64 does. */
  ofText(text: string, filterBits: number): QueryDigest {
    const known = this.memo.get(text);
    // The same text checked against another length is checked again (and refused, or remembered anew).
    if (known !== undefined && known.filterBits === filterBits) return known;
    // A copy: Buffer.from's result may be a slice of a shared 8 KiB pool, which the memo would keep alive.
    const clk = new Uint8Array(decodeClkBase64(text, filterBits));
    const digest = { clk, queryHash: this.queryHash(clk), filterBits };
    if (text.length <= MAX_REMEMBERED_TEXT) this.memo.set(text, digest);
    return digest;
  }

  /** The digest of a CLK that has no text (encoded by the broker from a record): computed, not remembered. */
  of(clk: Uint8Array): QueryDigest {
    return { clk, queryHash: this.queryHash(clk) };
  }

  /** cacheKey for the digest's CLK; the digest remembers the last one. */
  cacheKey(digest: QueryDigest, context: CacheKeyContext): string {
    const parts = partsText(context);
    const last = digest.lastKey;
    if (last !== undefined && last.parts === parts) return last.key;
    const key = cacheKey(this.cacheSecret, { ...context, clk: digest.clk });
    digest.lastKey = { parts, key };
    return key;
  }
}

/**
 * The key's parts other than the CLK as one string, equal for equal parts only: every string goes in with its
 * length in front, so none can end early or run into the next. Claims are taken in the order given: the same
 * claims in another order make another string and a fresh (identical) key, never a wrong one.
 */
function partsText(c: CacheKeyContext): string {
  const { datasetId: id, policyVersion: policy, party, tenant } = c;
  let text = `${c.datasetVersion}|${c.threshold}|${id.length}:${id}${policy.length}:${policy}${party.length}:${party}`;
  text += tenant === undefined ? '-' : `${tenant.length}:${tenant}`;
  for (const claim of c.claims) text += `${claim.length}:${claim}`;
  return text;
}
