/**
 * Prometheus gauges for an Anchorer, read from its status() at scrape time
 * (Prometheus naming: pavilion_anchor_*; sizes are entry counts).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Anchorer } from './anchorer.js';

export function registerAnchorerMetrics(registry: Registry, anchorer: Anchorer): void {
  const labels = () => ({ chain: anchorer.chain, contract: anchorer.contract });
  const gauge = (name: string, help: string, read: (s: ReturnType<Anchorer['status']>) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['chain', 'contract'],
      registers: [registry],
      collect() {
        const value = read(anchorer.status());
        if (value === null) this.reset();
        else this.set(labels(), value);
      },
    });
  gauge('pavilion_anchor_checkpoint_size', 'Tree size of the newest signed checkpoint seen', (s) => s.checkpointSize);
  gauge('pavilion_anchor_last_anchored_size', 'Largest tree size included on chain', (s) => s.lastAnchoredSize);
  gauge('pavilion_anchor_last_final_size', 'Largest tree size whose anchor is final', (s) => s.lastFinalSize);
  gauge('pavilion_anchor_unanchored_entries', 'Log entries not yet anchored on chain', (s) => s.unanchoredEntries);
  gauge(
    'pavilion_anchor_unfinalized_entries',
    'Log entries whose anchor is not final yet',
    (s) => s.unfinalizedEntries,
  );
  gauge('pavilion_anchor_last_anchored_age_seconds', 'Seconds since the last anchor was included', (s) =>
    s.lastAnchoredAt ? (Date.now() - s.lastAnchoredAt.getTime()) / 1000 : null,
  );
  gauge(
    'pavilion_anchor_consecutive_failures',
    'Failed anchoring passes in a row (RPC, database or source)',
    (s) => s.consecutiveFailures,
  );
  gauge('pavilion_anchor_reorgs', 'Anchor receipts that left the canonical chain or moved block', (s) => s.reorgs);
}
