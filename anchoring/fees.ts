/**
 * EIP-1559 fee policy for anchor transactions.
 *
 * Polygon PoS (137) and Amoy (80002) nodes reject transactions whose priority
 * fee is below 25 gwei, while fee suggestions from RPC providers can come back
 * lower (shared/vectors/merkle/FORMATS.md, "Anchoring on an EVM chain"), so
 * the suggestion is clamped up there. maxFeePerGas keeps room for the base fee
 * to double (2 × baseFee + tip, the rule ethers and geth use for suggestions),
 * which EIP-1559 allows after six full blocks at +12.5% each.
 */
import { POLYGON_AMOY, POLYGON_MAINNET } from './ids.js';

export const GWEI = 1_000_000_000n;
export const POLYGON_MIN_PRIORITY_FEE = 25n * GWEI;
const POLYGON_CHAINS = new Set([POLYGON_MAINNET, POLYGON_AMOY]);

export interface Eip1559Fees {
  maxPriorityFeePerGas: bigint;
  maxFeePerGas: bigint;
}

export interface FeeInputs {
  chainId: number;
  /** Base fee of the latest block. */
  baseFeePerGas: bigint;
  /** The node's suggestion (eth_maxPriorityFeePerGas); absent → the chain minimum or 1 gwei. */
  suggestedPriorityFee?: bigint | null;
  /** The provider's suggested fee cap, if any; taken when higher than ours. */
  suggestedMaxFee?: bigint | null;
}

export function minimumPriorityFee(chainId: number): bigint {
  return POLYGON_CHAINS.has(chainId) ? POLYGON_MIN_PRIORITY_FEE : 0n;
}

export function anchorFees(inputs: FeeInputs): Eip1559Fees {
  const floor = minimumPriorityFee(inputs.chainId);
  const suggested = inputs.suggestedPriorityFee ?? GWEI;
  const maxPriorityFeePerGas = suggested > floor ? suggested : floor;
  const needed = maxPriorityFeePerGas + 2n * inputs.baseFeePerGas;
  const offered = inputs.suggestedMaxFee ?? 0n;
  return { maxPriorityFeePerGas, maxFeePerGas: offered > needed ? offered : needed };
}

/**
 * Fees for a replacement of a pending transaction (same nonce). Nodes accept a
 * replacement only when both the tip and the cap rise by at least 10% (geth's
 * txpool default price bump); 12.5% leaves a margin, and the current policy
 * wins when the market moved further.
 */
export function replacementFees(previous: Eip1559Fees, current: Eip1559Fees): Eip1559Fees {
  const bump = (v: bigint) => v + (v + 7n) / 8n;
  const tip = bump(previous.maxPriorityFeePerGas);
  const cap = bump(previous.maxFeePerGas);
  const maxBig = (a: bigint, b: bigint) => (a > b ? a : b);
  const maxPriorityFeePerGas = maxBig(current.maxPriorityFeePerGas, tip);
  let maxFeePerGas = maxBig(current.maxFeePerGas, cap);
  if (maxFeePerGas < maxPriorityFeePerGas) maxFeePerGas = maxPriorityFeePerGas;
  return { maxPriorityFeePerGas, maxFeePerGas };
}
