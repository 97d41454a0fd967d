// See include/resample.h.
#include "resample.h"
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define PRECISION_BITS 22

static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << (PRECISION_BITS + 8))) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

static void horizontal_rows_scalar(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                                   const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize) {
    for (long y = 0; y < rows; y++) {
        const uint8_t *row = in + y * in_stride;
        uint8_t *o = out + y * out_w * 3;
        for (long xx = 0; xx < out_w; xx++) {
            const uint8_t *p = row + (long)xmin[xx] * 3;
            const int32_t *k = w + xx * ksize;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (long x = 0; x < count[xx]; x++) {
                s0 += p[3 * x] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            o[3 * xx] = clip8(s0);
            o[3 * xx + 1] = clip8(s1);
            o[3 * xx + 2] = clip8(s2);
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

// One output pixel a time, its three channels in one vector: per tap, a 32-bit load of R, G, B
// (and one byte beyond, multiplied in a lane that is discarded), widened and multiplied by the
// weight. The byte beyond the last pixel of a row is in the next row, so the caller keeps the
// buffer's final row for the scalar loop.
__attribute__((target("sse4.1")))
static void horizontal_rows_sse41(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                                  const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize) {
    const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1)), zero = _mm_setzero_si128();
    const __m128i top = _mm_set1_epi32(255);
    for (long y = 0; y < rows; y++) {
        const uint8_t *row = in + y * in_stride;
        uint8_t *o = out + y * out_w * 3;
        for (long xx = 0; xx < out_w; xx++) {
            const uint8_t *p = row + (long)xmin[xx] * 3;
            const int32_t *k = w + xx * ksize;
            __m128i s = half;
            for (long x = 0; x < count[xx]; x++) {
                int32_t bytes;
                memcpy(&bytes, p + 3 * x, 4);
                __m128i v = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes));
                s = _mm_add_epi32(s, _mm_mullo_epi32(v, _mm_set1_epi32(k[x])));
            }
            s = _mm_min_epi32(_mm_max_epi32(_mm_srai_epi32(s, PRECISION_BITS), zero), top);
            o[3 * xx] = (uint8_t)_mm_cvtsi128_si32(s);
            o[3 * xx + 1] = (uint8_t)_mm_extract_epi32(s, 1);
            o[3 * xx + 2] = (uint8_t)_mm_extract_epi32(s, 2);
        }
    }
}

// Four taps a step: 16 bytes from the first of four input pixels (R, G, B of each, then four
// bytes beyond) spread to R, G, B, 0 per 128-bit lane and widened to 16 ints, times each tap's
// weight in its lane; the four lanes are summed at the end. ksize must be a multiple of 4 with the
// weights zero past count, so that the pixels a step reads past the taps, when there are fewer
// than four left, weigh nothing; near the end of the buffer the load is masked to the bytes there are.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void horizontal_rows_avx512(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                                   const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize) {
    const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    const __m512i lanes = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1)), zero = _mm_setzero_si128();
    const __m128i top = _mm_set1_epi32(255);
    long extent = 0;   // bytes of a row the pass reads
    for (long xx = 0; xx < out_w; xx++)
        if ((xmin[xx] + count[xx]) * 3L > extent) extent = (xmin[xx] + count[xx]) * 3L;
    const uint8_t *end = in + (rows - 1) * in_stride + extent;   // past the last byte the pass may read
    for (long y = 0; y < rows; y++) {
        const uint8_t *row = in + y * in_stride;
        uint8_t *o = out + y * out_w * 3;
        for (long xx = 0; xx < out_w; xx++) {
            const uint8_t *p = row + (long)xmin[xx] * 3;
            const int32_t *k = w + xx * ksize;
            long n = count[xx];
            __m512i s = _mm512_setzero_si512();
            for (long x = 0; x < n; x += 4, p += 12) {
                __m128i bytes = p + 16 <= end ? _mm_loadu_si128((const __m128i *)p)
                                              : _mm_maskz_loadu_epi8((__mmask16)((1u << (end - p)) - 1), p);
                __m512i v = _mm512_cvtepu8_epi32(_mm_shuffle_epi8(bytes, spread));
                __m512i k4 = _mm512_permutexvar_epi32(lanes, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(k + x))));
                s = _mm512_add_epi32(s, _mm512_mullo_epi32(v, k4));
            }
            __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
            __m128i s4 = _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1)), half);
            s4 = _mm_min_epi32(_mm_max_epi32(_mm_srai_epi32(s4, PRECISION_BITS), zero), top);
            _mm_mask_storeu_epi8(o + 3 * xx, 0x7, _mm_cvtepi32_epi8(s4));
        }
    }
}
#endif

void resample_rgb8_horizontal_with(int kernel, const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                                   const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize) {
#if defined(__x86_64__)
    if (kernel == RESAMPLE_AVX512) {
        horizontal_rows_avx512(in, in_stride, rows, out, out_w, xmin, count, w, ksize);
        return;
    }
    if (kernel == RESAMPLE_SSE41 && rows > 1) {
        horizontal_rows_sse41(in, in_stride, rows - 1, out, out_w, xmin, count, w, ksize);
        horizontal_rows_scalar(in + (rows - 1) * in_stride, in_stride, 1, out + (rows - 1) * out_w * 3, out_w,
                               xmin, count, w, ksize);
        return;
    }
#endif
    horizontal_rows_scalar(in, in_stride, rows, out, out_w, xmin, count, w, ksize);
}

int resample_kernel_available(int kernel) {
#if defined(__x86_64__)
    if (kernel == RESAMPLE_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (kernel == RESAMPLE_SSE41) return __builtin_cpu_supports("sse4.1");
#endif
    return kernel == RESAMPLE_SCALAR;
}

void resample_rgb8_horizontal(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                              const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize) {
    int kernel = ksize % 4 == 0 && resample_kernel_available(RESAMPLE_AVX512) ? RESAMPLE_AVX512
        : resample_kernel_available(RESAMPLE_SSE41) ? RESAMPLE_SSE41 : RESAMPLE_SCALAR;
    resample_rgb8_horizontal_with(kernel, in, in_stride, rows, out, out_w, xmin, count, w, ksize);
}

CLONES
void resample_rgb8_vertical(const uint8_t *in, long in_stride, long row_bytes, uint8_t *out, long out_h,
                            const int32_t *ymin, const int32_t *count, const int32_t *w, long ksize, int32_t *restrict acc) {
    for (long yy = 0; yy < out_h; yy++) {
        for (long i = 0; i < row_bytes; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (long y = 0; y < count[yy]; y++) {
            const uint8_t *restrict r = in + (ymin[yy] + y) * in_stride;
            int32_t k = w[yy * ksize + y];
            for (long i = 0; i < row_bytes; i++) acc[i] += r[i] * k;
        }
        uint8_t *restrict o = out + yy * row_bytes;
        for (long i = 0; i < row_bytes; i++) o[i] = clip8(acc[i]);
    }
}

CLONES
void rgb8_normalize_planes(const uint8_t *restrict rgb, long n, const float *mean, const float *std, float *restrict out) {
    const float m0 = mean[0], m1 = mean[1], m2 = mean[2], s0 = std[0], s1 = std[1], s2 = std[2];
    for (long i = 0; i < n; i++) {
        out[i] = ((float)rgb[3 * i] / 255.0f - m0) / s0;
        out[n + i] = ((float)rgb[3 * i + 1] / 255.0f - m1) / s1;
        out[2 * n + i] = ((float)rgb[3 * i + 2] / 255.0f - m2) / s2;
    }
}
