/**
 * Audit log access. Proofs and checkpoints carry only hashes and are open to
 * every role (an RP checks its own receipts), or to anyone with
 * AUDIT_PUBLIC=true (witnesses, public monitors); entries (the canonical
 * events) are for auditors and admins.
 *
 *   GET /v1/audit/checkpoint                     latest signed checkpoint (text/plain note)
 *   GET /v1/audit/key                            the log's verifier key and origin
 *   GET /v1/audit/proofs/inclusion?index=&size=  RFC 9162 inclusion proof (base64 hashes); or ?leaf_hash=
 *   GET /v1/audit/proofs/consistency?from=&to=   RFC 9162 consistency proof
 *   GET /v1/audit/receipts/{index}               C2SP tlog-proof receipt (text/plain), with the on-chain anchor when there is one
 *   GET /v1/audit/anchoring                      what auditors pin: chain, contract, deploy block, RPC URL, ABI
 *   GET /v1/audit/anchoring/abi.json             the MerkleAnchor ABI
 *   GET /v1/audit/entries/{index}                auditor, admin; any caller for an event it caused (its actor
 *                                                or relying party), so an RP can re-hash what its receipt proves
 *   GET /v1/audit/tile/<L>/<N>[.p/<W>]           C2SP tlog-tiles hash tile (prefix /v1/audit)
 *   GET /v1/audit/tile/entries/<N>[.p/<W>]       auditor, admin: C2SP tlog-tiles entry bundle
 */

import { gzipSync } from 'node:zlib';
import { anchoringFactsJson, merkleAnchorAbiJson } from '../../anchoring/index.js';
import { decodeBase64Strict, parseTilePath } from '../../audit/index.js';
import { PavilionError } from '../../common/errors.js';
import { authenticate } from '../auth.js';
import type { BrokerContext } from '../context.js';
import type { Exchange, HttpRouter } from '../http.js';

/**
 * tlog-tiles: tiles and bundles never change once served, the checkpoint
 * does. `private` for what only authenticated callers get (entry bundles
 * always, hash tiles unless the log is public), so no shared cache hands it
 * to anyone else.
 */
const IMMUTABLE_PRIVATE = 'private, max-age=31536000, immutable';
const IMMUTABLE_PUBLIC = 'public, max-age=31536000, immutable';

const ALL = ['rp', 'dp', 'auditor', 'admin'] as const;
const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');

function intParam(value: string | null | undefined, name: string): number {
  if (value === null || value === undefined || !/^\d{1,15}$/.test(value))
    throw new PavilionError('VALIDATION_FAILED', `${name} must be a non-negative integer`, 422);
  return Number(value);
}

/** VALIDATION_FAILED is 422 wherever it comes from: decodeBase64Strict's own errors would be 400. */
function leafHashParam(value: string): Uint8Array {
  let hash: Uint8Array | undefined;
  try {
    hash = decodeBase64Strict(value, 'VALIDATION_FAILED', 'leaf_hash');
  } catch {
    /* reported below, with the status every other parameter error has */
  }
  if (hash?.length !== 32)
    throw new PavilionError('VALIDATION_FAILED', 'leaf_hash must be 32 bytes in standard base64', 422);
  return hash;
}

async function treeSize(ctx: BrokerContext, x: Exchange, name: string): Promise<number> {
  const v = x.query.get(name);
  return v === null ? ctx.audit.size() : intParam(v, name);
}

export function registerAuditRoutes(router: HttpRouter, ctx: BrokerContext): void {
  const open = ctx.config.audit.public;
  /** Hashes and signed checkpoints: any role, or anyone when the log is public. */
  const readHashes = async (x: Exchange): Promise<void> => {
    if (!open) await authenticate(ctx, x, ...ALL);
  };
  const immutable = open ? IMMUTABLE_PUBLIC : IMMUTABLE_PRIVATE;

  router.route('get', '/v1/audit/checkpoint', async (x) => {
    await readHashes(x);
    const cp = (await ctx.audit.latestCheckpoint()) ?? (await ctx.audit.checkpoint());
    return {
      body: cp.note,
      contentType: 'text/plain; charset=utf-8',
      headers: { 'x-tree-size': String(cp.size), 'cache-control': 'no-cache' },
    };
  });

  router.route('get', '/v1/audit/key', async (x) => {
    await readHashes(x);
    return {
      json: {
        origin: ctx.audit.origin,
        verifier_key: ctx.audit.verifierKey,
        verifier_keys: ctx.audit.verifierKeys,
        witnesses: ctx.audit.witnesses,
      },
    };
  });

  router.route('get', '/v1/audit/anchoring', async (x) => {
    await readHashes(x);
    return { json: anchoringFactsJson(ctx.anchoring?.facts, ctx.audit.origin) };
  });

  router.route('get', '/v1/audit/anchoring/abi.json', async (x) => {
    await readHashes(x);
    return { json: merkleAnchorAbiJson(), headers: { 'cache-control': immutable } };
  });

  router.route('get', '/v1/audit/proofs/inclusion', async (x) => {
    await readHashes(x);
    const size = await treeSize(ctx, x, 'size');
    const byHash = x.query.get('leaf_hash');
    let index: number;
    let leafHash: Uint8Array;
    let hashes: Uint8Array[];
    if (byHash !== null) {
      leafHash = leafHashParam(byHash);
      ({ index, proof: hashes } = await ctx.audit.inclusionProofByLeafHash(leafHash, size));
    } else {
      index = intParam(x.query.get('index'), 'index');
      if (index >= size) throw new PavilionError('PROOF_RANGE_INVALID', 'index must be below size', 422);
      [leafHash, hashes] = await Promise.all([ctx.audit.leafHashAt(index), ctx.audit.inclusionProof(index, size)]);
    }
    return { json: { index, size, leaf_hash: b64(leafHash), hashes: hashes.map(b64) } };
  });

  router.route('get', '/v1/audit/proofs/consistency', async (x) => {
    await readHashes(x);
    const from = intParam(x.query.get('from'), 'from');
    const to = await treeSize(ctx, x, 'to');
    if (from > to) throw new PavilionError('PROOF_RANGE_INVALID', 'from must not exceed to', 422);
    const proof = await ctx.audit.consistencyProof(from, to);
    return { json: { from, to, hashes: proof.map(b64) } };
  });

  router.route('get', '/v1/audit/receipts/:index', async (x) => {
    await readHashes(x);
    const index = intParam(x.params.index, 'index');
    // With anchoring on, the receipt is proven against the smallest anchored
    // checkpoint covering the leaf and names the anchor in its extra line.
    const anchor = await ctx.anchoring?.anchorForLeaf(index);
    const text = anchor
      ? await ctx.audit.receipt(index, {
          anchor: {
            chain: anchor.chain,
            contract: anchor.contract,
            tx: anchor.tx,
            block: anchor.block,
            logIndex: anchor.logIndex,
            size: anchor.size,
          },
        })
      : await ctx.audit.receipt(index);
    const headers: Record<string, string> = anchor
      ? { 'x-anchor-chain': anchor.chain, 'x-anchor-tx': anchor.tx, 'x-anchor-final': String(anchor.final) }
      : {};
    return { body: text, contentType: 'text/plain; charset=utf-8', headers };
  });

  router.route('get', '/v1/audit/entries/:index', async (x) => {
    const principal = await authenticate(ctx, x, ...ALL);
    const e = await ctx.audit.entry(intParam(x.params.index, 'index'));
    const event = JSON.parse(e.event) as Record<string, unknown>;
    if (!principal.roles.has('auditor') && !principal.roles.has('admin') && !causedBy(ctx, principal, event))
      throw new PavilionError('FORBIDDEN_ROLE', 'only auditors and admins read events the caller did not cause', 403);
    return { json: { index: e.index, leaf_hash: b64(e.leafHash), event } };
  });

  // C2SP tlog-tiles under the prefix /v1/audit (its checkpoint is the route
  // above): clients fetch tiles and compute proofs themselves. Hash tiles are
  // open to every role, like proofs; entry bundles hold the events, like entries.
  router.route('get', '/v1/audit/tile/*', async (x) => {
    const tile = parseTilePath(x.params.path ?? '');
    if (!tile) {
      await readHashes(x);
      throw new PavilionError(
        'TILE_NOT_FOUND',
        'not a tlog-tiles path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]',
        404,
      );
    }
    if (tile.kind === 'entries') {
      await authenticate(ctx, x, 'auditor', 'admin');
      const bundle = await ctx.audit.entryBundle(tile.index, tile.width);
      // C2SP tlog-tiles: entry bundles SHOULD be served compressed when the client accepts it.
      const gzip = acceptsGzip(x.headers['accept-encoding']);
      return {
        body: gzip ? gzipSync(bundle) : bundle,
        contentType: 'application/octet-stream',
        headers: {
          'cache-control': IMMUTABLE_PRIVATE,
          vary: 'accept-encoding',
          ...(gzip ? { 'content-encoding': 'gzip' } : {}),
        },
      };
    }
    await readHashes(x);
    return {
      body: await ctx.audit.tile(tile.level, tile.index, tile.width),
      contentType: 'application/octet-stream',
      headers: { 'cache-control': immutable },
    };
  });
}

/** Whether the event names the caller as its actor or relying party (as auditIdentifier spells them). */
function causedBy(
  ctx: BrokerContext,
  principal: { subject: string; tenant?: string },
  event: Record<string, unknown>,
): boolean {
  const mine = new Set([ctx.auditId(principal.subject), ctx.auditId(principal.tenant ?? principal.subject)]);
  return (
    (typeof event.actor === 'string' && mine.has(event.actor)) ||
    (typeof event.relying_party === 'string' && mine.has(event.relying_party))
  );
}

/** RFC 9110 §12.5.3: gzip listed without q=0. */
function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
