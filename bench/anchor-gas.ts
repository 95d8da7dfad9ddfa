/**
 * Gas per anchor on a real EVM (anvil): the event-only MerkleAnchor
 * (anchoring/contracts/MerkleAnchor.sol: one storage slot per log, root in the
 * event) against its predecessor that also kept each root in storage
 * (bench/contracts/merkle-anchor-stored-root.sol, the baseline), both built
 * with the same pinned solc settings; and anchorMany, several logs per
 * transaction. Gas is deterministic for a given state, so one run suffices.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Contract, ContractFactory, JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { type ContractArtifact, compileMerkleAnchor } from '../anchoring/compile.js';
import { ANVIL_DEV_PRIVATE_KEYS, logIdForOrigin, startAnvil } from '../anchoring/index.js';
import type { BenchRow, BenchSection } from './report.js';

/** Roots as real ones are: 32 bytes with (almost) no zero byte, which calldata prices at 16 gas each. */
const root = (i: number) => `0x${createHash('sha256').update(String(i)).digest('hex')}`;

async function deploy(artifact: ContractArtifact, signer: NonceManager): Promise<Contract> {
  const c = await new ContractFactory(artifact.abi as never, artifact.bytecode, signer).deploy();
  await c.waitForDeployment();
  return c as Contract;
}

async function gasOf(tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<number> {
  return Number((await (await tx).wait())!.gasUsed);
}

export async function anchorGasSection(): Promise<BenchSection> {
  const anvil = await startAnvil({ chainId: 80002 });
  const provider = new JsonRpcProvider(anvil.rpcUrl, 80002, { staticNetwork: true });
  const signer = new NonceManager(new Wallet(ANVIL_DEV_PRIVATE_KEYS[0]!, provider));
  try {
    const current = await deploy(compileMerkleAnchor(), signer);
    const baselineSource = readFileSync(
      fileURLToPath(new URL('./contracts/merkle-anchor-stored-root.sol', import.meta.url)),
      'utf8',
    );
    const baseline = await deploy(compileMerkleAnchor(baselineSource), signer);
    const steady = async (c: Contract, origin: string) => {
      const logId = logIdForOrigin(origin);
      const first = await gasOf(c.anchor!(logId, 1, root(1)));
      const later: number[] = [];
      for (let size = 2; size <= 6; size++) later.push(await gasOf(c.anchor!(logId, size * 10, root(size))));
      later.sort((a, b) => a - b);
      return { first, steady: later[2]! };
    };
    const before = await steady(baseline, 'bench.pavilion.local/gas/baseline');
    const after = await steady(current, 'bench.pavilion.local/gas/current');
    const rows: BenchRow[] = [
      {
        name: 'anchor(), steady state: event-only, one slot per log',
        value: after.steady,
        unit: 'gas',
        baseline: 'stored root (before)',
        ratio: after.steady / before.steady,
        note: `first anchor of a log ${after.first}`,
      },
      {
        name: 'anchor(), steady state: stored root (before)',
        value: before.steady,
        unit: 'gas',
        note: `first anchor of a log ${before.first}`,
      },
    ];
    for (const k of [2, 4, 8]) {
      const logIds = Array.from({ length: k }, (_, i) => logIdForOrigin(`bench.pavilion.local/gas/many/${k}/${i}`));
      await gasOf(
        current.anchorMany!(
          logIds,
          logIds.map(() => 1),
          logIds.map((_, i) => root(i)),
        ),
      );
      const used = await gasOf(
        current.anchorMany!(
          logIds,
          logIds.map(() => 2),
          logIds.map((_, i) => root(i + 100)),
        ),
      );
      rows.push({
        name: `anchorMany(), ${k} logs in one transaction, per log`,
        value: Math.round(used / k),
        unit: 'gas',
        baseline: 'stored root (before)',
        ratio: used / k / before.steady,
        note: `${used} for the transaction, steady state`,
      });
    }
    return { title: 'Gas per anchor on anvil (chain 80002, solc 0.8.37, evm paris, optimizer 200)', rows };
  } finally {
    provider.destroy();
    await anvil.stop();
  }
}
