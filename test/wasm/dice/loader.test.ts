import { expect, it } from 'vitest';
import { engineSettings } from '../../../server/config.js';
import {
  compileDiceModule,
  createDiceMemory,
  defaultPopcountStrategy,
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
  expect(k.popcount).toBe('scalar');
  expect(typeof k.exports.topKAtThreshold).toBe('function');
});

it('the SIMD build counts with native POPCNT lanes on x86-64 and i8x16.popcnt elsewhere, overridable', () => {
  expect(defaultPopcountStrategy()).toBe(process.arch === 'x64' ? 'lanes' : 'bytewise');
  const memory = createDiceMemory(65536);
  const auto = instantiateDice('simd', memory);
  expect(auto.popcount).toBe(defaultPopcountStrategy());
  expect(auto.exports.setPopcountStrategy(auto.popcount === 'lanes' ? 1 : 0)).toBe(auto.popcount === 'lanes' ? 1 : 0);
  expect(instantiateDice('simd', memory, undefined, 'bytewise').popcount).toBe('bytewise');
  // the scalar build ignores the setting
  expect(instantiateDice('scalar', memory).exports.setPopcountStrategy(1)).toBe(0);
});

it("refuses a memory beyond the modules' 65536-page maximum", () => {
  expect(() => createDiceMemory(65537 * 65536)).toThrow(expect.objectContaining({ code: 'DATASET_TOO_LARGE' }));
});
