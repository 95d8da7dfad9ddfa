/**
 * Compiles contracts/MerkleAnchor.sol with solc-js (the `solc` npm package) into
 * build/MerkleAnchor.json: ABI, creation and runtime bytecode, and the exact
 * compiler settings, so the bytecode deployed is reproducible from the source.
 *
 * Run as part of the build (`npm run build:contracts`, scripts/build-contracts.ts).
 *
 * Pinned settings, and why:
 * - evmVersion "paris": no PUSH0 (Shanghai), MCOPY/TSTORE (Cancun) or later
 *   opcodes, so the same bytecode runs on every chain we target: anvil's default
 *   hardfork (latest) executes older opcode sets unchanged, and Polygon PoS
 *   (137, Amoy 80002) accepts Paris bytecode whatever hardfork it has reached.
 *   solc 0.8.37's own default (the newest fork) would emit opcodes a chain may
 *   not have yet. The gas given up is a few units per PUSH0 (measured in
 *   test/anchoring: well under the budget).
 * - optimizer on, 200 runs: the anchor() call runs many times per deployment,
 *   200 is solc's documented default trade-off between deploy and call cost.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import solc from 'solc';
import { PavilionError } from '../common/errors.js';

export const COMPILER_SETTINGS = {
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 200 },
} as const;

export interface ContractArtifact {
  contractName: string;
  sourcePath: string;
  /** SHA-256 of the Solidity source, hex: ties the artifact to the text it came from. */
  sourceSha256: string;
  compiler: { name: 'solc'; version: string; evmVersion: string; optimizer: { enabled: boolean; runs: number } };
  abi: unknown[];
  /** 0x-prefixed creation bytecode. */
  bytecode: string;
  /** 0x-prefixed runtime bytecode (what eth_getCode returns after deployment). */
  deployedBytecode: string;
}

const SOURCE_NAME = 'MerkleAnchor.sol';
const CONTRACT_NAME = 'MerkleAnchor';

export function sourceFile(): string {
  return fileURLToPath(new URL(`./contracts/${SOURCE_NAME}`, import.meta.url));
}

export function compileMerkleAnchor(source: string = readFileSync(sourceFile(), 'utf8')): ContractArtifact {
  const input = {
    language: 'Solidity',
    sources: { [SOURCE_NAME]: { content: source } },
    settings: {
      evmVersion: COMPILER_SETTINGS.evmVersion,
      optimizer: COMPILER_SETTINGS.optimizer,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<
      string,
      Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
    >;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new PavilionError('ANCHOR_CONTRACT_COMPILE_FAILED', errors.map((e) => e.formattedMessage).join('\n'));
  }
  const compiled = output.contracts?.[SOURCE_NAME]?.[CONTRACT_NAME];
  if (!compiled) throw new PavilionError('ANCHOR_CONTRACT_COMPILE_FAILED', `solc produced no ${CONTRACT_NAME}`);
  return {
    contractName: CONTRACT_NAME,
    sourcePath: `anchoring/contracts/${SOURCE_NAME}`,
    sourceSha256: createHash('sha256').update(source).digest('hex'),
    compiler: {
      name: 'solc',
      version: solc.version() as string,
      evmVersion: COMPILER_SETTINGS.evmVersion,
      optimizer: { ...COMPILER_SETTINGS.optimizer },
    },
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
  };
}

export function artifactFile(): string {
  return fileURLToPath(new URL('./build/MerkleAnchor.json', import.meta.url));
}

export function writeArtifact(artifact: ContractArtifact, file: string = artifactFile()): string {
  mkdirSync(new URL('.', pathToFileURL(file)), { recursive: true });
  writeFileSync(file, `${JSON.stringify(artifact, null, 2)}\n`);
  return file;
}
