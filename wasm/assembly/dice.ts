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
// it, so for a group of 4 base filters with popcounts in [pmin, pmax] the
// best case is pb* = clamp(pa, pmin, pmax): one integer test per query and
// group decides whether the 4 filters can be skipped (no division, no float).

// Blocking (docs/decisions.md, "Kernels": 16 queries batched against cache-sized
// base blocks reached ~98 M cmp/s per core): the base range is walked in blocks
// of ~128 KiB; for each block every group of up to 16 queries is compared
// against it 4 base filters at a time, so the 4 base filters and the 16
// queries stay in L1 and the block stays in L2. Binaryen does not unroll loops,
// so the 4-filter body is written out by hand.

/** SIMD build counting strategies (see countAnd4SimdBytewise / countAnd4SimdLanes). */
const POPCOUNT_BYTEWISE: u32 = 0;
const POPCOUNT_LANES: u32 = 1;
/** A wasm global: per instance, not in the shared memory. */
let popcountStrategy: u32 = POPCOUNT_BYTEWISE;

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

/** False when no base popcount in [pmin, pmax] can pass with query popcount pa (see header). */
// @ts-ignore: decorator
@inline function groupMayPass(pa: u32, pmin: u32, pmax: u32, t16: u64): bool {
  const pb = pa < pmin ? pmin : pa > pmax ? pmax : pa;
  const low = pa < pb ? pa : pb;
  return <u64>low * 131072 >= t16 * <u64>(pa + pb);
}

// @ts-ignore: decorator
@inline function min4(a: u32, b: u32, c: u32, d: u32): u32 {
  const x = a < b ? a : b;
  const y = c < d ? c : d;
  return x < y ? x : y;
}

// @ts-ignore: decorator
@inline function max4(a: u32, b: u32, c: u32, d: u32): u32 {
  const x = a > b ? a : b;
  const y = c > d ? c : d;
  return x > y ? x : y;
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

// Both builds answer "which of these 4 pairs pass the integer test?" as a
// 4-bit mask. Nearly every group answers 0 (random pairs score ~0.5), so the
// counts never leave registers; the rare passing pair is recounted with
// countAnd1 to compute its score.

// Scalar build: 4 accumulators share each query word load; i64.popcnt is one
// native POPCNT instruction in V8 on x86-64.
// @ts-ignore: decorator
@inline function passMask4Scalar(q: usize, b0: usize, bytes: u32, pa: u32, pops: usize, t16: u64): u32 {
  const b1 = b0 + bytes;
  const b2 = b1 + bytes;
  const b3 = b2 + bytes;
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  let off: usize = 0;
  const end = <usize>bytes;
  // four words per iteration with constant offsets (immediates in the load
  // instructions); four query words stay in registers for the 4 filters
  for (; off + 32 <= end; off += 32) {
    const p = q + off, p0 = b0 + off, p1 = b1 + off, p2 = b2 + off, p3 = b3 + off;
    const w0 = load<u64>(p), w1 = load<u64>(p, 8), w2 = load<u64>(p, 16), w3 = load<u64>(p, 24);
    c0 += popcnt<u64>(w0 & load<u64>(p0)) + popcnt<u64>(w1 & load<u64>(p0, 8)) + popcnt<u64>(w2 & load<u64>(p0, 16)) + popcnt<u64>(w3 & load<u64>(p0, 24));
    c1 += popcnt<u64>(w0 & load<u64>(p1)) + popcnt<u64>(w1 & load<u64>(p1, 8)) + popcnt<u64>(w2 & load<u64>(p1, 16)) + popcnt<u64>(w3 & load<u64>(p1, 24));
    c2 += popcnt<u64>(w0 & load<u64>(p2)) + popcnt<u64>(w1 & load<u64>(p2, 8)) + popcnt<u64>(w2 & load<u64>(p2, 16)) + popcnt<u64>(w3 & load<u64>(p2, 24));
    c3 += popcnt<u64>(w0 & load<u64>(p3)) + popcnt<u64>(w1 & load<u64>(p3, 8)) + popcnt<u64>(w2 & load<u64>(p3, 16)) + popcnt<u64>(w3 & load<u64>(p3, 24));
  }
  for (; off < end; off += 8) {
    const w = load<u64>(q + off);
    c0 += popcnt<u64>(w & load<u64>(b0 + off));
    c1 += popcnt<u64>(w & load<u64>(b1 + off));
    c2 += popcnt<u64>(w & load<u64>(b2 + off));
    c3 += popcnt<u64>(w & load<u64>(b3 + off));
  }
  return <u32>mayPass(<u32>c0, pa + load<u32>(pops), t16)
    | (<u32>mayPass(<u32>c1, pa + load<u32>(pops, 4), t16) << 1)
    | (<u32>mayPass(<u32>c2, pa + load<u32>(pops, 8), t16) << 2)
    | (<u32>mayPass(<u32>c3, pa + load<u32>(pops, 12), t16) << 3);
}

// SIMD build, two ways to count, chosen per instance by the loader
// (setPopcountStrategy) because the best one depends on how V8 lowers them on
// the host CPU:
// - bytewise: i8x16.popcnt with byte-wise accumulators and one shared
//   reduction for the 4 filters (docs/decisions.md, "Kernels"). On arm64 i8x16.popcnt is
//   one NEON `cnt`; on x86-64 V8 lowers it to a nibble lookup (pshufb) of
//   about six instructions.
// - lanes: v128 loads and ANDs, then i64.popcnt on the two 64-bit lanes, which
//   V8 emits as the native POPCNT instruction on x86-64. Measured on the
//   development machine (AMD EPYC, Node 20, 16 queries × 65,536 filters):
//   ~192 M cmp/s against ~158 M cmp/s bytewise and ~180 M cmp/s for the
//   scalar build.
// Byte lanes of the bytewise accumulators hold at most 8 per vector, so a
// chunk of at most 28 vectors (224) cannot overflow a u8 lane.

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
@inline function countAnd4SimdBytewise(q: usize, b0: usize, bytes: u32): v128 {
  const b1 = b0 + bytes;
  const b2 = b1 + bytes;
  const b3 = b2 + bytes;
  let total = i32x4.splat(0);
  const vecBytes = <usize>(bytes & ~15);
  let off: usize = 0;
  while (off < vecBytes) {
    // 28 vectors: a multiple of the 4-vector step, and 28 × 8 = 224 < 256
    let chunkEnd = off + 28 * 16;
    if (chunkEnd > vecBytes) chunkEnd = vecBytes;
    let a0 = i8x16.splat(0), a1 = i8x16.splat(0), a2 = i8x16.splat(0), a3 = i8x16.splat(0);
    // four vectors (64 bytes) per iteration with constant offsets
    for (; off + 64 <= chunkEnd; off += 64) {
      const p = q + off, p0 = b0 + off, p1 = b1 + off, p2 = b2 + off, p3 = b3 + off;
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      a0 = i8x16.add(a0, i8x16.add(
        i8x16.add(i8x16.popcnt(v128.and(v0, v128.load(p0))), i8x16.popcnt(v128.and(v1, v128.load(p0, 16)))),
        i8x16.add(i8x16.popcnt(v128.and(v2, v128.load(p0, 32))), i8x16.popcnt(v128.and(v3, v128.load(p0, 48))))));
      a1 = i8x16.add(a1, i8x16.add(
        i8x16.add(i8x16.popcnt(v128.and(v0, v128.load(p1))), i8x16.popcnt(v128.and(v1, v128.load(p1, 16)))),
        i8x16.add(i8x16.popcnt(v128.and(v2, v128.load(p1, 32))), i8x16.popcnt(v128.and(v3, v128.load(p1, 48))))));
      a2 = i8x16.add(a2, i8x16.add(
        i8x16.add(i8x16.popcnt(v128.and(v0, v128.load(p2))), i8x16.popcnt(v128.and(v1, v128.load(p2, 16)))),
        i8x16.add(i8x16.popcnt(v128.and(v2, v128.load(p2, 32))), i8x16.popcnt(v128.and(v3, v128.load(p2, 48))))));
      a3 = i8x16.add(a3, i8x16.add(
        i8x16.add(i8x16.popcnt(v128.and(v0, v128.load(p3))), i8x16.popcnt(v128.and(v1, v128.load(p3, 16)))),
        i8x16.add(i8x16.popcnt(v128.and(v2, v128.load(p3, 32))), i8x16.popcnt(v128.and(v3, v128.load(p3, 48))))));
    }
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

// @ts-ignore: decorator
@inline function countAnd4SimdLanes(q: usize, b0: usize, bytes: u32): v128 {
  const b1 = b0 + bytes;
  const b2 = b1 + bytes;
  const b3 = b2 + bytes;
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  const vecBytes = <usize>(bytes & ~31);
  let off: usize = 0;
  // two vectors (32 bytes) per iteration with constant offsets
  for (; off < vecBytes; off += 32) {
    const p = q + off, p0 = b0 + off, p1 = b1 + off, p2 = b2 + off, p3 = b3 + off;
    const qa = v128.load(p), qb = v128.load(p, 16);
    const x0 = v128.and(qa, v128.load(p0)), y0 = v128.and(qb, v128.load(p0, 16));
    const x1 = v128.and(qa, v128.load(p1)), y1 = v128.and(qb, v128.load(p1, 16));
    const x2 = v128.and(qa, v128.load(p2)), y2 = v128.and(qb, v128.load(p2, 16));
    const x3 = v128.and(qa, v128.load(p3)), y3 = v128.and(qb, v128.load(p3, 16));
    c0 += popcnt<u64>(i64x2.extract_lane(x0, 0)) + popcnt<u64>(i64x2.extract_lane(x0, 1)) + popcnt<u64>(i64x2.extract_lane(y0, 0)) + popcnt<u64>(i64x2.extract_lane(y0, 1));
    c1 += popcnt<u64>(i64x2.extract_lane(x1, 0)) + popcnt<u64>(i64x2.extract_lane(x1, 1)) + popcnt<u64>(i64x2.extract_lane(y1, 0)) + popcnt<u64>(i64x2.extract_lane(y1, 1));
    c2 += popcnt<u64>(i64x2.extract_lane(x2, 0)) + popcnt<u64>(i64x2.extract_lane(x2, 1)) + popcnt<u64>(i64x2.extract_lane(y2, 0)) + popcnt<u64>(i64x2.extract_lane(y2, 1));
    c3 += popcnt<u64>(i64x2.extract_lane(x3, 0)) + popcnt<u64>(i64x2.extract_lane(x3, 1)) + popcnt<u64>(i64x2.extract_lane(y3, 0)) + popcnt<u64>(i64x2.extract_lane(y3, 1));
  }
  for (; off < <usize>bytes; off += 8) {
    const w = load<u64>(q + off);
    c0 += popcnt<u64>(w & load<u64>(b0 + off));
    c1 += popcnt<u64>(w & load<u64>(b1 + off));
    c2 += popcnt<u64>(w & load<u64>(b2 + off));
    c3 += popcnt<u64>(w & load<u64>(b3 + off));
  }
  let v = i32x4.splat(<i32>c0);
  v = i32x4.replace_lane(v, 1, <i32>c1);
  v = i32x4.replace_lane(v, 2, <i32>c2);
  return i32x4.replace_lane(v, 3, <i32>c3);
}

/** popcount(q & b) for 4 consecutive base filters in i32x4 lanes, by the strategy the loader chose. */
// @ts-ignore: decorator
@inline function passMask4Simd(q: usize, b0: usize, bytes: u32, pa: u32, pops: usize, t16: u64): u32 {
  // a global read and a perfectly predicted branch per 4 pairs (~60 cycles of counting)
  const counts = popcountStrategy == POPCOUNT_LANES ? countAnd4SimdLanes(q, b0, bytes) : countAnd4SimdBytewise(q, b0, bytes);
  // lanes extracted and tested as integers: measured faster here than an
  // f64x2 version of the same test
  return <u32>mayPass(<u32>i32x4.extract_lane(counts, 0), pa + load<u32>(pops), t16)
    | (<u32>mayPass(<u32>i32x4.extract_lane(counts, 1), pa + load<u32>(pops, 4), t16) << 1)
    | (<u32>mayPass(<u32>i32x4.extract_lane(counts, 2), pa + load<u32>(pops, 8), t16) << 2)
    | (<u32>mayPass(<u32>i32x4.extract_lane(counts, 3), pa + load<u32>(pops, 12), t16) << 3);
}

/** Bit i set when pair (q, base filter at b0 + i·bytes) passes the integer test. */
// @ts-ignore: decorator
@inline function passMask4(q: usize, b0: usize, bytes: u32, pa: u32, pops: usize, t16: u64): u32 {
  if (ASC_FEATURE_SIMD) return passMask4Simd(q, b0, bytes, pa, pops, t16);
  return passMask4Scalar(q, b0, bytes, pa, pops, t16);
}

// ---------------------------------------------------------------------------
// Exports.

/**
 * SIMD build: 0 = i8x16.popcnt bytewise, 1 = i64.popcnt per lane. Returns the
 * strategy in effect (always 0 in the scalar build, which ignores it).
 */
export function setPopcountStrategy(strategy: u32): u32 {
  if (ASC_FEATURE_SIMD) popcountStrategy = strategy == POPCOUNT_LANES ? POPCOUNT_LANES : POPCOUNT_BYTEWISE;
  return popcountStrategy;
}

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
// at heapIndicesPtr, k slots per query; counts u32 per query at heapCountsPtr,
// followed by one more u32 per query that the kernel owns: the query's
// current integer floor (see topKAtThreshold).

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

/**
 * 1:N / small-batch top-k: for each of `queryCount` queries (contiguous at
 * queriesPtr, popcounts at queryPopsPtr), offers every base filter in
 * [baseStart, baseEnd) with score >= threshold to that query's heap of k.
 * Heaps persist across calls (the caller zeroes the counts once), so a range
 * may be scanned in several calls. Each query sees base indices in ascending
 * order, so among equal scores the lowest indices are kept.
 *
 * heapCountsPtr holds 2 × queryCount u32: the counts, then per-query integer
 * floors the kernel maintains. Once a query's heap is full only candidates
 * scoring at least its root can enter, so the floor rises to the root's
 * units and the integer prefilter and popcount bound reject more: top-k at a
 * low threshold costs about what a high threshold does after the first k.
 */
export function topKAtThreshold(
  queriesPtr: usize, queryPopsPtr: usize, queryCount: u32,
  basePtr: usize, basePopsPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, k: u32,
  heapScoresPtr: usize, heapIndicesPtr: usize, heapCountsPtr: usize,
): void {
  if (k == 0 || queryCount == 0 || baseEnd <= baseStart) return;
  const t16 = thresholdUnits(threshold);
  const block = blockFilters(bytes);
  const floorsPtr = heapCountsPtr + (<usize>queryCount << 2);
  for (let qi: u32 = 0; qi < queryCount; qi++) {
    if (load<u32>(heapCountsPtr + (<usize>qi << 2)) == k) storeFloor(heapCountsPtr, queryCount, qi, t16, load<f64>(heapScoresPtr + ((<usize>qi * k) << 3)));
    else store<u32>(floorsPtr + (<usize>qi << 2), <u32>t16);
  }
  for (let blockStart = baseStart; blockStart < baseEnd; blockStart += block) {
    const blockEnd = baseEnd - blockStart > block ? blockStart + block : baseEnd;
    for (let g: u32 = 0; g < queryCount; g += QUERY_GROUP) {
      const gEnd = queryCount - g > QUERY_GROUP ? g + QUERY_GROUP : queryCount;
      let j = blockStart;
      for (; blockEnd - j >= 4; j += 4) {
        const b0 = basePtr + <usize>j * bytes;
        const pops = basePopsPtr + (<usize>j << 2);
        const p0 = load<u32>(pops), p1 = load<u32>(pops, 4), p2 = load<u32>(pops, 8), p3 = load<u32>(pops, 12);
        const pmin = min4(p0, p1, p2, p3), pmax = max4(p0, p1, p2, p3);
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          const floor = <u64>load<u32>(floorsPtr + (<usize>qi << 2));
          if (!groupMayPass(pa, pmin, pmax, floor)) continue;
          const qp = queriesPtr + <usize>qi * bytes;
          let mask = passMask4(qp, b0, bytes, pa, pops, floor);
          while (mask) {
            const lane = ctz(mask);
            mask &= mask - 1;
            const c = countAnd1(qp, b0 + <usize>lane * bytes, bytes);
            const score = diceScore(c, pa + load<u32>(pops + (<usize>lane << 2)));
            if (score >= threshold) offerTo(heapScoresPtr, heapIndicesPtr, heapCountsPtr, queryCount, qi, k, score, j + lane, t16);
          }
        }
      }
      for (; j < blockEnd; j++) {
        const b = basePtr + <usize>j * bytes;
        const pb = load<u32>(basePopsPtr + (<usize>j << 2));
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          const floor = <u64>load<u32>(floorsPtr + (<usize>qi << 2));
          if (!groupMayPass(pa, pb, pb, floor)) continue;
          const c = countAnd1(queriesPtr + <usize>qi * bytes, b, bytes);
          const s = pa + pb;
          if (!mayPass(c, s, floor)) continue;
          const score = diceScore(c, s);
          if (score >= threshold) offerTo(heapScoresPtr, heapIndicesPtr, heapCountsPtr, queryCount, qi, k, score, j, t16);
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
        const pmin = min4(p0, p1, p2, p3), pmax = max4(p0, p1, p2, p3);
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          if (!groupMayPass(pa, pmin, pmax, t16)) continue;
          const qp = queriesPtr + <usize>qi * bytes;
          let mask = passMask4(qp, b0, bytes, pa, pops, t16);
          while (mask) {
            const lane = ctz(mask);
            mask &= mask - 1;
            const c = countAnd1(qp, b0 + <usize>lane * bytes, bytes);
            const score = diceScore(c, pa + load<u32>(pops + (<usize>lane << 2)));
            if (score >= threshold) emitPair(outPtr, n++, qi, j + lane, score);
          }
        }
      }
      for (; j < blockEnd; j++) {
        const b = basePtr + <usize>j * bytes;
        const pb = load<u32>(basePopsPtr + (<usize>j << 2));
        for (let qi = g; qi < gEnd; qi++) {
          const pa = load<u32>(queryPopsPtr + (<usize>qi << 2));
          if (!groupMayPass(pa, pb, pb, t16)) continue;
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

// ---------------------------------------------------------------------------
// Sketch-bounded 1:N top-k (docs/decisions.md, "Kernels", block-count sketches).
//
// Split a filter into 16-bit blocks (64 of them in 1024 bits). For any two
// filters a and b,
//   popcount(a & b) = Σ_w popcount(a_w & b_w) <= Σ_w min(popcount(a_w), popcount(b_w)).
// A base filter's sketch keeps each block's count as 3 bits, v_w = min(count, 7),
// read back as b̂_w = (v_w == 7 ? 16 : v_w) >= count: Σ_w min(popcount(a_w), b̂_w)
// is still an upper bound on c. A base filter whose bound fails the integer
// test (2·bound·65536 < floor·(pa+pb)) cannot pass it with its true count, so
// it is skipped without reading its 128 bytes.
//
// The sketch is stored bit-sliced: three planes of one bit per block (bit w of
// plane i is bit i of v_w), `ceil(blocks / 64)` u64 words each, so 24 bytes for
// a 1024-bit filter. The query's exact block counts (0..16) are five planes
// Q0..Q4, and min(q, b̂) for 64 blocks at once is a bit-sliced comparison:
// about 25 bitwise operations and 5 i64.popcnt per 1024 bits, in both builds.
//
// How much it skips depends on the data, not on correctness: for filters with
// a quarter of the bits set the bound averages ~0.75 against a true Dice of
// ~0.25 between unrelated filters, so at 0.85 almost every filter stops at its
// sketch; for filters with 60% of the bits set (the demo people) the bound is
// above 0.85 and nothing is skipped, so the engine builds sketches only for
// sparse datasets (engine/engine.ts). Every filter that could pass is counted
// exactly, in ascending order, so the heaps end exactly as topKAtThreshold
// leaves them.

/** u64 words per sketch plane for filters of `bytes` bytes (one bit per 16-bit block). */
// @ts-ignore: decorator
@inline function planeWords(bytes: u32): usize {
  return <usize>((bytes + 127) >> 7);
}

/** Sketch bytes per filter: 3 planes (see above). */
export function sketchBytesFor(bytes: u32): u32 {
  return <u32>(planeWords(bytes) * 24);
}

/** Writes the block-count sketch (see above) of `count` filters of `bytes` bytes each. */
export function sketchFilters(filtersPtr: usize, count: u32, bytes: u32, outPtr: usize): void {
  const words = planeWords(bytes);
  const blocks = <usize>(bytes >> 1);
  for (let i: u32 = 0; i < count; i++) {
    const f = filtersPtr + <usize>i * bytes;
    const s = outPtr + <usize>i * words * 24;
    for (let w: usize = 0; w < words; w++) {
      let p0: u64 = 0, p1: u64 = 0, p2: u64 = 0;
      for (let lane: usize = 0; lane < 64; lane++) {
        const block = (w << 6) + lane;
        if (block >= blocks) break;
        let v = <u64>popcnt<u32>(<u32>load<u16>(f + (block << 1)));
        if (v > 7) v = 7;
        p0 |= (v & 1) << lane;
        p1 |= ((v >> 1) & 1) << lane;
        p2 |= ((v >> 2) & 1) << lane;
      }
      store<u64>(s + (w << 3), p0);
      store<u64>(s + ((words + w) << 3), p1);
      store<u64>(s + ((2 * words + w) << 3), p2);
    }
  }
}

/** The query's exact block counts as five planes Q0..Q4 of `planeWords` u64 each, at out. */
function queryPlanes(q: usize, bytes: u32, out: usize): void {
  const words = planeWords(bytes);
  const blocks = <usize>(bytes >> 1);
  for (let w: usize = 0; w < words; w++) {
    let q0: u64 = 0, q1: u64 = 0, q2: u64 = 0, q3: u64 = 0, q4: u64 = 0;
    for (let lane: usize = 0; lane < 64; lane++) {
      const block = (w << 6) + lane;
      if (block >= blocks) break;
      const v = <u64>popcnt<u32>(<u32>load<u16>(q + (block << 1)));
      q0 |= (v & 1) << lane;
      q1 |= ((v >> 1) & 1) << lane;
      q2 |= ((v >> 2) & 1) << lane;
      q3 |= ((v >> 3) & 1) << lane;
      q4 |= ((v >> 4) & 1) << lane;
    }
    store<u64>(out + (w << 3), q0);
    store<u64>(out + ((words + w) << 3), q1);
    store<u64>(out + ((2 * words + w) << 3), q2);
    store<u64>(out + ((3 * words + w) << 3), q3);
    store<u64>(out + ((4 * words + w) << 3), q4);
  }
}

/**
 * Σ_w min(q_w, b̂_w) over 64 blocks: query planes q0..q4 with the query-only masks nq0..nq2 (~q_i) and
 * small (q_w < 8) worked out once per scan, base planes b0..b2 (see above). The minimum is the query's
 * count in saturated lanes and where q_w < 8 and q_w < v_w, the base's v_w elsewhere; the five result
 * planes are selected from the two and counted (five popcnt, about 25 bitwise operations).
 */
// @ts-ignore: decorator
@inline function planeBound(
  q0: u64, q1: u64, q2: u64, q3: u64, q4: u64, nq0: u64, nq1: u64, nq2: u64, small: u64,
  b0: u64, b1: u64, b2: u64,
): u64 {
  const sat = b0 & b1 & b2; // v = 7: any count up to 16, so the minimum is the query's count
  // q_w < v_w on the low three bits, compared from the top bit down
  const e2 = ~(q2 ^ b2);
  const e1 = e2 & ~(q1 ^ b1);
  const lt = (nq2 & b2) | (e2 & nq1 & b1) | (e1 & nq0 & b0);
  const useQ = sat | (lt & small);
  const useB = ~useQ;
  return popcnt<u64>((useQ & q0) | (useB & b0))
    + (popcnt<u64>((useQ & q1) | (useB & b1)) << 1)
    + (popcnt<u64>((useQ & q2) | (useB & b2)) << 2)
    + (popcnt<u64>(useQ & q3) << 3)
    + (popcnt<u64>(useQ & q4) << 4);
}

/** The bound for one base sketch at s (planeWords(bytes) words per plane; query planes at qp). */
function sketchBound(qp: usize, s: usize, words: usize): u64 {
  let bound: u64 = 0;
  for (let w: usize = 0; w < words; w++) {
    const q0 = load<u64>(qp + (w << 3)), q1 = load<u64>(qp + ((words + w) << 3));
    const q2 = load<u64>(qp + ((2 * words + w) << 3)), q3 = load<u64>(qp + ((3 * words + w) << 3));
    const q4 = load<u64>(qp + ((4 * words + w) << 3));
    bound += planeBound(q0, q1, q2, q3, q4, ~q0, ~q1, ~q2, ~(q3 | q4),
      load<u64>(s + (w << 3)), load<u64>(s + ((words + w) << 3)), load<u64>(s + ((2 * words + w) << 3)));
  }
  return bound;
}

/**
 * topKAtThreshold for one query, skipping base filters whose sketch bound
 * cannot pass (see above). Sketches of the base filters at baseSketchPtr
 * (sketchBytesFor(bytes) each, indexed like the filters); `scratchPtr` holds
 * the query's planes (5 × 8 × planeWords bytes: 40 for 1024-bit filters).
 * Heaps as for topKAtThreshold with one query: k slots, then its count and
 * its floor (heapCountsPtr, heapCountsPtr + 4), so the two kernels may take
 * turns on consecutive ranges of one scan. Returns how many filters passed
 * both bounds and were counted in full (the caller's measure of whether the
 * sketch is skipping anything for this query).
 */
export function topKSketched(
  queryPtr: usize, scratchPtr: usize,
  basePtr: usize, basePopsPtr: usize, baseSketchPtr: usize, baseStart: u32, baseEnd: u32, bytes: u32,
  threshold: f64, k: u32,
  heapScoresPtr: usize, heapIndicesPtr: usize, heapCountsPtr: usize,
): u32 {
  if (k == 0 || baseEnd <= baseStart) return 0;
  let counted: u32 = 0;
  const t16 = thresholdUnits(threshold);
  const words = planeWords(bytes);
  const stride = words * 24;
  queryPlanes(queryPtr, bytes, scratchPtr);
  let pa: u32 = 0;
  for (let off: usize = 0; off < <usize>bytes; off += 8) pa += <u32>popcnt<u64>(load<u64>(queryPtr + off));
  const floorPtr = heapCountsPtr + 4;
  if (load<u32>(heapCountsPtr) == k) storeFloor(heapCountsPtr, 1, 0, t16, load<f64>(heapScoresPtr));
  else store<u32>(floorPtr, <u32>t16);
  let floor = <u64>load<u32>(floorPtr);
  // The first plane word of the query, kept in locals: for filters of up to 1024 bits it is all of it.
  const q0 = load<u64>(scratchPtr), q1 = load<u64>(scratchPtr, 8), q2 = load<u64>(scratchPtr, 16);
  const q3 = load<u64>(scratchPtr, 24), q4 = load<u64>(scratchPtr, 32);
  const nq0 = ~q0, nq1 = ~q1, nq2 = ~q2, small = ~(q3 | q4);
  for (let j = baseStart; j < baseEnd; j++) {
    const pb = load<u32>(basePopsPtr + (<usize>j << 2));
    const sum = <u64>(pa + pb);
    // the popcount bound first (4 bytes read), then the sketch bound
    const low = pa < pb ? pa : pb;
    if (<u64>low * 131072 < floor * sum) continue;
    const s = baseSketchPtr + <usize>j * stride;
    const bound = words == 1
      ? planeBound(q0, q1, q2, q3, q4, nq0, nq1, nq2, small, load<u64>(s), load<u64>(s, 8), load<u64>(s, 16))
      : sketchBound(scratchPtr, s, words);
    if (bound * 131072 < floor * sum) continue;
    counted++;
    const c = countAnd1(queryPtr, basePtr + <usize>j * bytes, bytes);
    if (<u64>c * 131072 < floor * sum) continue;
    const score = diceScore(c, pa + pb);
    if (score >= threshold) {
      offerTo(heapScoresPtr, heapIndicesPtr, heapCountsPtr, 1, 0, k, score, j, t16);
      floor = <u64>load<u32>(floorPtr);
    }
  }
  return counted;
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
