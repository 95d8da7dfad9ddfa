/** The ABI auditors are pointed to (anchoring/MerkleAnchor.abi.json) is exactly what solc compiles. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileMerkleAnchor } from '../../anchoring/compile.js';
import { anchoringFactsJson, merkleAnchorAbiJson } from '../../anchoring/facts.js';
import { logIdForOrigin } from '../../anchoring/ids.js';

describe('published anchoring facts', () => {
  it('the committed ABI file equals the compiled contract ABI', () => {
    const committed = JSON.parse(readFileSync('anchoring/MerkleAnchor.abi.json', 'utf8'));
    expect(committed).toEqual(compileMerkleAnchor().abi);
    expect(merkleAnchorAbiJson()).toEqual(committed);
  });

  it('names the log id auditors look for, and says when anchoring is off', () => {
    const on = anchoringFactsJson(
      { chain: 'eip155:137', contract: `0x${'12'.repeat(20)}`, deployBlock: 7, rpcUrl: null },
      'o/x',
    );
    expect(on).toMatchObject({ enabled: true, deploy_block: 7, log_id: logIdForOrigin('o/x'), rpc_url: null });
    expect(anchoringFactsJson(undefined, 'o/x')).toEqual({
      enabled: false,
      origin: 'o/x',
      log_id: logIdForOrigin('o/x'),
    });
  });
});
