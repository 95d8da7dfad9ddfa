// Dice similarity kernels over CLK Bloom filters held in an imported, shared
// WebAssembly.Memory (one copy of a dataset for every worker thread).
//
// One source, two builds (asconfig.json targets `dice-simd` and `dice-scalar`):
// the compile-time constant ASC_FEATURE_SIMD selects the v128 path, so the
// scalar build never contains a SIMD opcode and loads on runtimes without SIMD.
//
// Layout contract (all offsets are byte addresses chosen by the JS side):
// - a filter is `bytes` contiguous bytes, `bytes` a positive multiple of 8
//   (filter length a multiple of 64 bits); bit order is irrelevant to
//   popcount(a & b);
// - popcounts are u32, one per filter, in a parallel array;
// - base filter j lives at basePtr + j*bytes, its popcount at basePopsPtr + 4*j;
//   indices reported by the kernels are these absolute j. The engine stores a
//   dataset's base in tiles instead ("Tiled (bit-sliced) base" below) and
//   searches it with topKTiled and pairsTiled; rows serve the linkage
//   workspaces (runPairsAtThreshold, "Blocked linkage" below).
//
// No static data (no memory.data, no strings, no managed objects): every
// instance on the shared memory would otherwise see, and on re-instantiation
// rewrite, the same data segment (docs/decisions.md, "Kernels with static data").
//
// Score and threshold (anonlink's definition, clkhash ALGORITHM.md §7):
//   score = 2c / (pa + pb) as float64, 0 when pa + pb = 0; a pair is reported
//   when score >= threshold (float64 comparison).
// The hot loop first applies the integer test from docs/decisions.md ("Kernels"),
//   2·c·65536 >= t16·(pa + pb),
// with t16 = max(0, floor(threshold·65536) − 1). Rounding down and then one
// more unit below makes the integer test a strict superset of the float test:
// float(2c/s) >= t implies 2c/s >= t·(1 − 2^-53) > t16/65536, because
// t·65536 − t16 >= 1. Pairs passing it are then decided by the exact float64
// computation above, so reported pairs and scores equal anonlink's bit for bit.
// The superset costs one division only for the rare pairs within ~2/65536 of t.
//
// Popcount early exit (anonlink skips when |pa − pb| > 2·pa·(1/t − 1)): since
// c <= min(pa, pb), a pair can only pass the integer test when
//   2·min(pa,pb)·65536 >= t16·(pa+pb).
// For pb >= pa this is anonlink's bound (pb − pa <= 2·pa·(1/t − 1)); for
// pb < pa it is the same bound seen from pb's side, so it is tighter than
// anonlink's one-sided bound and still never skips a pair that could pass.
// The left side minus the right side grows with pb up to pa and falls after
// it, so for a group of base filters with popcounts in [pmin, pmax] (a tile)
// the best case is pb* = clamp(pa, pmin, pmax): one integer test per query and
// group decides whether the group can be skipped (no division, no float).

/** Integer threshold in 1/65536 units, rounded so the integer test is a superset of the float test. */
// @ts-ignore: decorator
@inline function thresholdUnits(threshold: f64): u64 {
  if (!(threshold > 0)) return 0;
  const units = <i64>Math.floor(threshold * 65536.0) - 1;
  return units > 0 ? <u64>units : 0;
}

/** False when no base popcount in [pmin, pmax] can pass with query popcount pa (see header). */
// @ts-ignore: decorator
@inline function groupMayPass(pa: u32, pmin: u32, pmax: u32, t16: u64): bool {
  const pb = pa < pmin ? pmin : pa > pmax ? pmax : pa;
  const low = pa < pb ? pa : pb;
  return <u64>low * 131072 >= t16 * <u64>(pa + pb);
}

/** anonlink's score: 2c/(pa+pb) in float64, 0 when both filters are empty. */
// @ts-ignore: decorator
@inline function diceScore(c: u32, sum: u32): f64 {
  return sum == 0 ? 0.0 : <f64>(<u64>c << 1) / <f64>sum;
}

/** Integer prefilter (superset of the float test, see header). */
// @ts-ignore: decorator
@inline function mayPass(c: u32, sum: u32, t16: u64): bool {
  return <u64>c * 131072 >= t16 * <u64>sum;
}

// ---------------------------------------------------------------------------
// popcount(q & b) for one pair of rows.

/** popcount(q & b) for one pair (runPairsAtThreshold, countAnd). */
function countAnd1(q: usize, b: usize, bytes: u32): u32 {
  let c: u64 = 0;
  for (let off: usize = 0; off < <usize>bytes; off += 8) {
    c += popcnt<u64>(load<u64>(q + off) & load<u64>(b + off));
  }
  return <u32>c;
}

// ---------------------------------------------------------------------------
// Exports.

/** Writes popcount(filter) as u32 for `count` filters of `bytes` bytes each. */
export function popcountFilters(filtersPtr: usize, count: u32, bytes: u32, outPtr: usize): void {
  for (let i: u32 = 0; i < count; i++) {
    const f = filtersPtr + <usize>i * bytes;
    let c: u64 = 0;
    for (let off: usize = 0; off < <usize>bytes; off += 8) c += popcnt<u64>(load<u64>(f + off));
    store<u32>(outPtr + (<usize>i << 2), <u32>c);
  }
}

/** popcount(a & b) for two filters (for tests and one-off checks). */
export function countAnd(aPtr: usize, bPtr: usize, bytes: u32): u32 {
  return countAnd1(aPtr, bPtr, bytes);
}

// Per-query top-k heaps: a min-heap on (score, then higher index = worse), so
// the root is the candidate to evict. Scores f64 at heapScoresPtr, indices u32
// at heapIndicesPtr, k slots per query; counts u32 per query at heapCountsPtr,
// followed by one more u32 per query that the kernel owns: the query's
// current integer floor (see topKTiled).

// @ts-ignore: decorator
@inline function worse(sa: f64, ia: u32, sb: f64, ib: u32): bool {
  return sa < sb || (sa == sb && ia > ib);
}

function heapOffer(scores: usize, indices: usize, countPtr: usize, k: u32, score: f64, index: u32): void {
  let n = load<u32>(countPtr);
  if (n < k) {
    // sift up
    let i = n;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = load<f64>(scores + (<usize>parent << 3));
      const pi = load<u32>(indices + (<usize>parent << 2));
      if (!worse(score, index, ps, pi)) break;
      store<f64>(scores + (<usize>i << 3), ps);
      store<u32>(indices + (<usize>i << 2), pi);
      i = parent;
    }
    store<f64>(scores + (<usize>i << 3), score);
    store<u32>(indices + (<usize>i << 2), index);
    store<u32>(countPtr, n + 1);
    return;
  }
  // full: replace the root only when the candidate is better than it
  if (!worse(load<f64>(scores), load<u32>(indices), score, index)) return;
  let i: u32 = 0;
  while (true) {
    const l: u32 = 2 * i + 1;
    if (l >= n) break;
    let m: u32 = l;
    let ms = load<f64>(scores + (<usize>l << 3));
    let mi = load<u32>(indices + (<usize>l << 2));
    const r: u32 = l + 1;
    if (r < n) {
      const rs = load<f64>(scores + (<usize>r << 3));
      const ri = load<u32>(indices + (<usize>r << 2));
      if (worse(rs, ri, ms, mi)) { m = r; ms = rs; mi = ri; }
    }
    if (!worse(ms, mi, score, index)) break;
    store<f64>(scores + (<usize>i << 3), ms);
    store<u32>(indices + (<usize>i << 2), mi);
    i = m;
  }
  store<f64>(scores + (<usize>i << 3), score);
  store<u32>(indices + (<usize>i << 2), index);
}

/**
 * heapOffer on query qi's heap (addresses computed only for the rare passing
 * pair); once the heap is full, raises the query's integer floor to its
 * root score, since only better candidates can enter from then on.
 */
function offerTo(scoresPtr: usize, indicesPtr: usize, countsPtr: usize, queryCount: u32, qi: u32, k: u32, score: f64, index: u32, t16: u64): void {
  const hs = scoresPtr + ((<usize>qi * k) << 3);
  const hc = countsPtr + (<usize>qi << 2);
  heapOffer(hs, indicesPtr + ((<usize>qi * k) << 2), hc, k, score, index);
  if (load<u32>(hc) == k) storeFloor(countsPtr, queryCount, qi, t16, load<f64>(hs));
}

/** floor = max(t16, units(rootScore)): still a superset of "score >= root score". */
// @ts-ignore: decorator
@inline function storeFloor(countsPtr: usize, queryCount: u32, qi: u32, t16: u64, rootScore: f64): void {
  const root = thresholdUnits(rootScore);
  store<u32>(countsPtr + ((<usize>queryCount + qi) << 2), <u32>(root > t16 ? root : t16));
}

// @ts-ignore: decorator
@inline function emitPair(outPtr: usize, n: u32, query: u32, index: u32, score: f64): void {
  const e = outPtr + (<usize>n << 4);
  store<u32>(e, query);
  store<u32>(e, index, 4);
  store<f64>(e, score, 8);
}

// ---------------------------------------------------------------------------
// Tiled (bit-sliced) base for 1:N top-k (docs/decisions.md, "Big datasets").
//
// A dataset's filters are stored in tiles of TILE_LANES (512) filters. Inside a
// tile, plane p (one per bit position, `bits` of them) is 64 bytes: bit l of
// the plane is bit p of the tile's filter l. Bit positions count as clkhash
// does (position p is bit 7 - p%8 of byte p/8), and the 512 bits of a plane are
// 64 bytes, lane l at bit l%8 of byte l/8, so one plane is one cache line.
//
// A one-query search then reads only the planes it needs. For the query's set
// of ones A and a base filter B, c = |A ∩ B| is the number of A's positions
// where B has a one; counted over A's zeros instead, z = |B \ A| and
// c = |B| − z. The kernel takes the smaller of the two position lists (at most
// half the planes), adds the chosen planes of a tile lane-wise into bit-sliced
// counters (Harley–Seal carry-save adders: about five bitwise operations per
// plane per 128 lanes, against a popcount of every word of every filter in
// the row layout), and compares all counters with one bound per tile before
// any lane is looked at: CLKs from clkhash's FEBRL schema have ~67% of their
// bits set, so a search reads a third of the bytes. Every 64 planes a pass also
// checks whether any of its lanes can still meet the bound, and stops when none
// can (countPass). On one thread over 1M random filters at 62.5% density this
// ran 2.3 times as fast as the row kernel it replaced (four filters per pass,
// 16 queries per base block) over the same filters as rows.
//
// The bound per tile comes from the integer test of the header
// (2·c·65536 >= floor·(pa+pb)) at the least favourable popcount in the tile
// (tileRanges: min and max popcount of its filters): c >= ceil(floor·(pa+pmin)/131072)
// counting ones, z <= floor((pmax·(131072 − floor) − floor·pa)/131072) counting
// zeros (pb − floor·(pa+pb)/131072 grows with pb since floor <= 65536). Lanes
// that pass are decided by the header's integer test, then the float64 score,
// in ascending index order, so heaps and pairs equal anonlink's.

/** Filters per tile: a plane of a tile is 512 bits, one 64-byte cache line. */
const TILE_LANES: u32 = 512;
/** Planes per counting chunk: 63 groups of 16 and 15 singles keep every count below 1024 (10 counter planes). */
const CHUNK_PLANES: u32 = 1023;
/** Counter planes kept across chunks: counts up to 2^21 − 1 (filters up to MAX_FILTER_BITS = 2^20 bits). */
const COUNTER_PLANES: u32 = 21;

/** Bytes of one tile of filters of `bytes` bytes (512 filters). */
export function tileBytesFor(bytes: u32): u32 {
  return bytes * TILE_LANES;
}

/**
 * Transposes an 8×8 bit matrix held as 8 bytes (byte i = row i, bit j of a row
 * = column j): afterwards byte j holds column j, bit i of it from row i
 * (Hacker's Delight, transpose8, in three delta swaps).
 */
// @ts-ignore: decorator
@inline function transpose8(x: u64): u64 {
  let t = (x ^ (x >> 7)) & 0x00aa00aa00aa00aa;
  x = x ^ t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000cccc0000cccc;
  x = x ^ t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000f0f0f0f0;
  return x ^ t ^ (t << 28);
}

/**
 * Rewrites tiles [firstTile, firstTile + tileCount) of a base written as rows
 * (filter j at basePtr + j·bytes) as planes, in place, through `scratchPtr`
 * (tileBytesFor(bytes) bytes), and writes each tile's popcount range (u32 min,
 * u32 max over its filters below `count`; popcounts already at popsPtr) at
 * rangesPtr + 8·tile. Lanes at or above `count` (the last tile's padding) must
 * be zero.
 */
export function tileFilters(
  basePtr: usize, popsPtr: usize, rangesPtr: usize, firstTile: u32, tileCount: u32, count: u32, bytes: u32,
  scratchPtr: usize,
): void {
  const size = <usize>tileBytesFor(bytes);
  for (let t = firstTile; t < firstTile + tileCount; t++) {
    const tile = basePtr + <usize>t * size;
    memory.copy(scratchPtr, tile, size);
    for (let l: u32 = 0; l < TILE_LANES; l += 8) {
      const rows = scratchPtr + <usize>l * bytes;
      const at = tile + <usize>(l >> 3);
      for (let k: usize = 0; k < <usize>bytes; k++) {
        let x: u64 = 0;
        for (let i: usize = 0; i < 8; i++) x |= <u64>load<u8>(rows + i * bytes + k) << (i << 3);
        x = transpose8(x);
        // byte j of x: bit j of the 8 filters' byte k, i.e. position 8k + 7 − j
        for (let j: usize = 0; j < 8; j++) store<u8>(at + (((k << 3) + 7 - j) << 6), <u8>(x >> (j << 3)));
      }
    }
    let lo: u32 = 0xffffffff, hi: u32 = 0;
    const last = count - t * TILE_LANES < TILE_LANES ? count - t * TILE_LANES : TILE_LANES;
    for (let l: u32 = 0; l < last; l++) {
      const p = load<u32>(popsPtr + ((<usize>t * TILE_LANES + l) << 2));
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    store<u32>(rangesPtr + (<usize>t << 3), lo);
    store<u32>(rangesPtr + (<usize>t << 3), hi, 4);
  }
}

/** Writes filters [first, first + n) of a tiled base as rows at outPtr (n·bytes bytes). */
export function untileFilters(basePtr: usize, first: u32, n: u32, bytes: u32, outPtr: usize): void {
  const size = <usize>tileBytesFor(bytes);
  const end = first + n;
  // 8 filters at a time (one byte of each plane), writing only those in [first, end)
  for (let group = first & ~7; group < end; group += 8) {
    const lane = group % TILE_LANES;
    const at = basePtr + <usize>(group / TILE_LANES) * size + <usize>(lane >> 3);
    for (let k: usize = 0; k < <usize>bytes; k++) {
      let x: u64 = 0;
      for (let b: usize = 0; b < 8; b++) x |= <u64>load<u8>(at + (((k << 3) + 7 - b) << 6)) << (b << 3);
      x = transpose8(x);
      for (let i: u32 = 0; i < 8; i++) {
        const row = group + i;
        if (row >= first && row < end) store<u8>(outPtr + <usize>(row - first) * bytes + k, <u8>(x >> (<u64>i << 3)));
      }
    }
  }
}

/**
 * Writes the query's plane offsets (64·p, u32) at listPtr: its ones, or its
 * zeros when those are fewer. Returns the list length, with bit 31 set when
 * the list holds the zeros.
 */
function planeList(queryPtr: usize, bytes: u32, listPtr: usize): u32 {
  const bits = bytes << 3;
  let ones: u32 = 0;
  for (let off: usize = 0; off < <usize>bytes; off += 8) ones += <u32>popcnt<u64>(load<u64>(queryPtr + off));
  const zeros = ones * 2 > bits;
  let n: u32 = 0;
  for (let p: u32 = 0; p < bits; p++) {
    const one = (<u32>load<u8>(queryPtr + <usize>(p >> 3)) >> (7 - (p & 7))) & 1;
    if ((one == 1) != zeros) {
      store<u32>(listPtr + (<usize>n << 2), p << 6);
      n++;
    }
  }
  return zeros ? n | 0x80000000 : n;
}

// @ts-ignore: decorator
@inline function csaHigh(a: v128, b: v128, c: v128): v128 {
  return v128.or(v128.and(a, b), v128.and(v128.xor(a, b), c));
}

// @ts-ignore: decorator
@inline function csaLow(a: v128, b: v128, c: v128): v128 {
  return v128.xor(v128.xor(a, b), c);
}

// @ts-ignore: decorator
@inline function csaHigh64(a: u64, b: u64, c: u64): u64 {
  return (a & b) | ((a ^ b) & c);
}

// @ts-ignore: decorator
@inline function csaLow64(a: u64, b: u64, c: u64): u64 {
  return a ^ b ^ c;
}

/**
 * SIMD build: lane-wise counts over 128 lanes (the v128 at offset `sub` of every plane of the tile at
 * `tile`) of the `n` (<= CHUNK_PLANES) planes listed at listPtr, as 10 counter planes at outPtr (16 bytes each).
 */
function countChunkSimd(
  tile: usize, listPtr: usize, n: u32, outPtr: usize, early: bool, zeros: bool, bound: u64, maskPtr: usize,
): bool {
  const zero = v128.splat<i64>(0);
  let ones = zero, twos = zero, fours = zero, eights = zero;
  let c16 = zero, c32 = zero, c64 = zero, c128 = zero, c256 = zero, c512 = zero;
  let i: u32 = 0;
  for (; n - i >= 16; i += 16) {
    const o = listPtr + (<usize>i << 2);
    let d0 = v128.load(tile + load<u32>(o)), d1 = v128.load(tile + load<u32>(o, 4));
    let twosA = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    d0 = v128.load(tile + load<u32>(o, 8)); d1 = v128.load(tile + load<u32>(o, 12));
    let twosB = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    let foursA = csaHigh(twos, twosA, twosB); twos = csaLow(twos, twosA, twosB);
    d0 = v128.load(tile + load<u32>(o, 16)); d1 = v128.load(tile + load<u32>(o, 20));
    twosA = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    d0 = v128.load(tile + load<u32>(o, 24)); d1 = v128.load(tile + load<u32>(o, 28));
    twosB = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    let foursB = csaHigh(twos, twosA, twosB); twos = csaLow(twos, twosA, twosB);
    const eightsA = csaHigh(fours, foursA, foursB); fours = csaLow(fours, foursA, foursB);
    d0 = v128.load(tile + load<u32>(o, 32)); d1 = v128.load(tile + load<u32>(o, 36));
    twosA = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    d0 = v128.load(tile + load<u32>(o, 40)); d1 = v128.load(tile + load<u32>(o, 44));
    twosB = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    foursA = csaHigh(twos, twosA, twosB); twos = csaLow(twos, twosA, twosB);
    d0 = v128.load(tile + load<u32>(o, 48)); d1 = v128.load(tile + load<u32>(o, 52));
    twosA = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    d0 = v128.load(tile + load<u32>(o, 56)); d1 = v128.load(tile + load<u32>(o, 60));
    twosB = csaHigh(ones, d0, d1); ones = csaLow(ones, d0, d1);
    foursB = csaHigh(twos, twosA, twosB); twos = csaLow(twos, twosA, twosB);
    const eightsB = csaHigh(fours, foursA, foursB); fours = csaLow(fours, foursA, foursB);
    const sixteens = csaHigh(eights, eightsA, eightsB); eights = csaLow(eights, eightsA, eightsB);
    // ripple-carry the group's sixteens into the higher counter planes
    let carry = v128.and(c16, sixteens); c16 = v128.xor(c16, sixteens);
    let next = v128.and(c32, carry); c32 = v128.xor(c32, carry); carry = next;
    next = v128.and(c64, carry); c64 = v128.xor(c64, carry); carry = next;
    next = v128.and(c128, carry); c128 = v128.xor(c128, carry); carry = next;
    next = v128.and(c256, carry); c256 = v128.xor(c256, carry); carry = next;
    c512 = v128.xor(c512, carry); // counts stay below 1024: no carry out
    if (early && ((i + 16) & 63) == 0 && n - i - 16 >= 64) {
      storeCountersSimd(outPtr, ones, twos, fours, eights, c16, c32, c64, c128, c256, c512);
      if (!stillPossible(outPtr, n - i - 16, zeros, bound, maskPtr)) return false;
    }
  }
  for (; i < n; i++) {
    const d = v128.load(tile + load<u32>(listPtr + (<usize>i << 2)));
    let carry = v128.and(ones, d); ones = v128.xor(ones, d);
    let next = v128.and(twos, carry); twos = v128.xor(twos, carry); carry = next;
    next = v128.and(fours, carry); fours = v128.xor(fours, carry); carry = next;
    next = v128.and(eights, carry); eights = v128.xor(eights, carry); carry = next;
    next = v128.and(c16, carry); c16 = v128.xor(c16, carry); carry = next;
    next = v128.and(c32, carry); c32 = v128.xor(c32, carry); carry = next;
    next = v128.and(c64, carry); c64 = v128.xor(c64, carry); carry = next;
    next = v128.and(c128, carry); c128 = v128.xor(c128, carry); carry = next;
    next = v128.and(c256, carry); c256 = v128.xor(c256, carry); carry = next;
    c512 = v128.xor(c512, carry);
  }
  storeCountersSimd(outPtr, ones, twos, fours, eights, c16, c32, c64, c128, c256, c512);
  return true;
}

// @ts-ignore: decorator
@inline function storeCountersSimd(
  outPtr: usize, c1: v128, c2: v128, c4: v128, c8: v128, c16: v128, c32: v128, c64: v128, c128: v128, c256: v128,
  c512: v128,
): void {
  v128.store(outPtr, c1); v128.store(outPtr, c2, 16); v128.store(outPtr, c4, 32);
  v128.store(outPtr, c8, 48); v128.store(outPtr, c16, 64); v128.store(outPtr, c32, 80);
  v128.store(outPtr, c64, 96); v128.store(outPtr, c128, 112); v128.store(outPtr, c256, 128);
  v128.store(outPtr, c512, 144);
}

/** Scalar build: countChunkSimd over 64 lanes (the u64 at offset `sub` of every plane), 8-byte counter planes. */
function countChunkScalar(
  tile: usize, listPtr: usize, n: u32, outPtr: usize, early: bool, zeros: bool, bound: u64, maskPtr: usize,
): bool {
  let ones: u64 = 0, twos: u64 = 0, fours: u64 = 0, eights: u64 = 0;
  let c16: u64 = 0, c32: u64 = 0, c64: u64 = 0, c128: u64 = 0, c256: u64 = 0, c512: u64 = 0;
  let i: u32 = 0;
  for (; n - i >= 16; i += 16) {
    const o = listPtr + (<usize>i << 2);
    let d0 = load<u64>(tile + load<u32>(o)), d1 = load<u64>(tile + load<u32>(o, 4));
    let twosA = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    d0 = load<u64>(tile + load<u32>(o, 8)); d1 = load<u64>(tile + load<u32>(o, 12));
    let twosB = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    let foursA = csaHigh64(twos, twosA, twosB); twos = csaLow64(twos, twosA, twosB);
    d0 = load<u64>(tile + load<u32>(o, 16)); d1 = load<u64>(tile + load<u32>(o, 20));
    twosA = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    d0 = load<u64>(tile + load<u32>(o, 24)); d1 = load<u64>(tile + load<u32>(o, 28));
    twosB = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    let foursB = csaHigh64(twos, twosA, twosB); twos = csaLow64(twos, twosA, twosB);
    const eightsA = csaHigh64(fours, foursA, foursB); fours = csaLow64(fours, foursA, foursB);
    d0 = load<u64>(tile + load<u32>(o, 32)); d1 = load<u64>(tile + load<u32>(o, 36));
    twosA = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    d0 = load<u64>(tile + load<u32>(o, 40)); d1 = load<u64>(tile + load<u32>(o, 44));
    twosB = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    foursA = csaHigh64(twos, twosA, twosB); twos = csaLow64(twos, twosA, twosB);
    d0 = load<u64>(tile + load<u32>(o, 48)); d1 = load<u64>(tile + load<u32>(o, 52));
    twosA = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    d0 = load<u64>(tile + load<u32>(o, 56)); d1 = load<u64>(tile + load<u32>(o, 60));
    twosB = csaHigh64(ones, d0, d1); ones = csaLow64(ones, d0, d1);
    foursB = csaHigh64(twos, twosA, twosB); twos = csaLow64(twos, twosA, twosB);
    const eightsB = csaHigh64(fours, foursA, foursB); fours = csaLow64(fours, foursA, foursB);
    const sixteens = csaHigh64(eights, eightsA, eightsB); eights = csaLow64(eights, eightsA, eightsB);
    let carry = c16 & sixteens; c16 ^= sixteens;
    let next = c32 & carry; c32 ^= carry; carry = next;
    next = c64 & carry; c64 ^= carry; carry = next;
    next = c128 & carry; c128 ^= carry; carry = next;
    next = c256 & carry; c256 ^= carry; carry = next;
    c512 ^= carry;
    if (early && ((i + 16) & 63) == 0 && n - i - 16 >= 64) {
      storeCountersScalar(outPtr, ones, twos, fours, eights, c16, c32, c64, c128, c256, c512);
      if (!stillPossible(outPtr, n - i - 16, zeros, bound, maskPtr)) return false;
    }
  }
  for (; i < n; i++) {
    const d = load<u64>(tile + load<u32>(listPtr + (<usize>i << 2)));
    let carry = ones & d; ones ^= d;
    let next = twos & carry; twos ^= carry; carry = next;
    next = fours & carry; fours ^= carry; carry = next;
    next = eights & carry; eights ^= carry; carry = next;
    next = c16 & carry; c16 ^= carry; carry = next;
    next = c32 & carry; c32 ^= carry; carry = next;
    next = c64 & carry; c64 ^= carry; carry = next;
    next = c128 & carry; c128 ^= carry; carry = next;
    next = c256 & carry; c256 ^= carry; carry = next;
    c512 ^= carry;
  }
  storeCountersScalar(outPtr, ones, twos, fours, eights, c16, c32, c64, c128, c256, c512);
  return true;
}

// @ts-ignore: decorator
@inline function storeCountersScalar(
  outPtr: usize, c1: u64, c2: u64, c4: u64, c8: u64, c16: u64, c32: u64, c64: u64, c128: u64, c256: u64, c512: u64,
): void {
  store<u64>(outPtr, c1); store<u64>(outPtr, c2, 8); store<u64>(outPtr, c4, 16);
  store<u64>(outPtr, c8, 24); store<u64>(outPtr, c16, 32); store<u64>(outPtr, c32, 40);
  store<u64>(outPtr, c64, 48); store<u64>(outPtr, c128, 56); store<u64>(outPtr, c256, 64);
  store<u64>(outPtr, c512, 72);
}

/**
 * Whether some lane of a pass can still meet the tile's bound with `remaining` planes left to count
 * (10 counter planes at countersPtr): counting zeros, a count only grows, so a lane already above the
 * bound is out; counting ones, a lane is out when even `remaining` more ones leave it below the bound.
 */
function stillPossible(countersPtr: usize, remaining: u32, zeros: bool, bound: u64, maskPtr: usize): bool {
  if (zeros) return boundMask(countersPtr, 10, bound, true, maskPtr);
  if (bound <= <u64>remaining) return true;
  return boundMask(countersPtr, 10, bound - remaining, false, maskPtr);
}

/** Lanes per counting pass: 128 (one v128) in the SIMD build, 64 (one u64) in the scalar one. */
// @ts-ignore: decorator
@inline function passLanes(): u32 {
  return ASC_FEATURE_SIMD ? 128 : 64;
}

/**
 * Lane-wise counts of the listed planes for one pass of lanes (bytes `sub`.. of each plane) of a tile:
 * `levels` counter planes of passLanes()/8 bytes at countersPtr (the first chunk's written directly,
 * further chunks added bit-serially; the chunk area follows the counters). With a single chunk, the
 * count stops early, returning false, once no lane of the pass can meet the tile's bound (stillPossible,
 * checked every 64 planes): unrelated filters are ruled out after half to three quarters of the planes.
 */
function countPass(
  tile: usize, listPtr: usize, n: u32, countersPtr: usize, levels: u32, zeros: bool, bound: u64, maskPtr: usize,
): bool {
  const w = <usize>(passLanes() >> 3);
  const chunkPtr = countersPtr + <usize>COUNTER_PLANES * w;
  const early = n <= CHUNK_PLANES;
  for (let start: u32 = 0; start < n || start == 0; start += CHUNK_PLANES) {
    const m = n - start < CHUNK_PLANES ? n - start : CHUNK_PLANES;
    const out = start == 0 ? countersPtr : chunkPtr;
    const list = listPtr + (<usize>start << 2);
    const alive = ASC_FEATURE_SIMD
      ? countChunkSimd(tile, list, m, out, early, zeros, bound, maskPtr)
      : countChunkScalar(tile, list, m, out, early, zeros, bound, maskPtr);
    if (!alive) return false;
    if (start == 0) {
      for (let b: usize = 10; b < <usize>levels; b++) memory.fill(countersPtr + b * w, 0, w);
      continue;
    }
    // counters += chunk (10 planes), ripple-carry through the remaining levels
    if (ASC_FEATURE_SIMD) {
      let carry = v128.splat<i64>(0);
      for (let b: usize = 0; b < <usize>levels; b++) {
        const a = v128.load(countersPtr + b * w);
        const x = b < 10 ? v128.load(chunkPtr + b * w) : v128.splat<i64>(0);
        v128.store(countersPtr + b * w, csaLow(a, x, carry));
        carry = csaHigh(a, x, carry);
      }
    } else {
      let carry: u64 = 0;
      for (let b: usize = 0; b < <usize>levels; b++) {
        const a = load<u64>(countersPtr + b * w);
        const x = b < 10 ? load<u64>(chunkPtr + b * w) : 0;
        store<u64>(countersPtr + b * w, csaLow64(a, x, carry));
        carry = csaHigh64(a, x, carry);
      }
    }
  }
  return true;
}

/** The count of one lane (0 <= lane < passLanes()) from the counter planes. */
function laneCount(countersPtr: usize, levels: u32, lane: u32): u32 {
  const w = <usize>(passLanes() >> 3);
  const word = countersPtr + <usize>((lane >> 6) << 3);
  let c: u32 = 0;
  for (let b: u32 = 0; b < levels; b++) c |= <u32>((load<u64>(word + <usize>b * w) >> (lane & 63)) & 1) << b;
  return c;
}

/**
 * Bit mask (one u64 per 64 lanes, at maskPtr) of the lanes whose count is >= bound (counting ones) or
 * <= bound (counting zeros), compared bit-serially from the top counter plane. Returns whether any lane is set.
 */
function boundMask(countersPtr: usize, levels: u32, bound: u64, zeros: bool, maskPtr: usize): bool {
  // count >= bound, or for zeros count >= bound + 1 negated
  const limit = zeros ? bound + 1 : bound;
  const words = <usize>(passLanes() >> 6);
  let any: u64 = 0;
  for (let h: usize = 0; h < words; h++) {
    let gt: u64 = 0, eq: u64 = ~0;
    if (limit >> <u64>levels) eq = 0; // the limit needs more planes than any count has: no count reaches it
    for (let b = <i32>levels - 1; b >= 0; b--) {
      const c = load<u64>(countersPtr + (<usize>b * (words << 3)) + (h << 3));
      if ((limit >> <u64>b) & 1) eq &= c;
      else {
        gt |= eq & c;
        eq &= ~c;
      }
    }
    const ge = gt | eq;
    const m = zeros ? ~ge : ge;
    store<u64>(maskPtr + (h << 3), m);
    any |= m;
  }
  return any != 0;
}

/** What scanTiled does with a filter that passes: offer it to the query's top-k heap, or write it as a pair. */
const TO_HEAP: u32 = 0;
const TO_PAIRS: u32 = 1;

/**
 * The tiled search of query `qi` (its filter at queryPtr) over filters [baseStart, baseEnd) of a tiled base
 * (tileFilters; tile ranges at rangesPtr). scratchPtr: tiledScratchBytes(bytes) bytes, the query's plane
 * list, then counters, masks and the integer floor (the heap's, kept at floorPtr, for TO_HEAP). Filters that
 * pass go, in ascending index order, to the query's top-k heap or to the pair output; when that
 * output is full the scan stops and stores at cursorPtr the index to resume from. Returns the pairs written.
 */
function scanTiled(
  queryPtr: usize, scratchPtr: usize,
  basePtr: usize, basePopsPtr: usize, rangesPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, qi: u32, mode: u32, floorPtr: usize,
  k: u32, queryCount: u32, heapScoresPtr: usize, heapIndicesPtr: usize, heapCountsPtr: usize,
  outPtr: usize, outCapacity: u32, cursorPtr: usize,
): u32 {
  const t16 = thresholdUnits(threshold);
  const listPtr = scratchPtr;
  const listed = planeList(queryPtr, bytes, listPtr);
  const zeros = (listed & 0x80000000) != 0;
  const n = listed & 0x7fffffff;
  let pa: u32 = 0;
  for (let off: usize = 0; off < <usize>bytes; off += 8) pa += <u32>popcnt<u64>(load<u64>(queryPtr + off));
  const levels = 32 - clz<u32>(n) > 10 ? 32 - clz<u32>(n) : 10;
  const lanes = passLanes();
  const w = <usize>(lanes >> 3);
  const countersPtr = listPtr + ((<usize>(bytes << 5) + 63) & ~63);
  const maskPtr = countersPtr + <usize>COUNTER_PLANES * w * 2;
  const size = <usize>tileBytesFor(bytes);
  const endTile = (baseEnd + TILE_LANES - 1) / TILE_LANES;
  let written: u32 = 0;
  for (let t = baseStart / TILE_LANES; t < endTile; t++) {
    const floor = <u64>load<u32>(floorPtr);
    const pmin = load<u32>(rangesPtr + (<usize>t << 3)), pmax = load<u32>(rangesPtr + (<usize>t << 3), 4);
    if (!groupMayPass(pa, pmin, pmax, floor)) continue;
    let bound: u64;
    if (zeros) {
      const room = <i64>pmax * (131072 - <i64>floor) - <i64>floor * <i64>pa;
      if (room < 0) continue;
      bound = <u64>room / 131072;
    } else {
      bound = (floor * <u64>(pa + pmin) + 131071) / 131072;
    }
    const tile = basePtr + <usize>t * size;
    for (let sub: u32 = 0; sub < TILE_LANES; sub += lanes) {
      const first = t * TILE_LANES + sub;
      if (first >= baseEnd) break;
      if (first + lanes <= baseStart) continue;
      if (!countPass(tile + <usize>(sub >> 3), listPtr, n, countersPtr, levels, zeros, bound, maskPtr)) continue;
      if (!boundMask(countersPtr, levels, bound, zeros, maskPtr)) continue;
      for (let h: u32 = 0; h < lanes; h += 64) {
        let m = load<u64>(maskPtr + <usize>(h >> 3));
        while (m) {
          const lane = h + <u32>ctz(m);
          m &= m - 1;
          const j = first + lane;
          if (j < baseStart) continue;
          if (j >= baseEnd) break;
          const pb = load<u32>(basePopsPtr + (<usize>j << 2));
          const counted = laneCount(countersPtr, levels, lane);
          const c = zeros ? pb - counted : counted;
          if (!mayPass(c, pa + pb, <u64>load<u32>(floorPtr))) continue;
          const score = diceScore(c, pa + pb);
          if (score < threshold) continue;
          if (mode == TO_HEAP) {
            offerTo(heapScoresPtr, heapIndicesPtr, heapCountsPtr, queryCount, qi, k, score, j, t16);
          } else {
            if (written == outCapacity) {
              store<u32>(cursorPtr, j);
              return written;
            }
            emitPair(outPtr, written++, qi, j, score);
          }
        }
      }
    }
  }
  return written;
}

/**
 * 1:N top-k for query `qi` of `queryCount`: offers every filter in [baseStart, baseEnd) of a tiled base
 * with score >= threshold to the query's heap of k. A task with several queries calls it once per query
 * (each call reads about a third of the range's bytes for FEBRL CLKs).
 *
 * Heaps persist across calls (the caller zeroes the counts once), so a range may be scanned in several
 * calls; indices arrive in ascending order, so among equal scores the lowest are kept. heapCountsPtr holds
 * 2 × queryCount u32: the counts, then per-query integer floors the kernel keeps: once a heap is full only
 * candidates scoring at least its root can enter, so the floor rises to the root's units and the tile
 * bound and the integer test reject more (top-k at a low threshold costs about what a high one does).
 */
export function topKTiled(
  queryPtr: usize, scratchPtr: usize,
  basePtr: usize, basePopsPtr: usize, rangesPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, k: u32, queryCount: u32, qi: u32,
  heapScoresPtr: usize, heapIndicesPtr: usize, heapCountsPtr: usize,
): void {
  if (k == 0 || baseEnd <= baseStart) return;
  const t16 = thresholdUnits(threshold);
  const floorPtr = heapCountsPtr + ((<usize>queryCount + qi) << 2);
  if (load<u32>(heapCountsPtr + (<usize>qi << 2)) == k) {
    storeFloor(heapCountsPtr, queryCount, qi, t16, load<f64>(heapScoresPtr + ((<usize>qi * k) << 3)));
  } else store<u32>(floorPtr, <u32>t16);
  scanTiled(queryPtr, scratchPtr, basePtr, basePopsPtr, rangesPtr, baseStart, baseEnd, bytes, threshold, qi,
    TO_HEAP, floorPtr, k, queryCount, heapScoresPtr, heapIndicesPtr, heapCountsPtr, 0, 0, 0);
}

/**
 * N:M for query `qi` over filters [baseStart, baseEnd) of a tiled base: every filter scoring
 * at least `threshold`, as 16-byte entries {u32 qi, u32 index, f64 score} at outPtr, at most outCapacity
 * of them. Returns how many were written; the u32 at cursorPtr is then the index to call again from
 * (after draining the output), or baseEnd once the range is done.
 */
export function pairsTiled(
  queryPtr: usize, scratchPtr: usize,
  basePtr: usize, basePopsPtr: usize, rangesPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, qi: u32, outPtr: usize, outCapacity: u32, cursorPtr: usize,
): u32 {
  store<u32>(cursorPtr, baseEnd);
  if (baseEnd <= baseStart) return 0;
  // the floor of a pair scan never rises: the last word of the scratch holds it
  const floorPtr = scratchPtr + <usize>tiledScratchBytes(bytes) - 8;
  store<u32>(floorPtr, <u32>thresholdUnits(threshold));
  return scanTiled(queryPtr, scratchPtr, basePtr, basePopsPtr, rangesPtr, baseStart, baseEnd, bytes, threshold, qi,
    TO_PAIRS, floorPtr, 0, 0, 0, 0, 0, outPtr, outCapacity, cursorPtr);
}

/** Scratch bytes topKTiled and pairsTiled need for filters of `bytes` bytes: list, counters, mask, two words. */
export function tiledScratchBytes(bytes: u32): u32 {
  return (((bytes << 5) + 63) & ~63) + COUNTER_PLANES * 16 * 2 + 16 + 16;
}

// ---------------------------------------------------------------------------
// Blocked linkage (engine/linkage/): the records of every party live once in
// one region (global record ids, party-major), and comparisons run only within
// "runs" of records that share a block. Hamming LSH (bit sampling on the
// CLKs, blocklib's lambda-fold with input-clks) makes the runs here: a band's
// key is k sampled bits, records are sorted by key, and each key's records that
// span two or more parties form a run. Explicit blocks (p-sig, or blocks a
// party computed with blocklib) are written as runs by the caller.

/**
 * The k bits of the filter at f at the bit positions (u16 each) at posPtr,
 * packed into a u32 (k <= 32). Bit positions count as clkhash and bitarray
 * do: position p is bit 7 - p%8 of byte p/8 (most significant first).
 */
// @ts-ignore: decorator
@inline function sampleKey(f: usize, posPtr: usize, k: u32): u32 {
  let key: u32 = 0;
  for (let i: u32 = 0; i < k; i++) {
    const p = <u32>load<u16>(posPtr + (<usize>i << 1));
    key |= <u32>((load<u8>(f + <usize>(p >> 3)) >> (7 - (p & 7))) & 1) << i;
  }
  return key;
}

/** True when filters a and b agree on every sampled bit of some band before `band` (they collided there). */
function collidedBefore(a: usize, b: usize, posPtr: usize, k: u32, band: u32): bool {
  for (let t: u32 = 0; t < band; t++) {
    const pos = posPtr + ((<usize>t * k) << 1);
    let same = true;
    for (let i: u32 = 0; i < k; i++) {
      const p = <u32>load<u16>(pos + (<usize>i << 1));
      const byte = <usize>(p >> 3);
      if (((load<u8>(a + byte) ^ load<u8>(b + byte)) >> (7 - (p & 7))) & 1) {
        same = false;
        break;
      }
    }
    if (same) return true;
  }
  return false;
}

/** One stable counting-sort pass on the 16-bit digit at `shift` of keys: (srcKeys, srcOrder) -> (dstKeys, dstOrder). */
function radixPass(count: u32, shift: u32, srcKeys: usize, srcOrder: usize, dstKeys: usize, dstOrder: usize, countsPtr: usize, identity: bool): void {
  memory.fill(countsPtr, 0, 65536 << 2);
  for (let i: u32 = 0; i < count; i++) {
    const d = (load<u32>(srcKeys + (<usize>i << 2)) >> shift) & 0xffff;
    const c = countsPtr + (<usize>d << 2);
    store<u32>(c, load<u32>(c) + 1);
  }
  let sum: u32 = 0;
  for (let d: u32 = 0; d < 65536; d++) {
    const c = countsPtr + (<usize>d << 2);
    const n = load<u32>(c);
    store<u32>(c, sum);
    sum += n;
  }
  for (let i: u32 = 0; i < count; i++) {
    const key = load<u32>(srcKeys + (<usize>i << 2));
    const c = countsPtr + (<usize>((key >> shift) & 0xffff) << 2);
    const at = load<u32>(c);
    store<u32>(c, at + 1);
    store<u32>(dstKeys + (<usize>at << 2), key);
    store<u32>(dstOrder + (<usize>at << 2), identity ? i : load<u32>(srcOrder + (<usize>i << 2)));
  }
}

/**
 * One LSH band over records [0, count): keys from the k positions at posPtr,
 * record ids sorted by key (stable: ids ascend within a key, so parties do
 * too) into orderPtr, then the runs, (start, end) u32 pairs of positions in
 * the order, of each key whose records span two or more parties. Runs are
 * written at runsPtr, which may be tmpKeysPtr (free once sorted; at most
 * count/2 runs of 8 bytes fit its count × 4 bytes). keysPtr, tmpKeysPtr,
 * tmpOrderPtr hold count u32 each, countsPtr 65,536 u32. Returns the number
 * of runs.
 */
export function lshRuns(
  filtersPtr: usize, count: u32, bytes: u32, partiesPtr: usize, posPtr: usize, k: u32,
  keysPtr: usize, orderPtr: usize, tmpKeysPtr: usize, tmpOrderPtr: usize, countsPtr: usize, runsPtr: usize,
  comparisonsPtr: usize,
): u32 {
  let comparisons: f64 = 0;
  for (let i: u32 = 0; i < count; i++) store<u32>(keysPtr + (<usize>i << 2), sampleKey(filtersPtr + <usize>i * bytes, posPtr, k));
  if (k <= 16) {
    // one 16-bit digit: a single pass, sorted keys copied back so runs can use tmpKeys
    radixPass(count, 0, keysPtr, 0, tmpKeysPtr, orderPtr, countsPtr, true);
    memory.copy(keysPtr, tmpKeysPtr, <usize>count << 2);
  } else {
    radixPass(count, 0, keysPtr, 0, tmpKeysPtr, tmpOrderPtr, countsPtr, true);
    radixPass(count, 16, tmpKeysPtr, tmpOrderPtr, keysPtr, orderPtr, countsPtr, false);
  }
  let runs: u32 = 0;
  let s: u32 = 0;
  while (s < count) {
    const key = load<u32>(keysPtr + (<usize>s << 2));
    let e = s + 1;
    while (e < count && load<u32>(keysPtr + (<usize>e << 2)) == key) e++;
    if (e - s >= 2) {
      const first = load<u8>(partiesPtr + <usize>load<u32>(orderPtr + (<usize>s << 2)));
      const last = load<u8>(partiesPtr + <usize>load<u32>(orderPtr + (<usize>(e - 1) << 2)));
      if (first != last) {
        store<u32>(runsPtr + (<usize>runs << 3), s);
        store<u32>(runsPtr + (<usize>runs << 3), e, 4);
        runs++;
        comparisons += crossPartyPairs(partiesPtr, orderPtr, s, e);
      }
    }
    s = e;
  }
  store<f64>(comparisonsPtr, comparisons);
  return runs;
}

/** Pairs of records of different parties in positions [s, e) of the order (parties ascend): (n² − Σ segment²) / 2. */
export function crossPartyPairs(partiesPtr: usize, orderPtr: usize, s: u32, e: u32): f64 {
  let same: f64 = 0;
  let seg: u32 = 1;
  let prev = load<u8>(partiesPtr + <usize>load<u32>(orderPtr + (<usize>s << 2)));
  for (let i = s + 1; i < e; i++) {
    const p = load<u8>(partiesPtr + <usize>load<u32>(orderPtr + (<usize>i << 2)));
    if (p == prev) seg++;
    else {
      same += <f64>seg * <f64>seg;
      seg = 1;
      prev = p;
    }
  }
  same += <f64>seg * <f64>seg;
  const n = <f64>(e - s);
  return (n * n - same) / 2;
}

/**
 * Every pair of records of different parties within each run, with score >=
 * threshold, except (when band > 0) pairs that agree on all sampled bits of
 * an earlier band: those were found there, so each pair is reported by
 * exactly one band and bands can run anywhere, in any order.
 *
 * Runs are (start, end) u32 pairs of positions in the order array (global
 * record ids; parties ascend within a run). Output entries are 16 bytes
 * {u32 id, u32 id, f64 score} with the lower id first. Resumable: the cursor
 * (4 × u32: run, i, j, done) starts at zero; when the output area is full the
 * call returns the entries written, and the next call with the same arguments
 * goes on from the pair it stopped at.
 */
export function runPairsAtThreshold(
  filtersPtr: usize, popsPtr: usize, partiesPtr: usize, bytes: u32,
  orderPtr: usize, runsPtr: usize, runCount: u32, threshold: f64,
  posPtr: usize, k: u32, band: u32,
  outPtr: usize, outCapacity: u32, cursorPtr: usize,
): u32 {
  const t16 = thresholdUnits(threshold);
  let r = load<u32>(cursorPtr);
  let i = load<u32>(cursorPtr, 4);
  let j = load<u32>(cursorPtr, 8);
  let n: u32 = 0;
  if (load<u32>(cursorPtr, 12) != 0) return 0;
  for (; r < runCount; r++) {
    const s = load<u32>(runsPtr + (<usize>r << 3));
    const e = load<u32>(runsPtr + (<usize>r << 3), 4);
    if (i < s) i = s;
    for (; i < e; i++) {
      const gi = load<u32>(orderPtr + (<usize>i << 2));
      const pi = load<u8>(partiesPtr + <usize>gi);
      const pa = load<u32>(popsPtr + (<usize>gi << 2));
      const q = filtersPtr + <usize>gi * bytes;
      if (j <= i) j = i + 1;
      for (; j < e; j++) {
        const gj = load<u32>(orderPtr + (<usize>j << 2));
        if (load<u8>(partiesPtr + <usize>gj) == pi) continue;
        const pb = load<u32>(popsPtr + (<usize>gj << 2));
        if (!groupMayPass(pa, pb, pb, t16)) continue;
        const b = filtersPtr + <usize>gj * bytes;
        const c = countAnd1(q, b, bytes);
        const sum = pa + pb;
        if (!mayPass(c, sum, t16)) continue;
        const score = diceScore(c, sum);
        if (score < threshold) continue;
        if (band > 0 && collidedBefore(q, b, posPtr, k, band)) continue;
        if (n == outCapacity) {
          store<u32>(cursorPtr, r);
          store<u32>(cursorPtr, i, 4);
          store<u32>(cursorPtr, j, 8);
          return n;
        }
        if (gi < gj) emitPair(outPtr, n++, gi, gj, score);
        else emitPair(outPtr, n++, gj, gi, score);
      }
      j = 0;
    }
    i = 0;
  }
  store<u32>(cursorPtr, r);
  store<u32>(cursorPtr, 1, 12);
  return n;
}
