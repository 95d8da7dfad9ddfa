/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top=N] [--last=SECONDS]`: where a V8 CPU profile (for
 * example one written by `bench:server -- --cpu-prof=DIR`) spends its samples — by area (idle, GC, the
 * embedded database, the Postgres driver, node internals, each of our folders) and by function, as
 * shares of all samples. Self time only: a function's callees count under their own names.
 */
import { readFileSync } from 'node:fs';
import { integer, parseBenchArgs, positive, required, text } from './options.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a frame belongs to, from its script URL (or V8's pseudo-frames). */
export function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(program)') return 'program (native, unattributed)';
    return `native ${functionName || '(anonymous)'}`;
  }
  if (url.includes('@electric-sql/pglite-socket')) return 'pglite socket server';
  if (url.includes('@electric-sql/pglite')) return url.startsWith('wasm://') ? 'pglite wasm' : 'pglite js';
  if (url.startsWith('wasm://')) return 'wasm (other)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  const ours = /\/(server\/[^/]+|[a-z]+)\/[^/]+\.[jt]s$/.exec(url);
  return ours ? ours[1]! : url;
}

/** `lastSeconds`: only the samples of the profile's last seconds (one scenario at the end of a whole-life profile). */
export function summarize(
  profile: Profile,
  lastSeconds = Number.POSITIVE_INFINITY,
): { total: number; areas: Map<string, number>; fns: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  let span = 0;
  for (const dt of profile.timeDeltas) span += dt;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (span - at > lastSeconds * 1e6) continue;
    const node = byId.get(profile.samples[i]!)!;
    const f = node.callFrame;
    const area = areaOf(f);
    const fn = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    areas.set(area, (areas.get(area) ?? 0) + dt);
    fns.set(fn, (fns.get(fn) ?? 0) + dt);
    total += dt;
  }
  return { total, areas, fns };
}

if (process.argv[1]?.endsWith('profile-summary.ts')) {
  const { values: o } = parseBenchArgs({
    name: 'bench/profile-summary.ts',
    run: 'node --import tsx bench/profile-summary.ts',
    about: 'Where a V8 CPU profile spends its samples, by area and by function (self time).',
    positionals: {
      file: required(text('FILE.cpuprofile', 'the profile, e.g. one written by bench:server -- --cpu-prof=DIR')),
    },
    options: {
      top: integer('N', 'lines per list (default 40)'),
      last: positive('SECONDS', "only the profile's last SECONDS (default: all of it)"),
    },
  });
  const file = o.file;
  const top = o.top ?? 40;
  const last = o.last ?? Number.POSITIVE_INFINITY;
  const { total, areas, fns } = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, last);
  const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)}%`;
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log('\nby area');
  for (const [k, v] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
  console.log('\nby function (self)');
  for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
}
