/**
 * Bounds the set of values a metric label can take.
 *
 * Every distinct label value is a separate time series in Prometheus; a label
 * fed from request data (a raw path with an id in it, a client-chosen name)
 * grows without bound and takes the monitoring system down. So each label
 * either has an allow-list (routes, methods) or admits at most `maxDistinct`
 * well-formed values in first-come order; everything else becomes `other`.
 * Mapping to `other` rather than throwing: a metric must never fail a request.
 */
export const OTHER_LABEL = 'other';

export class LabelGuard {
  private readonly admitted = new Set<string>();

  /**
   * @param allowed  fixed allow-list; when given, nothing else is admitted
   * @param maxDistinct  without an allow-list: how many values to admit
   * @param maxLength  longer values are not admitted
   */
  constructor(private readonly opts: { allowed?: Iterable<string>; maxDistinct: number; maxLength?: number }) {
    if (opts.allowed) for (const v of opts.allowed) this.admitted.add(v);
  }

  get size(): number {
    return this.admitted.size;
  }

  /** Adds values to an allow-list guard (e.g. routes registered after startup). */
  allow(...values: string[]): void {
    for (const v of values) this.admitted.add(v);
  }

  map(value: unknown): string {
    if (typeof value !== 'string') return OTHER_LABEL;
    if (this.admitted.has(value)) return value;
    if (this.opts.allowed !== undefined) return OTHER_LABEL;
    if (
      value.length === 0 ||
      value.length > (this.opts.maxLength ?? 128) ||
      this.admitted.size >= this.opts.maxDistinct
    )
      return OTHER_LABEL;
    this.admitted.add(value);
    return value;
  }
}
