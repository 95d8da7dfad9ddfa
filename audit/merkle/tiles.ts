/**
 * C2SP tlog-tiles (c2sp.org/tlog-tiles): the tree served as static "tiles"
 * of 256 consecutive hashes, so clients compute any proof themselves.
 *
 * Tile (L, N) of width W holds, for i in [0, W), MTH of the 256^L leaves
 * starting at (N·256 + i)·256^L, i.e. the perfect subtree at tree level 8·L
 * with index N·256 + i. W = 256 is a full tile; 1..255 a partial one, the
 * right edge of a tree: at level L a tree of size s has
 * floor(s / 256^L) mod 256 hashes in its partial tile.
 *
 * Paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, N written as
 * zero-padded 3-digit groups, all but the last prefixed with `x`
 * (1234067 → x001/x234/067). Parsing is strict: one spelling per tile, so a
 * cache in front of the log never holds two copies of one resource.
 */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

export type TileRef =
  | { kind: 'hashes'; level: number; index: number; width: number }
  | { kind: 'entries'; index: number; width: number };

/** `index` as tlog-tiles path elements: 1234067 → "x001/x234/067". */
export function formatTileIndex(index: number): string {
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

export function formatTilePath(tile: TileRef): string {
  const partial = tile.width === TILE_WIDTH ? '' : `.p/${tile.width}`;
  const head = tile.kind === 'entries' ? 'tile/entries' : `tile/${tile.level}`;
  return `${head}/${formatTileIndex(tile.index)}${partial}`;
}

const LEVEL = /^(0|[1-9][0-9]?)$/;
const WIDTH = /^([1-9][0-9]{0,2})$/;

/**
 * Parses a path below `tile/` (e.g. "0/x001/x234/067.p/8", "entries/005");
 * null when it is not exactly the spec's spelling of a tile.
 */
export function parseTilePath(path: string): TileRef | null {
  const parts = path.split('/');
  const head = parts.shift();
  if (head === undefined) return null;
  let width = TILE_WIDTH;
  // ".p/<W>" rides on the last index element: [..., "067.p", "8"].
  if (parts.length >= 2 && parts[parts.length - 2]!.endsWith('.p')) {
    const w = parts.pop()!;
    if (!WIDTH.test(w) || Number(w) >= TILE_WIDTH) return null;
    width = Number(w);
    parts[parts.length - 1] = parts[parts.length - 1]!.slice(0, -2);
  }
  if (parts.length === 0 || parts.length > 6) return null; // 6 groups reach 10^18 > 2^53
  let index = 0;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const m = (last ? /^([0-9]{3})$/ : /^x([0-9]{3})$/).exec(parts[i]!);
    if (!m) return null;
    // A leading "x000" group would be a second spelling of the same index.
    if (i === 0 && !last && m[1] === '000') return null;
    index = index * 1000 + Number(m[1]);
  }
  if (!Number.isSafeInteger(index)) return null;
  if (head === 'entries') return { kind: 'entries', index, width };
  if (!LEVEL.test(head) || Number(head) > 63) return null;
  return { kind: 'hashes', level: Number(head), index, width };
}

/** Complete perfect subtrees at tree level 8·L in a tree of `size` leaves: what tiles of level L can hold. */
export function hashesAtTileLevel(size: number, tileLevel: number): number {
  return Math.floor(size / 2 ** (TILE_HEIGHT * tileLevel));
}
