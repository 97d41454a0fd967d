// Winograd transforms (include/ckernels.h; the algorithm in Sources/Extract/Ops/Winograd.swift).
// F(2x2, 3x3) after Lavin & Gray 2015, section 4:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1].
//
// Two forms of each transform. The portable row functions (wino_f23_input_row ...) handle one row of
// tiles and leave vectorisation to clang, for whatever ISA the machine has. The AVX-512 ones
// (wino_*_rows_avx512) handle several rows of tiles at once; see "AVX-512" below for why.
#include "ckernels.h"
#include "activation.h"
#include <immintrin.h>
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// Rows are short (4 to 112 tiles), so loops are vectorised 8 wide without unrolling (the unrolled
// default, 32 a step, would leave most rows to its scalar remainder), and their tails run as masked
// vector ops where the ISA has masks (vectorize_predicate: AVX-512; a scalar tail elsewhere).
//
// Small loops over restrict parameters: clang keeps their no-alias promise when it inlines them,
// which it does not for restrict locals, and vectorises them.
static inline __attribute__((always_inline))
void split_parity(const float *restrict row, float *restrict e, float *restrict o, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < n; k++) { e[k] = row[2 * k]; o[k] = row[2 * k + 1]; }
}

/// B^T d on rows d0..d3: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
static inline __attribute__((always_inline))
void bt_rows(const float *restrict d0, const float *restrict d1, const float *restrict d2, const float *restrict d3,
             float *restrict t0, float *restrict t1, float *restrict t2, float *restrict t3, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < n; k++) {
        t0[k] = d0[k] - d2[k]; t1[k] = d1[k] + d2[k]; t2[k] = d2[k] - d1[k]; t3[k] = d1[k] - d3[k];
    }
}

/// (.) B on one row split by parity: columns 2tx..2tx+3 are e[tx], o[tx], en[tx] = e[tx+1], on[tx] = o[tx+1].
/// (en and on are passed apart: seen as e + 1, the loads become a recurrence that blocks vectorisation.)
static inline __attribute__((always_inline))
void b_cols(const float *restrict e, const float *restrict o, const float *restrict en, const float *restrict on,
            float *restrict v0, float *restrict v1, float *restrict v2, float *restrict v3, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long tx = 0; tx < n; tx++) {
        v0[tx] = e[tx] - en[tx]; v1[tx] = o[tx] + en[tx]; v2[tx] = en[tx] - o[tx]; v3[tx] = o[tx] - on[tx];
    }
}

CLONES
void wino_f23_input_row(const float *plane, long h, long w, long iy0, long left, long tiles_w,
                        float *v, long vstride, float *scratch) {
    const long half = tiles_w + 1, width = 2 * tiles_w + 2;
    float *row = scratch;                       // width floats, padded with zeros
    float *ev = scratch + width + 2;            // 4 rows of even columns, then 4 of odd
    float *od = ev + 4 * half;
    float *t = od + 4 * half;                   // B^T d, 4 rows of even then 4 of odd columns
    long x0 = left < width ? left : width;
    long x1 = w + left < width ? w + left : width;
    if (x1 < x0) x1 = x0;
    for (int i = 0; i < 4; i++) {
        long iy = iy0 + i;
        if (iy < 0 || iy >= h) {
            memset(ev + i * half, 0, sizeof(float) * half);
            memset(od + i * half, 0, sizeof(float) * half);
            continue;
        }
        memset(row, 0, sizeof(float) * x0);
        memcpy(row + x0, plane + iy * w + x0 - left, sizeof(float) * (x1 - x0));
        memset(row + x1, 0, sizeof(float) * (width - x1));
        split_parity(row, ev + i * half, od + i * half, half);
    }
    bt_rows(ev, ev + half, ev + 2 * half, ev + 3 * half, t, t + half, t + 2 * half, t + 3 * half, half);
    bt_rows(od, od + half, od + 2 * half, od + 3 * half, t + 4 * half, t + 5 * half, t + 6 * half, t + 7 * half, half);
    for (int i = 0; i < 4; i++) {
        float *v0 = v + (4 * i) * vstride;
        const float *e = t + i * half, *o = t + (4 + i) * half;
        b_cols(e, o, e + 1, o + 1, v0, v0 + vstride, v0 + 2 * vstride, v0 + 3 * vstride, tiles_w);
    }
}

/// A^T m, one row: r = 0 gives m0 + m1 + m2, r = 1 gives m1 - m2 - m3.
static inline __attribute__((always_inline))
void at_row(const float *restrict m0, const float *restrict m1, const float *restrict m2, const float *restrict m3,
            float *restrict dst, int r, long n) {
    if (r == 0) {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long k = 0; k < n; k++) dst[k] = m0[k] + m1[k] + m2[k];
    }
    else {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long k = 0; k < n; k++) dst[k] = m1[k] - m2[k] - m3[k];
    }
}

/// (.) A with bias and activation, interleaving the two output columns of each tile into out.
static inline __attribute__((always_inline))
void a_cols(const float *restrict c0, const float *restrict c1, const float *restrict c2, const float *restrict c3,
            float *restrict ye, float *restrict yo, float *restrict out, long tiles_w, long ow, float bias, int act) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < tiles_w; k++) {
        ye[k] = activate(c0[k] + c1[k] + c2[k] + bias, act);
        yo[k] = activate(c1[k] - c2[k] - c3[k] + bias, act);
    }
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < ow / 2; k++) { out[2 * k] = ye[k]; out[2 * k + 1] = yo[k]; }
    if (ow % 2) out[ow - 1] = ye[ow / 2];
}

CLONES
void wino_f23_output_row(const float *m, long mstride, long tiles_w, float bias, int act,
                         float *out0, float *out1, long ow, float *scratch) {
    float *c = scratch, *y = scratch + 4 * tiles_w;     // A^T m, one row (4 columns); then y by parity
    for (int r = 0; r < 2; r++) {
        float *out = r == 0 ? out0 : out1;
        if (!out) break;
        for (int j = 0; j < 4; j++)
            at_row(m + j * mstride, m + (4 + j) * mstride, m + (8 + j) * mstride, m + (12 + j) * mstride,
                   c + j * tiles_w, r, tiles_w);
        a_cols(c, c + tiles_w, c + 2 * tiles_w, c + 3 * tiles_w, y, y + tiles_w, out, tiles_w, ow, bias, act);
    }
}

// Winograd F(4x4, 3x3) with interpolation points 0, ±1, ±2 (Lavin & Gray 2015; the matrices
// of their wincnn generator):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]

/// B^T applied to six vectors (rows of d, or columns of B^T d).
static inline __attribute__((always_inline))
void bt6(const float *restrict r0, const float *restrict r1, const float *restrict r2, const float *restrict r3,
         const float *restrict r4, const float *restrict r5, float *restrict t0, float *restrict t1,
         float *restrict t2, float *restrict t3, float *restrict t4, float *restrict t5, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < n; k++) {
        t0[k] = 4 * r0[k] - 5 * r2[k] + r4[k];
        t1[k] = -4 * (r1[k] + r2[k]) + r3[k] + r4[k];
        t2[k] = 4 * (r1[k] - r2[k]) - r3[k] + r4[k];
        t3[k] = 2 * (r3[k] - r1[k]) - r2[k] + r4[k];
        t4[k] = 2 * (r1[k] - r3[k]) - r2[k] + r4[k];
        t5[k] = 4 * r1[k] - 5 * r3[k] + r5[k];
    }
}

static inline __attribute__((always_inline))
void split4(const float *restrict row, float *restrict p0, float *restrict p1, float *restrict p2,
            float *restrict p3, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < n; k++) { p0[k] = row[4 * k]; p1[k] = row[4 * k + 1]; p2[k] = row[4 * k + 2]; p3[k] = row[4 * k + 3]; }
}

CLONES
void wino_f43_input_row(const float *plane, long h, long w, long iy0, long left, long tiles_w,
                        float *v, long vstride, float *scratch) {
    const long hp = tiles_w + 1, width = 4 * tiles_w + 4;
    float *row = scratch;                  // width floats, zero outside the image
    float *ph = scratch + width + 4;       // ph[(i * 4 + phase) * hp + k] = d[i][4 k + phase]
    float *t = ph + 24 * hp;               // B^T d, the same layout
    long x0 = left < width ? left : width;
    long x1 = w + left < width ? w + left : width;
    if (x1 < x0) x1 = x0;
    for (int i = 0; i < 6; i++) {
        long iy = iy0 + i;
        float *p = ph + i * 4 * hp;
        if (iy < 0 || iy >= h) {
            memset(p, 0, sizeof(float) * 4 * hp);
            continue;
        }
        memset(row, 0, sizeof(float) * x0);
        memcpy(row + x0, plane + iy * w + x0 - left, sizeof(float) * (x1 - x0));
        memset(row + x1, 0, sizeof(float) * (width - x1));
        split4(row, p, p + hp, p + 2 * hp, p + 3 * hp, hp);
    }
    for (int q = 0; q < 4; q++) {
        const float *d = ph + q * hp;
        float *o = t + q * hp;
        const long rs = 4 * hp;   // from row i to row i + 1
        bt6(d, d + rs, d + 2 * rs, d + 3 * rs, d + 4 * rs, d + 5 * rs,
            o, o + rs, o + 2 * rs, o + 3 * rs, o + 4 * rs, o + 5 * rs, hp);
    }
    // (B^T d) B, row by row: columns 4tx..4tx+5 are phases 0-3 of tile tx and phases 0-1 of tx + 1.
    for (int i = 0; i < 6; i++) {
        const float *p = t + i * 4 * hp;
        float *v0 = v + 6 * i * vstride;
        bt6(p, p + hp, p + 2 * hp, p + 3 * hp, p + 1, p + hp + 1,
            v0, v0 + vstride, v0 + 2 * vstride, v0 + 3 * vstride, v0 + 4 * vstride, v0 + 5 * vstride, tiles_w);
    }
}

/// A^T applied to six vectors: four combinations.
static inline __attribute__((always_inline))
void at6(const float *restrict a0, const float *restrict a1, const float *restrict a2, const float *restrict a3,
         const float *restrict a4, const float *restrict a5, float *restrict y0, float *restrict y1,
         float *restrict y2, float *restrict y3, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
    for (long k = 0; k < n; k++) {
        float p = a1[k] + a2[k], m = a1[k] - a2[k], p2 = a3[k] + a4[k], m2 = a3[k] - a4[k];
        y0[k] = a0[k] + p + p2;
        y1[k] = m + 2 * m2;
        y2[k] = p + 4 * p2;
        y3[k] = m + 8 * m2 + a5[k];
    }
}

static inline __attribute__((always_inline))
void interleave4(const float *restrict y0, const float *restrict y1, const float *restrict y2, const float *restrict y3,
                 float *restrict out, long ow, float bias, int act) {
    long k = 0;
    for (; 4 * k + 3 < ow; k++) {
        out[4 * k] = activate(y0[k] + bias, act);
        out[4 * k + 1] = activate(y1[k] + bias, act);
        out[4 * k + 2] = activate(y2[k] + bias, act);
        out[4 * k + 3] = activate(y3[k] + bias, act);
    }
    const float *ys[4] = {y0, y1, y2, y3};
    for (long c = 0; 4 * k + c < ow; c++) out[4 * k + c] = activate(ys[c][k] + bias, act);
}

CLONES
void wino_f43_output_row(const float *m, long mstride, long tiles_w, float bias, int act,
                         float *out, long rows, long ow, float *scratch) {
    float *s = scratch;                  // s[(r * 6 + j) * tiles_w + tx]: row r of A^T m, column j
    float *y = scratch + 24 * tiles_w;   // one output row by column phase
    const long n = tiles_w;
    for (int j = 0; j < 6; j++) {
        const float *c = m + j * mstride;
        const long rs = 6 * mstride;
        at6(c, c + rs, c + 2 * rs, c + 3 * rs, c + 4 * rs, c + 5 * rs,
            s + j * n, s + (6 + j) * n, s + (12 + j) * n, s + (18 + j) * n, n);
    }
    for (long r = 0; r < rows && r < 4; r++) {
        const float *a = s + r * 6 * n;
        at6(a, a + n, a + 2 * n, a + 3 * n, a + 4 * n, a + 5 * n, y, y + n, y + 2 * n, y + 3 * n, n);
        interleave4(y, y + n, y + 2 * n, y + 3 * n, out + r * ow, ow, bias, act);
    }
}

void wino_f43_weights(const float *w, long count, float *u, long ustride) {
    static const double G[6][3] = {
        {1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    for (long f = 0; f < count; f++) {
        const float *g = w + 9 * f;
        double t[6][3];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                u[(6 * i + j) * ustride + f] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
    }
}

// AVX-512. Rows of tiles are short (14 tiles at 56 wide, 7 at 28 and 14), and the portable
// functions split them into 4-column phases with gathers and interleave their output one float at
// a time; together these took twice as long as the element-wise products. Here the `rows` rows of
// tiles of one call are laid end to end, each followed by one ghost tile, so that tile k (counting
// ghosts) has its input columns at 4 k + 0..5 of one flat array (2 k + 0..3 for F(2x2)): 16 tiles
// are split into phases by permutes of 4 vectors, transformed as full vectors, and the ghosts are
// dropped as the results are stored (vcompressps) or inserted as products are loaded (vexpandps).

#define AVX512 __attribute__((target("avx512f")))

static inline __mmask16 lanes(long n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/// Lanes l with lo <= l < hi.
static inline __mmask16 lane_range(long lo, long hi) { return lanes(hi) & (__mmask16)~lanes(lo); }

/// Of tiles k0 ..< k0 + 16 (counting ghosts, `per_row` to a row, `total` in all), the real ones.
static inline __mmask16 real_tiles(long k0, long per_row, long total) {
    unsigned m = 0;
    for (int l = 0; l < 16 && k0 + l < total; l++)
        if ((k0 + l) % per_row != per_row - 1) m |= 1u << l;
    return (__mmask16)m;
}

/// Lanes 1..15 of a, then b: the next tile's value of a phase.
static inline __attribute__((always_inline)) AVX512 __m512 next_tile(__m512 a, float b) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(b)), _mm512_castps_si512(a), 1));
}

/// The vertical pass of an input transform over `rows` rows of tiles, `step` input rows apart:
/// t[i * tstride + q * width + x] = (B^T d)[i] at column x - left of row of tiles q, where d is
/// rows iy0 + step q ..< + n of the plane (zero outside it). bt(d, t) is B^T on n vectors.
#define VERTICAL_PASS(n, step, bt)                                                                     \
    for (long q = 0; q < rows; q++) {                                                                  \
        const float *in[n];                                                                            \
        for (int i = 0; i < n; i++) {                                                                  \
            const long iy = iy0 + step * q + i;                                                        \
            in[i] = iy >= 0 && iy < h ? plane + iy * w : NULL;                                         \
        }                                                                                              \
        /* Vectors running past the row's width hold zeros (columns >= w), and are overwritten by  */ \
        /* the next row; past the last row they are the zeros the last tiles' neighbours read.      */ \
        for (long x = 0; x < width; x += 16) {                                                         \
            const __mmask16 inside = lane_range(left - x, left + w - x);                               \
            __m512 d[n], r[n];                                                                         \
            for (int i = 0; i < n; i++)                                                                \
                d[i] = in[i] ? _mm512_maskz_loadu_ps(inside, in[i] + x - left) : _mm512_setzero_ps();  \
            bt(d, r);                                                                                  \
            for (int i = 0; i < n; i++) _mm512_storeu_ps(t + i * tstride + q * width + x, r[i]);       \
        }                                                                                              \
    }

static inline __attribute__((always_inline)) AVX512 void bt4_vec(const __m512 *d, __m512 *t) {
    t[0] = d[0] - d[2]; t[1] = d[1] + d[2]; t[2] = d[2] - d[1]; t[3] = d[1] - d[3];
}

static inline __attribute__((always_inline)) AVX512 void bt6_vec(const __m512 *r, __m512 *t) {
    t[0] = 4 * r[0] - 5 * r[2] + r[4];
    t[1] = -4 * (r[1] + r[2]) + r[3] + r[4];
    t[2] = 4 * (r[1] - r[2]) - r[3] + r[4];
    t[3] = 2 * (r[3] - r[1]) - r[2] + r[4];
    t[4] = 2 * (r[1] - r[3]) - r[2] + r[4];
    t[5] = 4 * r[1] - 5 * r[3] + r[5];
}

AVX512
void wino_f23_input_rows_avx512(const float *plane, long h, long w, long iy0, long left, long tiles_w, long rows,
                                float *v, long vstride, float *scratch) {
    const long per_row = tiles_w + 1, width = 2 * per_row, total = rows * per_row;
    const long tstride = rows * width + 48;
    float *t = scratch;
    VERTICAL_PASS(4, 2, bt4_vec)
    for (int i = 0; i < 4; i++) memset(t + i * tstride + rows * width, 0, 48 * sizeof(float));
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (long k0 = 0; k0 < total; k0 += 16) {
        const __mmask16 real = real_tiles(k0, per_row, total);
        const __mmask16 store = lanes(__builtin_popcount(real));
        float *dst = v + k0 - k0 / per_row;
        for (int i = 0; i < 4; i++) {
            const float *r = t + i * tstride + 2 * k0;
            const __m512 a = _mm512_loadu_ps(r), b = _mm512_loadu_ps(r + 16);
            // Columns 2k .. 2k + 3 of tile k: e, o, and the next tile's e and o.
            const __m512 e = _mm512_permutex2var_ps(a, even, b), o = _mm512_permutex2var_ps(a, odd, b);
            const __m512 en = next_tile(e, r[32]), on = next_tile(o, r[33]);
            const __m512 y[4] = {e - en, o + en, en - o, o - on};
            for (int j = 0; j < 4; j++)
                _mm512_mask_storeu_ps(dst + (4 * i + j) * vstride, store, _mm512_maskz_compress_ps(real, y[j]));
        }
    }
}

AVX512
void wino_f43_input_rows_avx512(const float *plane, long h, long w, long iy0, long left, long tiles_w, long rows,
                                float *v, long vstride, float *scratch) {
    const long per_row = tiles_w + 1, width = 4 * per_row, total = rows * per_row;
    const long tstride = rows * width + 80;
    float *t = scratch;
    VERTICAL_PASS(6, 4, bt6_vec)
    for (int i = 0; i < 6; i++) memset(t + i * tstride + rows * width, 0, 80 * sizeof(float));
    // Phase j of 16 tiles: lanes 0-7 from the first two vectors, 8-15 from the last two, same indices.
    __m512i phase[4];
    for (int j = 0; j < 4; j++)
        phase[j] = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                    _mm512_set1_epi32(j));
    for (long k0 = 0; k0 < total; k0 += 16) {
        const __mmask16 real = real_tiles(k0, per_row, total);
        const __mmask16 store = lanes(__builtin_popcount(real));
        float *dst = v + k0 - k0 / per_row;
        for (int i = 0; i < 6; i++) {
            const float *r = t + i * tstride + 4 * k0;
            const __m512 a = _mm512_loadu_ps(r), b = _mm512_loadu_ps(r + 16);
            const __m512 c = _mm512_loadu_ps(r + 32), d = _mm512_loadu_ps(r + 48);
            __m512 p[6], y[6];
            for (int j = 0; j < 4; j++)
                p[j] = _mm512_mask_blend_ps(0xFF00, _mm512_permutex2var_ps(a, phase[j], b),
                                            _mm512_permutex2var_ps(c, phase[j], d));
            p[4] = next_tile(p[0], r[64]);
            p[5] = next_tile(p[1], r[65]);
            bt6_vec(p, y);
            for (int j = 0; j < 6; j++)
                _mm512_mask_storeu_ps(dst + (6 * i + j) * vstride, store, _mm512_maskz_compress_ps(real, y[j]));
        }
    }
}

/// dst[x] = src[x], x < n.
static inline __attribute__((always_inline)) AVX512 void copy_row(const float *src, float *dst, long n) {
    for (long x = 0; x < n; x += 16) _mm512_mask_storeu_ps(dst + x, lanes(n - x), _mm512_loadu_ps(src + x));
}

/// 16 real tiles' products of element e from m (fewer at the end: zeros), spread to their lanes among ghosts.
#define LOAD_PRODUCTS(e) _mm512_maskz_loadu_ps(count, m + (e) * mstride + real0)

AVX512
void wino_f23_output_rows_avx512(const float *m, long mstride, long tiles_w, long rows, float bias, int act,
                                 float *out, long out_rows, long ow, float *scratch) {
    const long per_row = tiles_w + 1, total = rows * per_row, ystride = 2 * total + 32;
    float *y = scratch;   // y[r * ystride + 2 k + c]: row r, column c of tile k (ghosts too)
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512 b = _mm512_set1_ps(bias);
    for (long k0 = 0; k0 < total; k0 += 16) {
        const __mmask16 real = real_tiles(k0, per_row, total);
        const __mmask16 count = lanes(__builtin_popcount(real));
        const long real0 = k0 - k0 / per_row;
        for (int r = 0; r < 2; r++) {
            __m512 c[4];   // row r of A^T m, columns 0-3
            for (int j = 0; j < 4; j++) {
                const __m512 m1 = LOAD_PRODUCTS(4 + j), m2 = LOAD_PRODUCTS(8 + j);
                const __m512 s = r == 0 ? LOAD_PRODUCTS(j) + m1 + m2 : m1 - m2 - LOAD_PRODUCTS(12 + j);
                c[j] = _mm512_maskz_expand_ps(real, s);
            }
            const __m512 ye = activate16(c[0] + c[1] + c[2] + b, act), yo = activate16(c[1] - c[2] - c[3] + b, act);
            _mm512_storeu_ps(y + r * ystride + 2 * k0, _mm512_permutex2var_ps(ye, lo, yo));
            _mm512_storeu_ps(y + r * ystride + 2 * k0 + 16, _mm512_permutex2var_ps(ye, hi, yo));
        }
    }
    for (long q = 0; q < rows; q++)
        for (long r = 0; r < 2 && 2 * q + r < out_rows; r++)
            copy_row(y + r * ystride + 2 * q * per_row, out + (2 * q + r) * ow, ow);
}

/// A^T on six vectors: four combinations.
static inline __attribute__((always_inline)) AVX512 void at6_vec(const __m512 *a, __m512 *y) {
    const __m512 p = a[1] + a[2], mi = a[1] - a[2], p2 = a[3] + a[4], m2 = a[3] - a[4];
    y[0] = a[0] + p + p2;
    y[1] = mi + 2 * m2;
    y[2] = p + 4 * p2;
    y[3] = mi + 8 * m2 + a[5];
}

AVX512
void wino_f43_output_rows_avx512(const float *m, long mstride, long tiles_w, long rows, float bias, int act,
                                 float *out, long out_rows, long ow, float *scratch) {
    const long per_row = tiles_w + 1, total = rows * per_row, ystride = 4 * total + 64;
    float *y = scratch;   // y[r * ystride + 4 k + c]: row r, column c of tile k (ghosts too)
    // Interleaving 4 phases of 16 tiles: pairs (0, 1) and (2, 3) lane by lane, then the pairs two by two.
    const __m512i pairs = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i quads = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i eight = _mm512_set1_epi32(8);
    const __m512 b = _mm512_set1_ps(bias);
    for (long k0 = 0; k0 < total; k0 += 16) {
        const __mmask16 real = real_tiles(k0, per_row, total);
        const __mmask16 count = lanes(__builtin_popcount(real));
        const long real0 = k0 - k0 / per_row;
        __m512 s[4][6];   // s[r][j]: row r, column j of A^T m
        for (int j = 0; j < 6; j++) {
            __m512 a[6], t[4];
            for (int i = 0; i < 6; i++) a[i] = LOAD_PRODUCTS(6 * i + j);
            at6_vec(a, t);
            for (int r = 0; r < 4; r++) s[r][j] = _mm512_maskz_expand_ps(real, t[r]);
        }
        for (int r = 0; r < 4; r++) {
            __m512 ph[4];
            at6_vec(s[r], ph);
            for (int c = 0; c < 4; c++) ph[c] = activate16(ph[c] + b, act);
            const __m512 p01lo = _mm512_permutex2var_ps(ph[0], pairs, ph[1]);
            const __m512 p01hi = _mm512_permutex2var_ps(ph[0], _mm512_add_epi32(pairs, eight), ph[1]);
            const __m512 p23lo = _mm512_permutex2var_ps(ph[2], pairs, ph[3]);
            const __m512 p23hi = _mm512_permutex2var_ps(ph[2], _mm512_add_epi32(pairs, eight), ph[3]);
            float *dst = y + r * ystride + 4 * k0;
            _mm512_storeu_ps(dst, _mm512_permutex2var_ps(p01lo, quads, p23lo));
            _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(p01lo, _mm512_add_epi32(quads, eight), p23lo));
            _mm512_storeu_ps(dst + 32, _mm512_permutex2var_ps(p01hi, quads, p23hi));
            _mm512_storeu_ps(dst + 48, _mm512_permutex2var_ps(p01hi, _mm512_add_epi32(quads, eight), p23hi));
        }
    }
    for (long q = 0; q < rows; q++)
        for (long r = 0; r < 4 && 4 * q + r < out_rows; r++)
            copy_row(y + r * ystride + 4 * q * per_row, out + (4 * q + r) * ow, ow);
}
