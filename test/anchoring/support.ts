/**
 * Shared pieces of the anchoring tests: real signed checkpoints, a counter of
 * on-chain events, and the contract artifact (built if the build step has not
 * run yet, exactly as `npm run build:contracts` would).
 */
import { createHash, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JsonRpcProvider } from 'ethers';
import { ANVIL_DEV_PRIVATE_KEYS } from '../../anchoring/anvil.js';
import { decodeAnchored, type RawLog, toLog } from '../../anchoring/chain.js';
import { artifactFile, compileMerkleAnchor, writeArtifact } from '../../anchoring/compile.js';
import { ANCHORED_TOPIC } from '../../anchoring/contract.js';
import { logIdForOrigin } from '../../anchoring/ids.js';
import type { Checkpoint, CheckpointSource } from '../../anchoring/types.js';

/**
 * A broker's settings to anchor on `contract` (deployed by anvil's first account, its owner) at every
 * checkpoint, and to checkpoint every leaf within 100 ms: what the auditor tests need to see anchors soon.
 */
export function eagerAnchoring(rpcUrl: string, contract: string): Record<string, string> {
  return {
    ANCHORING: 'rpc',
    ETH_RPC_URL: rpcUrl,
    ANCHOR_CHAIN_ID: '80002',
    ANCHOR_CONTRACT: contract,
    ANCHOR_PRIVATE_KEY: ANVIL_DEV_PRIVATE_KEYS[0]!,
    ANCHOR_MIN_SIZE_DELTA: '1',
    ANCHOR_POLL_MS: '200',
    AUDIT_CHECKPOINT_LEAVES: '1',
    AUDIT_CHECKPOINT_MS: '100',
  };
}

export function ensureArtifact(): void {
  if (!existsSync(artifactFile())) writeArtifact(compileMerkleAnchor());
}

const reference = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/merkle/rfc6962-reference-tree.json', import.meta.url)), 'utf8'),
) as { roots_by_size: string[] };

/** RFC 9162 roots of the transparency-dev reference tree (sizes 0..8), see test/fixtures/merkle/README.txt. */
export const REFERENCE_ROOTS: Uint8Array[] = reference.roots_by_size.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

/** A C2SP signed-note signer with an Ed25519 key made for the test run. */
export class NoteSigner {
  private readonly privateKey: KeyObject;
  private readonly verifyKey: KeyObject;
  readonly publicKey: Buffer;
  readonly keyId: Buffer;

  constructor(readonly name: string) {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    // C2SP signed-note: key id = SHA-256(name || 0x0A || 0x01 || public key)[:4].
    this.keyId = createHash('sha256')
      .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x01]), this.publicKey]))
      .digest()
      .subarray(0, 4);
    this.verifyKey = pair.publicKey;
  }

  /** C2SP tlog-checkpoint body signed as a note. */
  checkpoint(origin: string, size: number, root: Uint8Array): Checkpoint {
    const body = `${origin}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
    const signature = sign(null, Buffer.from(body), this.privateKey);
    if (!verify(null, Buffer.from(body), this.verifyKey, signature)) throw new Error('signature does not verify');
    const note = `${body}\n\u2014 ${this.name} ${Buffer.concat([this.keyId, signature]).toString('base64')}\n`;
    return { origin, size, root, note };
  }
}

/**
 * Stands in for the audit log (audit/ is built in parallel): serves the
 * newest signed checkpoint of a log whose roots are the reference tree's.
 */
export class ReferenceLogSource implements CheckpointSource {
  size = 0;
  fail = false;
  /**
   * Set: the log was cut back to this size and grew again with other entries (a restore from an older copy
   * re-grown): its roots above it are no longer the reference tree's.
   */
  forkedAfter: number | null = null;
  private readonly signer: NoteSigner;

  constructor(readonly origin: string) {
    this.signer = new NoteSigner(origin);
  }

  grow(size: number): this {
    if (size >= REFERENCE_ROOTS.length) throw new Error(`the reference tree has ${REFERENCE_ROOTS.length - 1} leaves`);
    this.size = size;
    return this;
  }

  get logId(): string {
    return logIdForOrigin(this.origin);
  }

  /** Cuts the log back to `size` (as a restore from an older copy does); what it grows to next is a fork. */
  restore(size: number): this {
    this.size = size;
    this.forkedAfter = size;
    return this;
  }

  root(size = this.size): Uint8Array {
    if (this.forkedAfter !== null && size > this.forkedAfter)
      return createHash('sha256').update(`forked ${this.origin} ${size}`).digest();
    return REFERENCE_ROOTS[size]!;
  }

  rootHex(size = this.size): string {
    return `0x${Buffer.from(this.root(size)).toString('hex')}`;
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    if (this.fail) throw new Error('audit log unavailable');
    if (this.size === 0) return undefined;
    return this.signer.checkpoint(this.origin, this.size, this.root());
  }

  async rootAt(size: number): Promise<Uint8Array | undefined> {
    if (this.fail) throw new Error('audit log unavailable');
    return size <= this.size ? this.root(size) : undefined;
  }
}

/** Anchored events for (contract, logId) in the canonical chain, optionally of one size. */
export async function anchoredEvents(provider: JsonRpcProvider, contract: string, logId: string, size?: number) {
  // Raw eth_getLogs: ethers resolves 'latest' from a cached block number.
  const logs = (await provider.send('eth_getLogs', [
    { address: contract, topics: [ANCHORED_TOPIC, logId], fromBlock: '0x0', toBlock: 'latest' },
  ])) as RawLog[];
  return logs
    .filter((l) => !l.removed)
    .map((l) => decodeAnchored(toLog(l))!)
    .filter((e) => size === undefined || e.treeSize === size);
}

export async function mine(provider: JsonRpcProvider, blocks: number): Promise<void> {
  await provider.send('anvil_mine', [`0x${blocks.toString(16)}`]);
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * A loopback TCP relay in front of anvil: taking it down makes the RPC
 * unreachable (connections reset, then refused) while the chain keeps its
 * state, and bringing it up on the same port restores it.
 */
export class RpcOutage {
  private server: import('node:net').Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const net = await import('node:net');
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as import('node:net').AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(() => r(null)));
  }
}
