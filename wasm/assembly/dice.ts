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
//   indices reported by the kernels are these absolute j.
//
// No static data (no memory.data, no strings, no managed objects): every
// instance on the shared memory would otherwise see, and on re-instantiation
// rewrite, the same data segment (DESIGN.md, "Kernels with static data").
//
// Score and threshold (anonlink's definition, clkhash ALGORITHM.md §7):
//   score = 2c / (pa + pb) as float64, 0 when pa + pb = 0; a pair is reported
//   when score >= threshold (float64 comparison).
// The hot loop first applies the integer test from DESIGN.md,
//   2·c·65536 >= t16·(pa + pb),
// with t16 = max(0, floor(threshold·65536) − 1). Rounding down and then one
// more unit below makes the integer test a strict superset of the float test:
// float(2c/s) >= t implies 2c/s >= t·(1 − 2^-53) > t16/65536, because
// t·65536 − t16 >= 1. Pairs passing it are then decided by the exact float64
// computation above, so reported pairs and scores equal anonlink's bit for bit.
// The superset costs one division only for the rare pairs within ~2/65536 of t.
//
// Popcount early exit (anonlink skips when |pa − pb| > 2·pa·(1/t − 1)): with
// c <= min(pa, pb) the integer test can only pass when
//   2·min(pa,pb)·65536 >= t16·(pa+pb),
// i.e. lo <= pb <= hi with hi = floor(pa·(131072 − t16)/t16) and
// lo = ceil(t16·pa/(131072 − t16)). The upper side is anonlink's bound; the
// lower side is the same bound taken from pb's point of view, so no pair that
// could pass is ever skipped. A group of 4 base filters is skipped when all
// four popcounts fall outside [lo, hi].
//
// Blocking (DESIGN.md measurements: 16 queries batched against cache-sized
// base blocks reached ~98 M cmp/s per core): the base range is walked in blocks
// of ~128 KiB; for each block every group of up to 16 queries is compared
// against it 4 base filters at a time, so the 4 base filters and the 16
// queries stay in L1 and the block stays in L2. Binaryen does not unroll loops,
// so the 4-filter body is written out by hand.

/** Queries compared together against one base block. */
const QUERY_GROUP: u32 = 16;
/** Target bytes of base filters per block (fits L2 beside the query group). */
const BLOCK_BYTES: u32 = 131072;

/** Base filters per block for a filter of `bytes` bytes (multiple of 4). */
// @ts-ignore: decorator
@inline function blockFilters(bytes: u32): u32 {
  let n = BLOCK_BYTES / bytes;
  if (n > 2048) n = 2048;
  if (n < 64) n = 64;
  return n & ~3;
}

/** Integer threshold in 1/65536 units, rounded so the integer test is a superset of the float test. */
// @ts-ignore: decorator
@inline function thresholdUnits(threshold: f64): u64 {
  if (!(threshold > 0)) return 0;
  const units = <i64>Math.floor(threshold * 65536.0) - 1;
  return units > 0 ? <u64>units : 0;
}

// The bounds are computed per query per group of 4 base filters, so they use
// one float multiply each instead of a 64-bit division; the ±1 slack absorbs
// float rounding (pa <= 2^20, relative error 2^-52), which can only make the
// skip less eager, never skip a pair that could pass.

/** pb <= pa·hiRatio can pass; hiRatio = (131072 − t16)/t16 (infinite when t16 = 0). */
// @ts-ignore: decorator
@inline function popHigh(pa: u32, hiRatio: f64): u32 {
  // pa = 0 with t16 = 0 gives 0·∞ = NaN: no bound, like any other t16 = 0 case
  const h = Math.floor(<f64>pa * hiRatio) + 1;
  return h < 4294967295.0 ? <u32>h : 0xffffffff;
}

/** pb >= pa·loRatio can pass; loRatio = t16/(131072 − t16). */
// @ts-ignore: decorator
@inline function popLow(pa: u32, loRatio: f64): u32 {
  const l = Math.ceil(<f64>pa * loRatio) - 1;
  return l <= 0 ? 0 : <u32>l;
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
// popcount(q & b) for one query against 1 or 4 consecutive base filters.

/** popcount(q & b) for one pair; used for the <4 filters left at a block's end. */
function countAnd1(q: usize, b: usize, bytes: u32): u32 {
  let c: u64 = 0;
  for (let off: usize = 0; off < <usize>bytes; off += 8) {
    c += popcnt<u64>(load<u64>(q + off) & load<u64>(b + off));
  }
  return <u32>c;
}

// Scalar build: 4 accumulators share each query word load; i64.popcnt is one
// native POPCNT instruction in V8 on x86-64.
let scalarC0: u32 = 0;
let scalarC1: u32 = 0;
let scalarC2: u32 = 0;
let scalarC3: u32 = 0;

// @ts-ignore: decorator
@inline function countAnd4Scalar(q: usize, b0: usize, bytes: u32): void {
  const b1 = b0 + bytes;
  const b2 = b1 + bytes;
  const b3 = b2 + bytes;
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  let off: usize = 0;
  const end = <usize>bytes;
  // two words per iteration: halves loop overhead (Binaryen will not unroll)
  for (; off + 16 <= end; off += 16) {
    const w0 = load<u64>(q + off);
    const w1 = load<u64>(q + off, 8);
    c0 += popcnt<u64>(w0 & load<u64>(b0 + off)) + popcnt<u64>(w1 & load<u64>(b0 + off, 8));
    c1 += popcnt<u64>(w0 & load<u64>(b1 + off)) + popcnt<u64>(w1 & load<u64>(b1 + off, 8));
    c2 += popcnt<u64>(w0 & load<u64>(b2 + off)) + popcnt<u64>(w1 & load<u64>(b2 + off, 8));
    c3 += popcnt<u64>(w0 & load<u64>(b3 + off)) + popcnt<u64>(w1 & load<u64>(b3 + off, 8));
  }
  if (off < end) {
    const w = load<u64>(q + off);
    c0 += popcnt<u64>(w & load<u64>(b0 + off));
    c1 += popcnt<u64>(w & load<u64>(b1 + off));
    c2 += popcnt<u64>(w & load<u64>(b2 + off));
    c3 += popcnt<u64>(w & load<u64>(b3 + off));
  }
  scalarC0 = <u32>c0;
  scalarC1 = <u32>c1;
  scalarC2 = <u32>c2;
  scalarC3 = <u32>c3;
}

// SIMD build: V8 lowers i8x16.popcnt to a nibble lookup, so the gain comes from
// comparing 4 filters per iteration with byte-wise accumulators and one shared
// reduction for the 4 of them (DESIGN.md). Byte lanes hold at most 8 per
// vector, so a chunk of at most 31 vectors (248) cannot overflow a u8 lane.

/** Horizontal sums of four u8x16 accumulators as one u32x4 [a, b, c, d]. */
// @ts-ignore: decorator
@inline function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ha = i16x8.extadd_pairwise_i8x16_u(a);
  const hb = i16x8.extadd_pairwise_i8x16_u(b);
  const hc = i16x8.extadd_pairwise_i8x16_u(c);
  const hd = i16x8.extadd_pairwise_i8x16_u(d);
  const ab = i16x8.add(
    i16x8.shuffle(ha, hb, 0, 2, 4, 6, 8, 10, 12, 14),
    i16x8.shuffle(ha, hb, 1, 3, 5, 7, 9, 11, 13, 15),
  );
  const cd = i16x8.add(
    i16x8.shuffle(hc, hd, 0, 2, 4, 6, 8, 10, 12, 14),
    i16x8.shuffle(hc, hd, 1, 3, 5, 7, 9, 11, 13, 15),
  );
  const abcd = i16x8.add(
    i16x8.shuffle(ab, cd, 0, 2, 4, 6, 8, 10, 12, 14),
    i16x8.shuffle(ab, cd, 1, 3, 5, 7, 9, 11, 13, 15),
  );
  return i32x4.extadd_pairwise_i16x8_u(abcd);
}

// @ts-ignore: decorator
@inline function countAnd4Simd(q: usize, b0: usize, bytes: u32): v128 {
  const b1 = b0 + bytes;
  const b2 = b1 + bytes;
  const b3 = b2 + bytes;
  let total = i32x4.splat(0);
  const vecBytes = <usize>(bytes & ~15);
  let off: usize = 0;
  while (off < vecBytes) {
    let chunkEnd = off + 31 * 16;
    if (chunkEnd > vecBytes) chunkEnd = vecBytes;
    let a0 = i8x16.splat(0), a1 = i8x16.splat(0), a2 = i8x16.splat(0), a3 = i8x16.splat(0);
    for (; off < chunkEnd; off += 16) {
      const qv = v128.load(q + off);
      a0 = i8x16.add(a0, i8x16.popcnt(v128.and(qv, v128.load(b0 + off))));
      a1 = i8x16.add(a1, i8x16.popcnt(v128.and(qv, v128.load(b1 + off))));
      a2 = i8x16.add(a2, i8x16.popcnt(v128.and(qv, v128.load(b2 + off))));
      a3 = i8x16.add(a3, i8x16.popcnt(v128.and(qv, v128.load(b3 + off))));
    }
    total = i32x4.add(total, reduce4(a0, a1, a2, a3));
  }
  if (off < <usize>bytes) {
    // one trailing 64-bit word (filters of 64, 192, ... bits)
    const w = load<u64>(q + off);
    total = i32x4.replace_lane(total, 0, i32x4.extract_lane(total, 0) + <i32>popcnt<u64>(w & load<u64>(b0 + off)));
    total = i32x4.replace_lane(total, 1, i32x4.extract_lane(total, 1) + <i32>popcnt<u64>(w & load<u64>(b1 + off)));
    total = i32x4.replace_lane(total, 2, i32x4.extract_lane(total, 2) + <i32>popcnt<u64>(w & load<u64>(b2 + off)));
    total = i32x4.replace_lane(total, 3, i32x4.extract_lane(total, 3) + <i32>popcnt<u64>(w & load<u64>(b3 + off)));
  }
  return total;
}

/** Fills scalarC0..3 with popcount(q & b) for 4 consecutive base filters. */
// @ts-ignore: decorator
@inline function countAnd4(q: usize, b0: usize, bytes: u32): void {
  if (ASC_FEATURE_SIMD) {
    const v = countAnd4Simd(q, b0, bytes);
    scalarC0 = <u32>i32x4.extract_lane(v, 0);
    scalarC1 = <u32>i32x4.extract_lane(v, 1);
    scalarC2 = <u32>i32x4.extract_lane(v, 2);
    scalarC3 = <u32>i32x4.extract_lane(v, 3);
  } else {
    countAnd4Scalar(q, b0, bytes);
  }
}

// ---------------------------------------------------------------------------
// Exports.

/** Number of 16-byte result entries `pairsAtThreshold` needs free before each step. */
export function pairsStepEntries(bytes: u32): u32 {
  return QUERY_GROUP * blockFilters(bytes);
}

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
// at heapIndicesPtr, k slots per query; counts u32 per query at heapCountsPtr.

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
 * 1:N / small-batch top-k: for each of `queryCount` queries (contiguous at
 * queriesPtr, popcounts at queryPopsPtr), offers every base filter in
 * [baseStart, baseEnd) with score >= threshold to that query's heap of k.
 * Heaps persist across calls (the caller zeroes the counts once), so a range
 * may be scanned in several calls. Each query sees base indices in ascending
 * order, so among equal scores the lowest indices are kept.
 */
export function topKAtThreshold(
  queriesPtr: usize, queryPopsPtr: usize, queryCount: u32,
  basePtr: usize, basePopsPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, k: u32,
  heapScoresPtr: usize, heapIndicesPtr: usize, heapCountsPtr: usize,
): void {
  if (k == 0 || queryCount == 0 || baseEnd <= baseStart) return;
  const t16 = thresholdUnits(threshold);
  const hiRatio = t16 == 0 ? Infinity : <f64>(<u64>131072 - t16) / <f64>t16;
  const loRatio = <f64>t16 / <f64>(<u64>131072 - t16);
  const block = blockFilters(bytes);
  for (let blockStart = baseStart; blockStart < baseEnd; blockStart += block) {
    const blockEnd = baseEnd - blockStart > block ? blockStart + block : baseEnd;
    for (let g: u32 = 0; g < queryCount; g += QUERY_GROUP) {
      const gEnd = queryCount - g > QUERY_GROUP ? g + QUERY_GROUP : queryCount;
      let j = blockStart;
      for (; blockEnd - j >= 4; j += 4) {
        const b0 = basePtr + <usize>j * bytes;
        const pops = basePopsPtr + (<usize>j << 2);
        const p0 = load<u32>(pops), p1 = load<u32>(pops, 4), p2 = load<u32>(pops, 8), p3 = load<u32>(pops, 12);
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          const lo = popLow(pa, loRatio), hi = popHigh(pa, hiRatio);
          if ((p0 < lo || p0 > hi) && (p1 < lo || p1 > hi) && (p2 < lo || p2 > hi) && (p3 < lo || p3 > hi)) continue;
          countAnd4(queriesPtr + <usize>qi * bytes, b0, bytes);
          const hs = heapScoresPtr + ((<usize>qi * k) << 3);
          const hx = heapIndicesPtr + ((<usize>qi * k) << 2);
          const hc = heapCountsPtr + (<usize>qi << 2);
          let s: u32, c: u32, score: f64;
          c = scalarC0; s = pa + p0;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) heapOffer(hs, hx, hc, k, score, j); }
          c = scalarC1; s = pa + p1;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) heapOffer(hs, hx, hc, k, score, j + 1); }
          c = scalarC2; s = pa + p2;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) heapOffer(hs, hx, hc, k, score, j + 2); }
          c = scalarC3; s = pa + p3;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) heapOffer(hs, hx, hc, k, score, j + 3); }
        }
      }
      for (; j < blockEnd; j++) {
        const b = basePtr + <usize>j * bytes;
        const pb = load<u32>(basePopsPtr + (<usize>j << 2));
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          if (pb < popLow(pa, loRatio) || pb > popHigh(pa, hiRatio)) continue;
          const c = countAnd1(queriesPtr + <usize>qi * bytes, b, bytes);
          const s = pa + pb;
          if (!mayPass(c, s, t16)) continue;
          const score = diceScore(c, s);
          if (score >= threshold) {
            heapOffer(
              heapScoresPtr + ((<usize>qi * k) << 3), heapIndicesPtr + ((<usize>qi * k) << 2),
              heapCountsPtr + (<usize>qi << 2), k, score, j,
            );
          }
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function emitPair(outPtr: usize, n: u32, query: u32, index: u32, score: f64): void {
  const e = outPtr + (<usize>n << 4);
  store<u32>(e, query);
  store<u32>(e, index, 4);
  store<f64>(e, score, 8);
}

/**
 * N:M: every (query, base) pair with score >= threshold, for `queryCount`
 * queries against base filters [baseStart, baseEnd).
 *
 * Output entries are 16 bytes {u32 query (0-based within this call's
 * queries), u32 base index, f64 score} at outPtr, at most outCapacity of them.
 * The cursor (3 × u32 at cursorPtr: next block start, next query group,
 * done flag) makes the scan resumable: the caller sets it to
 * (baseStart, 0, 0), calls, drains the returned number of entries, and calls
 * again with the same arguments until the done flag is 1. A step (one query
 * group against one base block) is started only when `pairsStepEntries(bytes)`
 * entries are free, so a step never overflows; outCapacity must be at least
 * that many or no progress is possible (the call then returns 0, not done).
 * Output order within a call is unspecified; callers sort.
 */
export function pairsAtThreshold(
  queriesPtr: usize, queryPopsPtr: usize, queryCount: u32,
  basePtr: usize, basePopsPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, outPtr: usize, outCapacity: u32, cursorPtr: usize,
): u32 {
  const t16 = thresholdUnits(threshold);
  const hiRatio = t16 == 0 ? Infinity : <f64>(<u64>131072 - t16) / <f64>t16;
  const loRatio = <f64>t16 / <f64>(<u64>131072 - t16);
  const block = blockFilters(bytes);
  const stepEntries = QUERY_GROUP * block;
  let n: u32 = 0;
  let blockStart = load<u32>(cursorPtr);
  let g = load<u32>(cursorPtr, 4);
  if (load<u32>(cursorPtr, 8) != 0 || queryCount == 0) {
    store<u32>(cursorPtr, 1, 8);
    return 0;
  }
  while (blockStart < baseEnd) {
    const blockEnd = baseEnd - blockStart > block ? blockStart + block : baseEnd;
    while (g < queryCount) {
      if (outCapacity - n < stepEntries) {
        store<u32>(cursorPtr, blockStart);
        store<u32>(cursorPtr, g, 4);
        return n;
      }
      const gEnd = queryCount - g > QUERY_GROUP ? g + QUERY_GROUP : queryCount;
      let j = blockStart;
      for (; blockEnd - j >= 4; j += 4) {
        const b0 = basePtr + <usize>j * bytes;
        const pops = basePopsPtr + (<usize>j << 2);
        const p0 = load<u32>(pops), p1 = load<u32>(pops, 4), p2 = load<u32>(pops, 8), p3 = load<u32>(pops, 12);
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          const lo = popLow(pa, loRatio), hi = popHigh(pa, hiRatio);
          if ((p0 < lo || p0 > hi) && (p1 < lo || p1 > hi) && (p2 < lo || p2 > hi) && (p3 < lo || p3 > hi)) continue;
          countAnd4(queriesPtr + <usize>qi * bytes, b0, bytes);
          let s: u32, c: u32, score: f64;
          c = scalarC0; s = pa + p0;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) emitPair(outPtr, n++, qi, j, score); }
          c = scalarC1; s = pa + p1;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) emitPair(outPtr, n++, qi, j + 1, score); }
          c = scalarC2; s = pa + p2;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) emitPair(outPtr, n++, qi, j + 2, score); }
          c = scalarC3; s = pa + p3;
          if (mayPass(c, s, t16)) { score = diceScore(c, s); if (score >= threshold) emitPair(outPtr, n++, qi, j + 3, score); }
        }
      }
      for (; j < blockEnd; j++) {
        const b = basePtr + <usize>j * bytes;
        const pb = load<u32>(basePopsPtr + (<usize>j << 2));
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          if (pb < popLow(pa, loRatio) || pb > popHigh(pa, hiRatio)) continue;
          const c = countAnd1(queriesPtr + <usize>qi * bytes, b, bytes);
          const s = pa + pb;
          if (!mayPass(c, s, t16)) continue;
          const score = diceScore(c, s);
          if (score >= threshold) emitPair(outPtr, n++, qi, j, score);
        }
      }
      g = gEnd;
    }
    g = 0;
    blockStart = blockEnd;
  }
  store<u32>(cursorPtr, blockStart);
  store<u32>(cursorPtr, 0, 4);
  store<u32>(cursorPtr, 1, 8);
  return n;
}
