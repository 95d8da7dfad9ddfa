/**
 * The anchoring facts an auditor pins once (docs/audit.md): which chain,
 * which contract, from which block its events start, an RPC URL to read them,
 * and the contract's ABI. Published at GET /v1/audit/anchoring and in the
 * broker's start log; the ABI is also the file anchoring/MerkleAnchor.abi.json.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ANCHORED_TOPIC } from './contract.js';
import { logIdForOrigin } from './ids.js';

export interface AnchoringFacts {
  /** CAIP-2 chain id. */
  chain: string;
  contract: string;
  /** Block that deployed the contract (null when unknown: scan from 0). */
  deployBlock: number | null;
  /** An RPC URL the operator publishes for auditors (never the anchorer's own, which may hold an API key). */
  rpcUrl: string | null;
}

let abi: unknown[] | undefined;

/**
 * The MerkleAnchor ABI as solc writes it, from the committed
 * anchoring/MerkleAnchor.abi.json (a test keeps it equal to the compiled one).
 * Looked up beside this file and, from dist/, in the source tree.
 */
export function merkleAnchorAbiJson(): unknown[] {
  if (abi) return abi;
  for (const rel of ['./MerkleAnchor.abi.json', '../../anchoring/MerkleAnchor.abi.json']) {
    try {
      abi = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')) as unknown[];
      return abi;
    } catch {
      /* next candidate */
    }
  }
  throw new Error('anchoring/MerkleAnchor.abi.json is missing');
}

/** The JSON body of GET /v1/audit/anchoring. */
export function anchoringFactsJson(facts: AnchoringFacts | undefined, origin: string): Record<string, unknown> {
  if (!facts) return { enabled: false, origin, log_id: logIdForOrigin(origin) };
  return {
    enabled: true,
    chain: facts.chain,
    contract: facts.contract,
    deploy_block: facts.deployBlock,
    rpc_url: facts.rpcUrl,
    origin,
    log_id: logIdForOrigin(origin),
    anchored_event: 'Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 root, uint64 previousSize)',
    anchored_topic: ANCHORED_TOPIC,
    abi: merkleAnchorAbiJson(),
  };
}
