import { afterEach, expect, it } from 'vitest';
import {
  compileDiceModule,
  createDiceMemory,
  defaultPopcountStrategy,
  instantiateDice,
  selectDiceKernel,
  wasmSimdSupported,
} from '../../wasm/dice.js';

const saved = process.env.PAVILION_WASM_SIMD;
afterEach(() => {
  if (saved === undefined) delete process.env.PAVILION_WASM_SIMD;
  else process.env.PAVILION_WASM_SIMD = saved;
});

it('Node 20 validates the SIMD probe module', () => {
  expect(wasmSimdSupported()).toBe(true);
});

it('picks SIMD when supported and scalar otherwise', () => {
  delete process.env.PAVILION_WASM_SIMD;
  expect(selectDiceKernel(undefined, true)).toBe('simd');
  expect(selectDiceKernel(undefined, false)).toBe('scalar');
});

it('PAVILION_WASM_SIMD overrides detection; 1 without SIMD is a clear error', () => {
  process.env.PAVILION_WASM_SIMD = '0';
  expect(selectDiceKernel(undefined, true)).toBe('scalar');
  process.env.PAVILION_WASM_SIMD = '1';
  expect(selectDiceKernel(undefined, true)).toBe('simd');
  expect(() => selectDiceKernel(undefined, false)).toThrow(expect.objectContaining({ code: 'WASM_SIMD_UNSUPPORTED' }));
  process.env.PAVILION_WASM_SIMD = 'yes';
  expect(() => selectDiceKernel(undefined, true)).toThrow(
    expect.objectContaining({ code: 'WASM_SIMD_SETTING_INVALID' }),
  );
});

it('an explicit choice wins over the environment', () => {
  process.env.PAVILION_WASM_SIMD = '1';
  expect(selectDiceKernel(false, true)).toBe('scalar');
  process.env.PAVILION_WASM_SIMD = '0';
  expect(selectDiceKernel(true, true)).toBe('simd');
  expect(() => selectDiceKernel(true, false)).toThrow(expect.objectContaining({ code: 'WASM_SIMD_UNSUPPORTED' }));
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
