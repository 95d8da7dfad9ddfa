/** `npm run build:contracts`: MerkleAnchor.sol compiled to anchoring/build/MerkleAnchor.json (anchoring/compile.ts). */
import { compileMerkleAnchor, writeArtifact } from '../anchoring/compile.js';

const artifact = compileMerkleAnchor();
const file = writeArtifact(artifact);
console.log(
  `MerkleAnchor: solc ${artifact.compiler.version}, evm ${artifact.compiler.evmVersion}, ` +
    `${(artifact.deployedBytecode.length - 2) / 2} runtime bytes → ${file}`,
);
