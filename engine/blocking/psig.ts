/**
 * p-sig blocking as blocklib 0.1.11 defines it (`PPRLIndexPSignature`):
 * signatures from the records themselves, so it runs where the records are
 * (a data provider's or relying party's side, `pavilion block`), and reaches
 * the broker as blocks in anonlink-client's form (engine/blocking/blocks.ts).
 *
 * For each signature strategy (a list of specs: `feature-value`,
 * `characters-at` with Python slice positions, `metaphone`), a record's
 * signature is `<strategy index>_<parts joined by _>`, none when a feature is
 * the null sentinel. Signatures held by too few or too many records (the
 * `ratio` or `count` filter) are dropped; each remaining signature is hashed
 * into `number-hash-functions` positions of a `bf-len` Bloom filter (SHA-1 and
 * MD5 double hashing, blocklib's `flip_bloom_filter`) and the set of positions
 * is the block key, so the key does not reveal the signature.
 *
 * Block keys here are the positions sorted and joined (`"12,345,1999"`);
 * blocklib writes Python's `str(tuple(set))`, whose order depends on CPython's
 * set layout. Both give the same blocks, and only key equality matters.
 */
import { createHash } from 'node:crypto';
import { doubleMetaphone } from 'double-metaphone';
import { PavilionError } from '../../common/errors.js';
import type { PSigConfig } from './config.js';

/** Python's metaphone package returns an empty secondary code when it equals the primary; blocklib joins both. */
export function metaphone(value: string): string {
  const [primary, secondary] = doubleMetaphone(value);
  return primary + (secondary === primary ? '' : secondary);
}

/** Python's s[start:end] on code points, negative indices counting from the end. */
function pySlice(chars: readonly string[], start: number | undefined, end: number | undefined): string {
  const n = chars.length;
  const norm = (i: number | undefined, fallback: number): number =>
    i === undefined ? fallback : i < 0 ? Math.max(0, i + n) : Math.min(i, n);
  return chars.slice(norm(start, 0), norm(end, n)).join('');
}

/** blocklib's generate_by_char_at, position by position. */
function charactersAt(value: string, pos: readonly (number | string)[]): string {
  const chars = Array.from(value);
  const max = chars.length;
  const at = (p: number): string => chars[p < 0 ? p + max : p] ?? '';
  let sig = '';
  for (const p of pos) {
    if (typeof p === 'number' || !p.includes(':')) {
      const i = Math.min(Number(p), max - 1);
      if (!Number.isInteger(i))
        throw new PavilionError('BLOCKING_CONFIG_INVALID', `characters-at position ${JSON.stringify(p)}`);
      sig += at(i);
      continue;
    }
    const [s, e] = p.split(':') as [string, string];
    if (s !== '' && e !== '') {
      const start = Number(s);
      const end = Number(e);
      if (!(start < end))
        throw new PavilionError('BLOCKING_CONFIG_INVALID', `characters-at ${p}: start must be below end`);
      sig += pySlice(chars, Math.min(start, max - 1), Math.min(end, max));
    } else if (s === '' && e !== '') sig += pySlice(chars, undefined, Math.min(Number(e), max));
    else if (s !== '' && e === '') sig += pySlice(chars, Math.min(Number(s), max), undefined);
    else throw new PavilionError('BLOCKING_CONFIG_INVALID', `characters-at position ${JSON.stringify(p)}`);
  }
  return sig;
}

/** blocklib's flip_bloom_filter: the set of positions, sorted. */
export function bloomPositions(signature: string, bfLen: number, hashes: number): number[] {
  const big = (algo: string): bigint => BigInt(`0x${createHash(algo).update(signature, 'utf8').digest('hex')}`);
  const len = BigInt(bfLen);
  const h1 = Number(big('sha1') % len);
  const h2 = Number(big('md5') % len);
  const set = new Set<number>();
  for (let i = 0; i < hashes; i++) set.add((h1 + i * h2) % bfLen);
  return [...set].sort((a, b) => a - b);
}

export interface PSigOptions {
  /** Column names, needed when the config names features instead of giving column numbers. */
  header?: readonly string[];
  /** Phonetic code for `metaphone` specs (default: `metaphone` above). */
  phonetic?: (value: string) => string;
}

/** p-sig candidate blocks of one party: block key → record ids (blocklib's `CandidateBlockingResult.blocks`). */
export function psigCandidateBlocks(
  rows: readonly (readonly string[])[],
  config: PSigConfig,
  opts: PSigOptions = {},
): Map<string, string[]> {
  const c = config.config;
  const phonetic = opts.phonetic ?? metaphone;
  const column = (feature: number | string): number => {
    if (typeof feature === 'number') return feature;
    const i = opts.header?.indexOf(feature) ?? -1;
    if (i < 0) throw new PavilionError('BLOCKING_CONFIG_INVALID', `feature ${JSON.stringify(feature)} is not a column`);
    return i;
  };
  const strategies = c.signatureSpecs.map((specs) => specs.map((spec) => ({ spec, col: column(spec.feature) })));
  const idCol = c['record-id-col'];
  const perStrategy = strategies.map(() => new Map<string, string[]>());
  rows.forEach((row, index) => {
    const id = idCol === undefined || idCol === null ? String(index) : String(row[idCol] ?? '');
    strategies.forEach((specs, s) => {
      const parts: string[] = [];
      for (const { spec, col } of specs) {
        const value = row[col];
        if (value === undefined) throw new PavilionError('RECORD_INVALID', `row ${index} has no column ${col}`);
        if (value === c['null-sentinel']) return;
        if (spec.type === 'feature-value') parts.push(value);
        // blocklib's characters-at gives None for an empty value, and None parts are left out of the signature
        else if (spec.type === 'characters-at') {
          if (value !== '') parts.push(charactersAt(value, spec.config.pos));
        } else parts.push(phonetic(value));
      }
      const signature = `${s}_${parts.join('_')}`;
      const list = perStrategy[s]!.get(signature);
      if (list) list.push(id);
      else perStrategy[s]!.set(signature, [id]);
    });
  });
  const n = rows.length;
  const { filter } = c;
  const keep = (size: number): boolean =>
    filter.type === 'ratio'
      ? n * filter.max >= size && size >= n * filter.min
      : filter.max >= size && size >= filter.min;
  const bf = c['blocking-filter'];
  const blocks = new Map<string, string[]>();
  for (const index of perStrategy) {
    for (const [signature, ids] of index) {
      if (!keep(ids.length)) continue;
      const key = bloomPositions(signature, bf['bf-len'], bf['number-hash-functions']).join(',');
      const list = blocks.get(key);
      if (list) list.push(...ids);
      else blocks.set(key, [...ids]);
    }
  }
  if (blocks.size === 0) throw new PavilionError('BLOCKING_EMPTY', 'p-sig: the filter removed every signature');
  return blocks;
}

/** anonlink-client's `anonlink block` output shape: `{"blocks": {"<record id>": ["<key>", …]}}`. */
export function recordsToBlocks(blocks: ReadonlyMap<string, readonly string[]>): { blocks: Record<string, string[]> } {
  const out: Record<string, string[]> = {};
  for (const [key, ids] of blocks) {
    for (const id of ids) {
      const list = out[id];
      if (list) list.push(key);
      else out[id] = [key];
    }
  }
  return { blocks: out };
}
