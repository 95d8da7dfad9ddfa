/** Fee policy and identifiers: pure functions, known answers. */
import { describe, expect, it } from 'vitest';
import { anchorFees, GWEI, minimumPriorityFee, replacementFees } from '../../anchoring/fees.js';
import { caip2, logIdForOrigin, parseCaip2 } from '../../anchoring/ids.js';

describe('anchorFees', () => {
  it('raises the priority fee to 25 gwei on Polygon (137) and Amoy (80002) only', () => {
    expect(minimumPriorityFee(137)).toBe(25n * GWEI);
    expect(minimumPriorityFee(80002)).toBe(25n * GWEI);
    expect(minimumPriorityFee(1)).toBe(0n);
    expect(anchorFees({ chainId: 80002, baseFeePerGas: 10n * GWEI, suggestedPriorityFee: 1n * GWEI })).toEqual({
      maxPriorityFeePerGas: 25n * GWEI,
      maxFeePerGas: 45n * GWEI, // 25 + 2 × 10
    });
    expect(anchorFees({ chainId: 1, baseFeePerGas: 10n * GWEI, suggestedPriorityFee: 1n * GWEI })).toEqual({
      maxPriorityFeePerGas: 1n * GWEI,
      maxFeePerGas: 21n * GWEI,
    });
  });

  it('keeps a higher suggestion and a higher offered cap', () => {
    expect(
      anchorFees({
        chainId: 137,
        baseFeePerGas: 100n * GWEI,
        suggestedPriorityFee: 40n * GWEI,
        suggestedMaxFee: 500n * GWEI,
      }),
    ).toEqual({
      maxPriorityFeePerGas: 40n * GWEI,
      maxFeePerGas: 500n * GWEI,
    });
  });

  it('falls back to the floor (or 1 gwei) without a suggestion', () => {
    expect(anchorFees({ chainId: 137, baseFeePerGas: 0n }).maxPriorityFeePerGas).toBe(25n * GWEI);
    expect(anchorFees({ chainId: 31337, baseFeePerGas: 0n }).maxPriorityFeePerGas).toBe(GWEI);
  });

  it('bumps a replacement by at least 12.5% on both fees (nodes want ≥ 10%)', () => {
    const previous = { maxPriorityFeePerGas: 25n * GWEI, maxFeePerGas: 45n * GWEI };
    const bumped = replacementFees(previous, previous);
    expect(bumped.maxPriorityFeePerGas * 100n).toBeGreaterThanOrEqual(previous.maxPriorityFeePerGas * 110n);
    expect(bumped.maxFeePerGas * 100n).toBeGreaterThanOrEqual(previous.maxFeePerGas * 110n);
    expect(bumped).toEqual({ maxPriorityFeePerGas: 28_125_000_000n, maxFeePerGas: 50_625_000_000n });
    // A market that moved further wins.
    expect(replacementFees(previous, { maxPriorityFeePerGas: 30n * GWEI, maxFeePerGas: 90n * GWEI })).toEqual({
      maxPriorityFeePerGas: 30n * GWEI,
      maxFeePerGas: 90n * GWEI,
    });
  });
});

describe('identifiers', () => {
  it('derives logId as SHA-256 of the origin (FIPS 180-2 "abc" vector)', () => {
    expect(logIdForOrigin('abc')).toBe('0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(() => logIdForOrigin('')).toThrow(expect.objectContaining({ code: 'ANCHOR_INVALID_ORIGIN' }));
    expect(() => logIdForOrigin('two\nlines')).toThrow(expect.objectContaining({ code: 'ANCHOR_INVALID_ORIGIN' }));
  });

  it('names chains with CAIP-2 ids', () => {
    expect(caip2(137)).toBe('eip155:137');
    expect(caip2(80002n)).toBe('eip155:80002');
    expect(parseCaip2('eip155:80002')).toBe(80002);
    for (const bad of [
      'eip155:',
      'eip155:0',
      'eip155:01',
      'cosmos:cosmoshub-4',
      'eip155:1:2',
      42 as unknown as string,
    ]) {
      expect(() => parseCaip2(bad)).toThrow(expect.objectContaining({ code: 'ANCHOR_INVALID_CHAIN' }));
    }
    expect(() => caip2(0)).toThrow(expect.objectContaining({ code: 'ANCHOR_INVALID_CHAIN' }));
  });
});
