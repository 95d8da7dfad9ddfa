import { describe, expect, it } from 'vitest';
import { retryFor } from '../../common/retry.js';

describe('retryFor', () => {
  it('returns once a try succeeds', async () => {
    let tries = 0;
    const value = await retryFor(async () => {
      if (++tries < 3) throw new Error(`down ${tries}`);
      return 'recorded';
    }, 10_000);
    expect(value).toBe('recorded');
    expect(tries).toBe(3);
  });

  it('gives up after its time with the last error', async () => {
    let tries = 0;
    const err = await retryFor(async () => {
      throw new Error(`down ${++tries}`);
    }, 500).catch((e: Error) => e);
    expect((err as Error).message).toBe(`down ${tries}`);
    // Waits of 100 and 200 ms fit in 500 ms (with 200 ms to spare for a slow
    // timer); the third wait (400 ms) would end past it.
    expect(tries).toBe(3);
  });

  it('stops at once when told to (the broker is closing)', async () => {
    let tries = 0;
    const failing = async () => {
      tries++;
      throw new Error('down');
    };
    await expect(retryFor(failing, 60_000, () => true)).rejects.toThrow('down');
    expect(tries).toBe(1);
  });
});
