#define _GNU_SOURCE  // SCHED_IDLE
// See include/ckernels.h. Winograd F(2x2, 3x3) after Lavin & Gray 2015, section 4:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1].
#include "ckernels.h"
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int lower_thread_priority(void) {
#if defined(__linux__)
    // SCHED_IDLE: runs only on a core nothing else wants, and gives it up at once when a thread of
    // the pass wakes (nice 19 alone can keep it for a scheduler slice). Nice 19 where it is refused.
    struct sched_param none = {0};
    if (sched_setscheduler((pid_t)syscall(SYS_gettid), SCHED_IDLE, &none) == 0) return 0;
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
#else
    return -1;
#endif
}

void retain_large_blocks(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

static inline float relu6f(float v) { return v < 0 ? 0 : (v > 6 ? 6 : v); }

// Hardswish and Hardsigmoid as torch computes them: x * relu6(x + 3) / 6 and relu6(x + 3) / 6.
static inline float activate(float v, int act) {
    if (act == 1) return v > 0 ? v : 0;
    if (act == 2) return relu6f(v);
    if (act == 3) return v * relu6f(v + 3) / 6;
    if (act == 4) return relu6f(v + 3) / 6;
    return v;
}

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

CLONES
void gather_strided(const float *restrict src, long stride, float *restrict dst, long n) {
    if (stride == 2) {
        #pragma clang loop vectorize_width(8) interleave_count(1)
        for (long x = 0; x < n; x++) dst[x] = src[2 * x];
    } else {
        for (long x = 0; x < n; x++) dst[x] = src[x * stride];
    }
}

static inline __attribute__((always_inline))
void max_into(float *restrict acc, const float *restrict src, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1)
    for (long x = 0; x < n; x++) acc[x] = src[x] > acc[x] ? src[x] : acc[x];
}

static inline __attribute__((always_inline))
void max_window(const float *restrict row, long k, long s, float *restrict out, long n) {
    for (long x = 0; x < n; x++) {
        float m = row[x * s];
        for (long j = 1; j < k; j++) m = row[x * s + j] > m ? row[x * s + j] : m;
        out[x] = m;
    }
}

CLONES
void maxpool_plane(const float *src, long h, long w, long k, long s, long p, float *dst, long oh, long ow, float *row) {
    // Vertical max of the window's rows into row (padded with -inf), then the horizontal window.
    const long width = w + 2 * p + k + s * ow;
    for (long y = 0; y < oh; y++) {
        for (long x = 0; x < width; x++) row[x] = -__builtin_inff();
        long y0 = y * s - p, y1 = y0 + k;
        if (y0 < 0) y0 = 0;
        if (y1 > h) y1 = h;
        for (long iy = y0; iy < y1; iy++) max_into(row + p, src + iy * w, w);
        max_window(row, k, s, dst + y * ow, ow);
    }
}

CLONES
void bias_act(const float *src, float *dst, long n, float bias, int act) {
    switch (act) {
    case 1: for (long i = 0; i < n; i++) { float v = src[i] + bias; dst[i] = v > 0 ? v : 0; } break;
    case 2: for (long i = 0; i < n; i++) { float v = src[i] + bias; dst[i] = v < 0 ? 0 : (v > 6 ? 6 : v); } break;
    case 3: for (long i = 0; i < n; i++) { float v = src[i] + bias; dst[i] = v * relu6f(v + 3) / 6; } break;
    case 4: for (long i = 0; i < n; i++) { float v = src[i] + bias; dst[i] = relu6f(v + 3) / 6; } break;
    default: for (long i = 0; i < n; i++) dst[i] = src[i] + bias; break;
    }
}
