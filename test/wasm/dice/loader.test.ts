import { expect, it } from 'vitest';
import { engineSettings } from '../../../server/config.js';
import {
  compileDiceModule,
  createDiceMemory,
  instantiateDice,
  selectDiceKernel,
  wasmSimdSupported,
} from '../../../wasm/dice.js';

it('Node 20 validates the SIMD probe module', () => {
  expect(wasmSimdSupported()).toBe(true);
});

it('picks SIMD when supported and scalar otherwise', () => {
  expect(selectDiceKernel(undefined, true)).toBe('simd');
  expect(selectDiceKernel(undefined, false)).toBe('scalar');
});

it('an explicit choice (the ENGINE_SIMD setting) wins over detection; SIMD without support is a clear error', () => {
  expect(selectDiceKernel(false, true)).toBe('scalar');
  expect(selectDiceKernel(true, true)).toBe('simd');
  expect(() => selectDiceKernel(true, false)).toThrow(expect.objectContaining({ code: 'WASM_SIMD_UNSUPPORTED' }));
});

it('ENGINE_SIMD and ENGINE_THREADS are read by one function, the CLI and the broker alike', () => {
  expect(engineSettings({})).toEqual({});
  expect(engineSettings({ ENGINE_SIMD: 'false', ENGINE_THREADS: '3' })).toEqual({ simd: false, threads: 3 });
  expect(engineSettings({ ENGINE_SIMD: 'true' })).toEqual({ simd: true });
  expect(() => engineSettings({ ENGINE_SIMD: 'yes' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
});

it('compiles each build once per thread and instantiates against a shared memory', () => {
  expect(compileDiceModule('simd')).toBe(compileDiceModule('simd'));
  expect(compileDiceModule('scalar')).not.toBe(compileDiceModule('simd'));
  const memory = createDiceMemory(3 * 65536 + 1);
  expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  expect(memory.buffer.byteLength).toBe(4 * 65536);
  const k = instantiateDice('scalar', memory);
  expect(k.kind).toBe('scalar');
  expect(typeof k.exports.topKTiled).toBe('function');
});

it("refuses a memory beyond the modules' 65536-page maximum", () => {
  expect(() => createDiceMemory(65537 * 65536)).toThrow(expect.objectContaining({ code: 'DATASET_TOO_LARGE' }));
});
