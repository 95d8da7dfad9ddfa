/**
 * Metric names as Prometheus checks them (promtool check metrics), the gauges
 * that exist only once something feeds them, and the verification histogram
 * the latency SLO alerts read.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createMetrics, VERIFICATION_DURATION_BUCKETS } from '../../metrics/index.js';
import { MUST_RUN, missingMessage, PROMETHEUS } from '../deploy/services.js';

const promtool = process.env.PROMTOOL_BIN;

describe('metric names', () => {
  it('no gauge carries the counter suffix _total', async () => {
    const { body } = await createMetrics().render();
    const types = new Map<string, string>();
    for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
    expect(types.size).toBeGreaterThan(20);
    for (const [name, type] of types) if (name.endsWith('_total')) expect(`${name} ${type}`).toBe(`${name} counter`);
    expect(types.get('pavilion_nodejs_active_handles')).toBe('gauge');
  });

  it.skipIf(!promtool && !MUST_RUN)('promtool check metrics finds nothing to flag in the exposition', async () => {
    if (!promtool) throw new Error(missingMessage(PROMETHEUS));
    const m = createMetrics({ routes: ['/v1/verifications'] });
    m.observeRequest('/v1/verifications', 'POST', 200, 0.002);
    m.observeVerification(true, 0.002);
    m.setGauge('database_up', 1);
    const { body } = await m.render();
    const r = spawnSync(promtool, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('optional gauges are absent until fed, so a missing part never reads as an outage', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let body = (await m.render()).body;
    for (const name of ['pavilion_anchor_wallet_balance', 'pavilion_database_up', 'pavilion_audit_checkpoint_size'])
      expect(body).not.toContain(`# TYPE ${name} `);
    m.setCollector('anchor_wallet_balance', () => 12.5);
    m.setCollector('database_up', async () => 0);
    body = (await m.render()).body;
    expect(body).toMatch(/^pavilion_anchor_wallet_balance 12\.5$/m);
    expect(body).toMatch(/^pavilion_database_up 0$/m);
    expect(body).not.toContain('# TYPE pavilion_audit_checkpoint_size ');
  });

  it('verification latency is split by cache outcome, with the SLO bounds as bucket edges', async () => {
    expect(VERIFICATION_DURATION_BUCKETS).toEqual(expect.arrayContaining([0.05, 0.2]));
    const m = createMetrics({ defaultMetrics: false });
    m.observeVerification(true, 0.004);
    m.observeVerification(false, 0.15);
    m.observeVerification(false, Number.NaN);
    const { body } = await m.render();
    expect(body).toMatch(/^pavilion_verification_duration_seconds_count\{cache="hit"\} 1$/m);
    expect(body).toMatch(/^pavilion_verification_duration_seconds_count\{cache="miss"\} 1$/m);
    expect(body).toMatch(/^pavilion_verification_duration_seconds_bucket\{le="0.05",cache="hit"\} 1$/m);
    expect(body).toMatch(/^pavilion_verification_duration_seconds_bucket\{le="0.1",cache="miss"\} 0$/m);
    expect(body).toMatch(/^pavilion_verification_duration_seconds_bucket\{le="0.2",cache="miss"\} 1$/m);
  });
});
