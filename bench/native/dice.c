/*
 * Native C reference for the Dice benchmark (bench/dice.ts): the same work
 * and batching as the wasm kernels (wasm/assembly/dice.ts) so the two can be
 * compared directly:
 *   - 1024-bit (any multiple of 64) filters, popcounts precomputed;
 *   - base walked in blocks of ~128 KiB, groups of 16 queries per block,
 *     4 base filters per step sharing each query word load;
 *   - integer threshold test 2·c·65536 >= t16·(pa+pb), float score only for
 *     pairs that pass it, top-k per query kept in a small sorted array.
 * Built by bench/dice.ts with `gcc -O3 -march=native` (plus
 * -fno-tree-vectorize for the scalar row, so the row measures
 * __builtin_popcountll rather than the compiler's AVX-512 vectorisation).
 *
 * usage: dice <data file> <queries> <base> <bytes> <threshold> <k> <seconds> [threads]
 * data file: queries then base filters, concatenated.
 * prints: {"comparisons": N, "seconds": S, "bestWindowRate": R, "passMedianSeconds": P, "checksum": X}
 * where R is comparisons/s over the best window of >= 100 ms, measured the
 * same way as the wasm rows in bench/dice.ts (the development machine is
 * shared; means mostly measure the neighbours), and P the median time of one
 * pass of every query over the whole base. With threads > 1 each pass splits
 * the base into that many slices, one thread each, their top-k merged, as the
 * engine splits a 1:N search between its workers (the latency rows).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#define QUERY_GROUP 16
#define BLOCK_BYTES 131072

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t popcount_filter(const uint64_t *f, size_t words) {
  uint32_t c = 0;
  for (size_t w = 0; w < words; w++) c += (uint32_t)__builtin_popcountll(f[w]);
  return c;
}

typedef struct {
  double *scores;
  uint32_t *indices;
  uint32_t count;
} topk_t;

/* Sorted insertion (score desc, index asc); k is small. */
static void offer(topk_t *t, uint32_t k, double score, uint32_t index) {
  if (t->count == k && !(score > t->scores[k - 1])) return;
  uint32_t i = t->count < k ? t->count++ : k - 1;
  while (i > 0 && t->scores[i - 1] < score) {
    t->scores[i] = t->scores[i - 1];
    t->indices[i] = t->indices[i - 1];
    i--;
  }
  t->scores[i] = score;
  t->indices[i] = index;
}

static inline void consider(topk_t *t, uint32_t k, uint64_t t16, double threshold, uint32_t c, uint32_t sum, uint32_t index) {
  if ((uint64_t)c * 131072u < t16 * sum) return;
  double score = sum ? (2.0 * c) / sum : 0.0;
  if (score >= threshold) offer(t, k, score, index);
}

/* Base filters [first, nb) against every query; indices are the base's. */
static void scan(const uint64_t *queries, const uint32_t *qpops, size_t nq, const uint64_t *base, const uint32_t *bpops,
                 size_t first, size_t nb, size_t words, double threshold, uint32_t k, topk_t *tops) {
  int64_t units = (int64_t)(threshold * 65536.0) - 1;
  uint64_t t16 = threshold > 0 && units > 0 ? (uint64_t)units : 0;
  size_t block = BLOCK_BYTES / (words * 8);
  if (block > 2048) block = 2048;
  if (block < 64) block = 64;
  block &= ~(size_t)3;
  for (size_t b0 = first; b0 < nb; b0 += block) {
    size_t bend = b0 + block < nb ? b0 + block : nb;
    for (size_t g = 0; g < nq; g += QUERY_GROUP) {
      size_t gend = g + QUERY_GROUP < nq ? g + QUERY_GROUP : nq;
      size_t j = b0;
      for (; j + 4 <= bend; j += 4) {
        const uint64_t *f0 = base + j * words, *f1 = f0 + words, *f2 = f1 + words, *f3 = f2 + words;
        for (size_t q = g; q < gend; q++) {
          const uint64_t *qf = queries + q * words;
          uint32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
          for (size_t w = 0; w < words; w++) {
            uint64_t x = qf[w];
            c0 += (uint32_t)__builtin_popcountll(x & f0[w]);
            c1 += (uint32_t)__builtin_popcountll(x & f1[w]);
            c2 += (uint32_t)__builtin_popcountll(x & f2[w]);
            c3 += (uint32_t)__builtin_popcountll(x & f3[w]);
          }
          uint32_t pa = qpops[q];
          consider(&tops[q], k, t16, threshold, c0, pa + bpops[j], (uint32_t)j);
          consider(&tops[q], k, t16, threshold, c1, pa + bpops[j + 1], (uint32_t)j + 1);
          consider(&tops[q], k, t16, threshold, c2, pa + bpops[j + 2], (uint32_t)j + 2);
          consider(&tops[q], k, t16, threshold, c3, pa + bpops[j + 3], (uint32_t)j + 3);
        }
      }
      for (; j < bend; j++) {
        for (size_t q = g; q < gend; q++) {
          uint32_t c = 0;
          for (size_t w = 0; w < words; w++) c += (uint32_t)__builtin_popcountll(queries[q * words + w] & base[j * words + w]);
          consider(&tops[q], k, t16, threshold, c, qpops[q] + bpops[j], (uint32_t)j);
        }
      }
    }
  }
}

typedef struct {
  const uint64_t *queries, *base;
  const uint32_t *qpops, *bpops;
  size_t nq, first, end, words;
  double threshold;
  uint32_t k;
  topk_t *tops;
} slice_t;

static void *scan_slice(void *arg) {
  slice_t *s = arg;
  for (size_t i = 0; i < s->nq; i++) s->tops[i].count = 0;
  scan(s->queries, s->qpops, s->nq, s->base, s->bpops, s->first, s->end, s->words, s->threshold, s->k, s->tops);
  return 0;
}

static topk_t *new_tops(size_t nq, uint32_t k) {
  topk_t *tops = calloc(nq, sizeof(topk_t));
  for (size_t i = 0; i < nq; i++) {
    tops[i].scores = malloc(k * sizeof(double));
    tops[i].indices = malloc(k * sizeof(uint32_t));
  }
  return tops;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 8 && argc != 9) {
    fprintf(stderr, "usage: %s data queries base bytes threshold k seconds [threads]\n", argv[0]);
    return 2;
  }
  size_t nq = strtoul(argv[2], 0, 10), nb = strtoul(argv[3], 0, 10), bytes = strtoul(argv[4], 0, 10);
  double threshold = atof(argv[5]), seconds = atof(argv[7]);
  uint32_t k = (uint32_t)strtoul(argv[6], 0, 10);
  size_t threads = argc == 9 ? strtoul(argv[8], 0, 10) : 1;
  if (threads < 1 || threads > 64) threads = 1;
  size_t words = bytes / 8;
  uint64_t *data = aligned_alloc(64, ((nq + nb) * bytes + 63) / 64 * 64);
  FILE *fp = fopen(argv[1], "rb");
  if (!fp || fread(data, bytes, nq + nb, fp) != nq + nb) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(fp);
  const uint64_t *queries = data, *base = data + nq * words;
  uint32_t *qpops = malloc(nq * 4), *bpops = malloc(nb * 4);
  for (size_t i = 0; i < nq; i++) qpops[i] = popcount_filter(queries + i * words, words);
  for (size_t i = 0; i < nb; i++) bpops[i] = popcount_filter(base + i * words, words);
  topk_t *tops = new_tops(nq, k);
  slice_t slices[64];
  pthread_t ids[64];
  size_t per = (nb + threads - 1) / threads;
  for (size_t t = 0; t < threads; t++) {
    size_t first = t * per < nb ? t * per : nb, end = first + per < nb ? first + per : nb;
    slices[t] = (slice_t){queries, base, qpops, bpops, nq, first, end, words, threshold, k, new_tops(nq, k)};
  }
  size_t max_passes = 1 << 16, passes = 0;
  double *pass_seconds = malloc(max_passes * sizeof(double));
  double checksum = 0, start = now(), elapsed = 0, best = 0, window_start = start;
  uint64_t comparisons = 0, window_comparisons = 0;
  do {
    double t0 = now();
    for (size_t t = 1; t < threads; t++) pthread_create(&ids[t], 0, scan_slice, &slices[t]);
    scan_slice(&slices[0]);
    for (size_t t = 1; t < threads; t++) pthread_join(ids[t], 0);
    for (size_t i = 0; i < nq; i++) {
      tops[i].count = 0;
      for (size_t t = 0; t < threads; t++)
        for (uint32_t r = 0; r < slices[t].tops[i].count; r++) offer(&tops[i], k, slices[t].tops[i].scores[r], slices[t].tops[i].indices[r]);
    }
    double t1 = now();
    if (passes < max_passes) pass_seconds[passes++] = t1 - t0;
    comparisons += (uint64_t)nq * nb;
    window_comparisons += (uint64_t)nq * nb;
    for (size_t i = 0; i < nq; i++)
      for (uint32_t r = 0; r < tops[i].count; r++) checksum += tops[i].scores[r] + tops[i].indices[r];
    if (t1 - window_start >= 0.1) {
      double rate = window_comparisons / (t1 - window_start);
      if (rate > best) best = rate;
      window_start = t1;
      window_comparisons = 0;
    }
    elapsed = t1 - start;
  } while (elapsed < seconds || best == 0);
  qsort(pass_seconds, passes, sizeof(double), by_value);
  printf("{\"comparisons\": %llu, \"seconds\": %.6f, \"bestWindowRate\": %.1f, \"passMedianSeconds\": %.6f, "
         "\"checksum\": %.6f}\n",
         (unsigned long long)comparisons, elapsed, best, pass_seconds[passes / 2], checksum);
  return 0;
}
