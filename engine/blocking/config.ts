/**
 * Blocking configurations in blocklib's JSON form (blocklib 0.1.11,
 * `validate_blocking_schema`): `{"type": "lambda-fold" | "p-sig", "version": 1,
 * "config": {…}}`, checked with zod and turned into what the engine needs.
 *
 * - lambda-fold with `"input-clks": true` is Hamming LSH on the CLK bits: the
 *   broker can run it, since it needs nothing but CLKs. `Lambda` bands of `K`
 *   bit positions each, drawn exactly as blocklib draws them (Python's
 *   `random.seed(random_state)`, then `random.sample(range(clk bits), K)` per
 *   band; engine/blocking/python-random.ts), so the blocks are blocklib's.
 * - p-sig needs the records themselves, so it runs where they are (a data
 *   provider's or relying party's side: engine/blocking/psig.ts) and reaches
 *   the broker as blocks.
 */
import { z } from 'zod';
import { PavilionError } from '../../common/errors.js';
import { PythonRandom } from './python-random.js';

/** More bands than this is no longer blocking (each band re-reads every record). */
export const MAX_LSH_BANDS = 4096;

const feature = z.union([z.number().int().min(0), z.string().min(1)]);

export const LambdaFoldSchema = z.object({
  type: z.literal('lambda-fold'),
  version: z.number().int(),
  config: z
    .object({
      'blocking-features': z.array(feature).min(1),
      Lambda: z.number().int().min(1).max(MAX_LSH_BANDS),
      'bf-len': z.number().int().min(1),
      'num-hash-funcs': z.number().int().min(1),
      K: z.number().int().min(1).max(32),
      'input-clks': z.literal(true, {
        errorMap: () => ({ message: 'the broker blocks CLKs: input-clks must be true' }),
      }),
      random_state: z.number().int(),
      'record-id-col': z.number().int().nullable().optional(),
    })
    .passthrough(),
});
export type LambdaFoldConfig = z.infer<typeof LambdaFoldSchema>;

const signatureSpec = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('characters-at'),
    feature,
    config: z.object({ pos: z.array(z.union([z.number().int().min(0), z.string()])).min(1) }),
  }),
  z.object({ type: z.literal('feature-value'), feature }),
  z.object({ type: z.literal('metaphone'), feature }),
]);

export const PSigSchema = z.object({
  type: z.literal('p-sig'),
  version: z.number().int(),
  config: z
    .object({
      'blocking-features': z.array(feature).min(1),
      'record-id-col': z.number().int().nullable().optional(),
      'null-sentinel': z.string().default(''),
      filter: z.discriminatedUnion('type', [
        z.object({ type: z.literal('ratio'), max: z.number().min(0).max(1), min: z.number().min(0).max(1).default(0) }),
        z.object({ type: z.literal('count'), max: z.number().int().min(0), min: z.number().int().min(0) }),
      ]),
      'blocking-filter': z.object({
        type: z.literal('bloom filter'),
        'number-hash-functions': z.number().int().min(1).max(64),
        'bf-len': z
          .number()
          .int()
          .min(1)
          .max(1 << 24),
        'compress-block-key': z.boolean().default(false),
      }),
      signatureSpecs: z.array(z.array(signatureSpec).min(1)).min(1),
    })
    .passthrough(),
});
export type PSigConfig = z.infer<typeof PSigSchema>;

function parseWith<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, json: unknown, what: string): T {
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new PavilionError('BLOCKING_CONFIG_INVALID', `${what}${at}: ${issue.message}`);
  }
  return r.data;
}

export function parseLambdaFold(json: unknown): LambdaFoldConfig {
  return parseWith(LambdaFoldSchema, json, 'lambda-fold config');
}

export function parsePSig(json: unknown): PSigConfig {
  return parseWith(PSigSchema, json, 'p-sig config');
}

/** Bit positions of each band: `Lambda` lists of `K` positions in [0, filterBits), drawn as blocklib draws them. */
export function lshPositions(config: LambdaFoldConfig, filterBits: number): number[][] {
  const { Lambda, K, random_state } = config.config;
  if (K > filterBits)
    throw new PavilionError('BLOCKING_CONFIG_INVALID', `K = ${K} is more than the ${filterBits} CLK bits`);
  const rnd = new PythonRandom(random_state);
  return Array.from({ length: Lambda }, () => rnd.sampleRange(filterBits, K));
}

/** A lambda-fold config on CLKs in blocklib's form: `bands` bands of `bitsPerBand` bits. */
export function lshConfig(bands: number, bitsPerBand: number, seed = 0): LambdaFoldConfig {
  return parseLambdaFold({
    type: 'lambda-fold',
    version: 1,
    config: {
      'blocking-features': [0],
      Lambda: bands,
      'bf-len': 1024,
      'num-hash-funcs': 1,
      K: bitsPerBand,
      'input-clks': true,
      random_state: seed,
    },
  });
}
