/**
 * Audit log access. Proofs and checkpoints carry only hashes and are open to every role (an RP checks
 * its own receipts), or to anyone with AUDIT_PUBLIC=true (witnesses, public monitors); entries (the
 * canonical events) are for auditors and admins.
 *
 *   GET /v1/audit/checkpoint                     latest signed checkpoint (text/plain note)
 *   GET /v1/audit/key                            the log's verifier key and origin
 *   GET /v1/audit/proofs/inclusion?index=&size=  RFC 9162 inclusion proof (base64 hashes); or ?leaf_hash=
 *   GET /v1/audit/proofs/consistency?from=&to=   RFC 9162 consistency proof
 *   GET /v1/audit/receipts/{index}               C2SP tlog-proof receipt, with the on-chain anchor when there is one
 *   GET /v1/audit/anchoring                      what auditors pin: chain, contract, deploy block, RPC URL, ABI
 *   GET /v1/audit/anchoring/abi.json             the MerkleAnchor ABI
 *   GET /v1/audit/entries/{index}                auditor, admin; any caller for an event it caused (its actor
 *                                                or relying party), so an RP can re-hash what its receipt proves
 *   GET /v1/audit/tile/<L>/<N>[.p/<W>]           C2SP tlog-tiles hash tile (prefix /v1/audit)
 *   GET /v1/audit/tile/entries/<N>[.p/<W>]       auditor, admin: C2SP tlog-tiles entry bundle
 */
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import {
  type AnchoringFacts,
  type AnchorReference,
  anchoringFactsJson,
  merkleAnchorAbiJson,
} from '../../anchoring/index.js';
import { type AuditLog, decodeBase64Strict, parseTilePath } from '../../audit/index.js';
import { PavilionError } from '../../common/errors.js';
import type { Principal, Role } from '../../identity/index.js';
import type { HttpRouter } from '../http/router.js';
import {
  AnchoringFactsBody,
  AuditEntry,
  ConsistencyProof,
  ConsistencyQuery,
  InclusionProof,
  InclusionQuery,
  IndexParams,
  LogKeys,
  TileParams,
} from '../http/schemas.js';
import { ValidationError } from '../http/validation.js';

/**
 * tlog-tiles: tiles and bundles never change once served, the checkpoint does. `private` for what only
 * authenticated callers get (entry bundles always, hash tiles unless the log is public), so no shared
 * cache hands it to anyone else.
 */
const IMMUTABLE_PRIVATE = 'private, max-age=31536000, immutable';
const IMMUTABLE_PUBLIC = 'public, max-age=31536000, immutable';

const EVERY_ROLE: readonly Role[] = ['rp', 'dp', 'auditor', 'admin'];
const AUDITORS: readonly Role[] = ['auditor', 'admin'];
const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');

/** A leaf hash parameter: 32 bytes of canonical standard base64, or VALIDATION_FAILED like any bad parameter. */
function leafHashParam(value: string): Uint8Array {
  let hash: Uint8Array | undefined;
  try {
    hash = decodeBase64Strict(value, 'VALIDATION_FAILED', 'leaf_hash');
  } catch {
    /* reported below, in one wording */
  }
  if (hash?.length !== 32)
    throw new PavilionError('VALIDATION_FAILED', 'leaf_hash must be 32 bytes in standard base64');
  return hash;
}

export function registerAuditRoutes(
  router: HttpRouter,
  deps: {
    audit: AuditLog;
    /** The anchor covering a leaf, once one is on chain, and what auditors pin (server/wiring/anchoring.ts). */
    anchoring?: { anchorForLeaf(index: number): Promise<AnchorReference | undefined>; facts: AnchoringFacts };
    public: boolean;
    /** A subject or tenant as audit events name it (server/support/audit-trail.ts). */
    party(subjectOrTenant: string): string;
  },
): void {
  const { audit, anchoring } = deps;
  /** Hashes and signed checkpoints: any role, or anyone when the log is public. */
  const hashes = deps.public ? ('public' as const) : EVERY_ROLE;
  const immutable = deps.public ? IMMUTABLE_PUBLIC : IMMUTABLE_PRIVATE;

  router.route(
    {
      method: 'get',
      path: '/v1/audit/checkpoint',
      summary: 'The latest signed checkpoint (C2SP tlog-checkpoint signed note)',
      access: hashes,
      responses: { 200: { description: 'the note', mediaType: 'text/plain' } },
    },
    async () => {
      const cp = (await audit.latestCheckpoint()) ?? (await audit.checkpoint());
      return {
        body: cp.note,
        contentType: 'text/plain; charset=utf-8',
        headers: { 'x-tree-size': String(cp.size), 'cache-control': 'no-cache' },
      };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/key',
      summary: 'The log origin and verifier key(s)',
      access: hashes,
      responses: { 200: { description: 'the keys', json: LogKeys } },
    },
    () => ({
      json: {
        origin: audit.origin,
        verifier_key: audit.verifierKey,
        verifier_keys: audit.verifierKeys,
        witnesses: audit.witnesses,
      },
    }),
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/anchoring',
      summary: 'What an auditor pins once: chain, contract, deploy block, an RPC URL, the log id and the ABI',
      access: hashes,
      responses: { 200: { description: 'the anchoring facts', json: AnchoringFactsBody } },
    },
    () => ({ json: anchoringFactsJson(anchoring?.facts, audit.origin) }),
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/anchoring/abi.json',
      summary: 'The MerkleAnchor contract ABI (also the file anchoring/MerkleAnchor.abi.json)',
      access: hashes,
      responses: { 200: { description: 'the ABI', json: z.array(z.record(z.unknown())) } },
    },
    () => ({ json: merkleAnchorAbiJson(), headers: { 'cache-control': immutable } }),
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/proofs/inclusion',
      summary: 'RFC 9162 inclusion proof of a leaf, by index or by leaf hash',
      access: hashes,
      query: InclusionQuery,
      responses: { 200: { description: 'the proof', json: InclusionProof } },
      errors: ['PROOF_RANGE_INVALID', 'SIZE_INVALID', 'SIZE_BEYOND_TREE', 'ENTRY_NOT_FOUND'],
    },
    async ({ query }) => {
      const size = query.size ?? (await audit.size());
      let index: number;
      let leafHash: Uint8Array;
      let proof: Uint8Array[];
      // One or the other: given both, the index was dropped without a word and the proof of another leaf
      // answered. Checked here, not in InclusionQuery: a refined schema is no ZodObject, and the router
      // makes only a ZodObject refuse parameters it does not list.
      if (query.leaf_hash !== undefined && query.index !== undefined)
        throw new ValidationError([{ path: 'query.leaf_hash', message: 'give index or leaf_hash, not both' }]);
      if (query.leaf_hash !== undefined) {
        leafHash = leafHashParam(query.leaf_hash);
        ({ index, proof } = await audit.inclusionProofByLeafHash(leafHash, size));
      } else {
        if (query.index === undefined)
          throw new ValidationError([{ path: 'query.index', message: 'one of index or leaf_hash is required' }]);
        index = query.index;
        // Without `size` the tree is the size: an index past it is an entry the log has not reached (as a
        // consistency `from` past the tree), not a proof range out of order.
        if (index >= size && query.size === undefined)
          throw new PavilionError('SIZE_BEYOND_TREE', `index exceeds the committed tree size ${size}`);
        if (index >= size) throw new PavilionError('PROOF_RANGE_INVALID', 'index must be below size');
        [leafHash, proof] = await Promise.all([audit.leafHashAt(index), audit.inclusionProof(index, size)]);
      }
      return { json: { index, size, leaf_hash: b64(leafHash), hashes: proof.map(b64) } };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/proofs/consistency',
      summary: 'RFC 9162 consistency proof between two tree sizes',
      access: hashes,
      query: ConsistencyQuery,
      responses: { 200: { description: 'the proof', json: ConsistencyProof } },
      errors: ['PROOF_RANGE_INVALID', 'SIZE_INVALID', 'SIZE_BEYOND_TREE'],
    },
    async ({ query }) => {
      let to = query.to;
      if (to === undefined) {
        to = await audit.size();
        // `to` is the tree here: a `from` past it is a size the log has not reached, as with `to` given
        // (where consistencyProof refuses the `to` past the tree), not a range out of order.
        if (query.from > to) throw new PavilionError('SIZE_BEYOND_TREE', `from exceeds the committed tree size ${to}`);
      }
      if (query.from > to) throw new PavilionError('PROOF_RANGE_INVALID', 'from must not exceed to');
      const proof = await audit.consistencyProof(query.from, to);
      return { json: { from: query.from, to, hashes: proof.map(b64) } };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/receipts/:index',
      summary: 'C2SP tlog-proof receipt for a leaf, naming its on-chain anchor once there is one',
      access: hashes,
      params: IndexParams,
      responses: { 200: { description: 'the receipt', mediaType: 'text/plain' } },
      errors: ['RECEIPT_NOT_READY', 'ENTRY_NOT_FOUND'],
    },
    async ({ params }) => {
      // An index the log never reached is not "not ready yet": say so, or a client would wait forever.
      const size = await audit.size();
      if (params.index >= size)
        throw new PavilionError('ENTRY_NOT_FOUND', `the log has ${size} entries: none at index ${params.index}`);
      // With anchoring on, the receipt is proven against the smallest anchored
      // checkpoint covering the leaf and names the anchor in its extra line.
      const anchor = await anchoring?.anchorForLeaf(params.index);
      const text = anchor
        ? await audit.receipt(params.index, {
            anchor: {
              chain: anchor.chain,
              contract: anchor.contract,
              tx: anchor.tx,
              block: anchor.block,
              logIndex: anchor.logIndex,
              size: anchor.size,
            },
          })
        : await audit.receipt(params.index);
      const headers: Record<string, string> = anchor
        ? { 'x-anchor-chain': anchor.chain, 'x-anchor-tx': anchor.tx, 'x-anchor-final': String(anchor.final) }
        : {};
      return { body: text, contentType: 'text/plain; charset=utf-8', headers };
    },
  );

  router.route(
    {
      method: 'get',
      path: '/v1/audit/entries/:index',
      summary: 'An audit entry: its canonical event and leaf hash (auditor, admin; anyone for an event it caused)',
      description:
        'A relying party (or data provider) reads the events naming it as actor or relying party, so it can ' +
        're-hash what its receipt proves.',
      access: EVERY_ROLE,
      params: IndexParams,
      responses: { 200: { description: 'the entry', json: AuditEntry } },
      errors: ['ENTRY_NOT_FOUND'],
    },
    async ({ params, principal }) => {
      const e = await audit.entry(params.index);
      const event = JSON.parse(e.event) as Record<string, unknown>;
      if (!AUDITORS.some((r) => principal.roles.has(r)) && !causedBy(deps.party, principal, event))
        throw new PavilionError('FORBIDDEN_ROLE', 'only auditors and admins read events the caller did not cause');
      return { json: { index: e.index, leaf_hash: b64(e.leafHash), event } };
    },
  );

  // C2SP tlog-tiles under the prefix /v1/audit (its checkpoint is the route above): clients fetch tiles
  // and compute proofs themselves. Hash tiles are open like proofs; entry bundles hold the events, like entries.
  router.route(
    {
      method: 'get',
      path: '/v1/audit/tile/*',
      summary: 'C2SP tlog-tiles: a hash tile (like proofs) or an entry bundle (auditor, admin); immutable',
      description:
        'A tile holds up to 256 consecutive tree hashes; an entry bundle holds canonical events, each a ' +
        'big-endian uint16 length and its bytes.',
      access: 'handler',
      params: TileParams,
      responses: {
        200: { description: 'the tile or bundle', mediaType: 'application/octet-stream', format: 'binary' },
      },
      errors: ['TILE_NOT_FOUND', 'AUTH_MISSING', 'FORBIDDEN_ROLE'],
    },
    async ({ params, authenticate, x }) => {
      const tile = parseTilePath(params.path);
      if (tile?.kind === 'entries') {
        await authenticate(...AUDITORS);
        const bundle = await audit.entryBundle(tile.index, tile.width);
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
      if (!deps.public) await authenticate(...EVERY_ROLE);
      if (!tile)
        throw new PavilionError(
          'TILE_NOT_FOUND',
          'not a tlog-tiles path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]',
        );
      return {
        body: await audit.tile(tile.level, tile.index, tile.width),
        contentType: 'application/octet-stream',
        headers: { 'cache-control': immutable },
      };
    },
  );
}

/** Whether the event names the caller as its actor or relying party (as the audit trail spells them). */
function causedBy(party: (id: string) => string, principal: Principal, event: Record<string, unknown>): boolean {
  const mine = new Set([party(principal.subject), party(principal.tenant ?? principal.subject)]);
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
