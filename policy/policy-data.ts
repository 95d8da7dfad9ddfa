/**
 * The shape of the policy's data (a bundle's data.json), checked when a
 * bundle loads: a purpose missing its minimum score would otherwise make the
 * Rego fall back to its default silently, and a claim name the API refuses
 * could never be asked for. A bundle that fails this is refused whole
 * (POLICY_BUNDLE_INVALID naming the field), and a running broker keeps the
 * bundle it has.
 */
import { z } from 'zod';
import { bundleInvalid } from './bundle.js';

/** The API's alphabets (server/verification.ts validates requests with the same). */
export const PURPOSE_NAME = /^[A-Za-z0-9._:-]{1,64}$/;
export const CLAIM_NAME = /^[a-z][a-z0-9_]{0,63}$/;

const Purpose = z
  .object({
    claims: z.array(z.string().regex(CLAIM_NAME, 'must match [a-z][a-z0-9_]{0,63}')).max(64),
    consent_required: z.boolean(),
    min_score: z.number().min(0).max(1),
    cache_ttl_seconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400),
    description: z.string().max(500).optional(),
  })
  .strict();

const PolicyData = z.object({
  pavilion: z.object({
    purposes: z
      .record(z.string().regex(PURPOSE_NAME, 'purpose names must match [A-Za-z0-9._:-]{1,64}'), Purpose)
      .refine((p) => Object.keys(p).length > 0, 'at least one purpose is required'),
  }),
});

export type PurposeData = z.infer<typeof Purpose>;

/** Throws POLICY_BUNDLE_INVALID naming the first offending path of data.json. */
export function checkPolicyData(value: unknown): Record<string, PurposeData> {
  const r = PolicyData.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw bundleInvalid(`data.json ${['', ...issue.path].join('.') || '.'}: ${issue.message}`);
  }
  return r.data.pavilion.purposes;
}
