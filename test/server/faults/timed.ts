/** One HTTP exchange with its duration, bounded by a hang guard: a request that does not answer fails. */
export interface Timed {
  status: number;
  json: any;
  contentType: string | null;
  ms: number;
}

/** Far above the 2 s the broker promises during an outage: only a hang trips it, never a slow machine. */
export const HANG_GUARD_MS = 8000;

export async function timed(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; contentType?: string } = {},
): Promise<Timed> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined || opts.body !== undefined) {
    body = opts.raw ?? JSON.stringify(opts.body);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  const started = performance.now();
  const res = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(HANG_GUARD_MS) });
  const text = await res.text();
  const contentType = res.headers.get('content-type');
  return {
    status: res.status,
    json: contentType?.includes('json') && text ? JSON.parse(text) : undefined,
    contentType,
    ms: performance.now() - started,
  };
}
