#define _GNU_SOURCE  // SCHED_IDLE
// See include/ckernels.h. (The Winograd transforms are in winograd.c.)
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
void axpy_strided(float k, const float *restrict s, long sw, float *restrict a, long n) {
    if (sw == 1) {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long x = 0; x < n; x++) a[x] += k * s[x];
    }
    else if (sw == 2) {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long x = 0; x < n; x++) a[x] += k * s[2 * x];
    }
    else {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long x = 0; x < n; x++) a[x] += k * s[x * sw];
    }
}

CLONES
void depthwise_plane(const float *pad, long pw, const float *kern, long kh, long kw, long sh, long sw,
                     long dh, long dw, float bias, int act, float *dst, long oh, long ow, float *acc) {
    float *restrict a = acc;
    for (long y = 0; y < oh; y++) {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long x = 0; x < ow; x++) a[x] = bias;
        for (long i = 0; i < kh; i++) {
            const float *restrict row = pad + (y * sh + i * dh) * pw;
            for (long j = 0; j < kw; j++) {
                const float k = kern[i * kw + j];
                const float *restrict s = row + j * dw;
                axpy_strided(k, s, sw, a, ow);
            }
        }
        float *restrict d = dst + y * ow;
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long x = 0; x < ow; x++) d[x] = activate(a[x], act);
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

static inline __attribute__((always_inline))
void axpy_flat(float k, const float *restrict src, long s, float *restrict a, long n) {
    if (s == 1) {
        #pragma clang loop vectorize_width(16) interleave_count(2) vectorize_predicate(enable)
        for (long v = 0; v < n; v++) a[v] += k * src[v];
    } else {
        #pragma clang loop vectorize_width(8) interleave_count(1) vectorize_predicate(enable)
        for (long v = 0; v < n; v++) a[v] += k * src[s * v];
    }
}

CLONES
void depthwise_plane_flat(const float *pad, long pw, const float *kern, long kh, long kw, long s,
                          long dh, long dw, float bias, int act, float *dst, long oh, long ow, float *acc) {
    const long n = oh * pw;
    for (long v = 0; v < n; v++) acc[v] = bias;
    for (long i = 0; i < kh; i++)
        for (long j = 0; j < kw; j++)
            axpy_flat(kern[i * kw + j], pad + i * dh * pw + j * dw, s, acc, n);
    for (long y = 0; y < oh; y++)
        for (long x = 0; x < ow; x++) dst[y * ow + x] = activate(acc[y * pw + x], act);
}

static inline __attribute__((always_inline))
void gather2(const float *restrict src, float *restrict dst, long n) {
    #pragma clang loop vectorize_width(8) interleave_count(1)
    for (long x = 0; x < n; x++) dst[x] = src[2 * x];
}

CLONES
void depthwise_plane_s2(const float *pad, long ph, long pw, const float *kern, long kh, long kw,
                        float bias, int act, float *dst, long oh, long ow, float *scratch) {
    const long qw = pw / 2 + kw / 2 + 1, qh = oh + kh / 2 + 1, plane = qh * qw;
    float *q = scratch, *acc = scratch + 4 * plane;
    for (int rp = 0; rp < 2; rp++)
        for (int cp = 0; cp < 2; cp++) {
            float *d = q + (rp * 2 + cp) * plane;
            long inside = (pw - cp + 1) / 2;          // columns 2 xx + cp < pw
            if (inside > qw) inside = qw;
            for (long yy = 0; yy < qh; yy++) {
                long y = 2 * yy + rp;
                float *row = d + yy * qw;
                if (y >= ph) {
                    memset(row, 0, sizeof(float) * qw);
                    continue;
                }
                gather2(pad + y * pw + cp, row, inside);
                memset(row + inside, 0, sizeof(float) * (qw - inside));
            }
        }
    const long n = oh * qw;
    for (long v = 0; v < n; v++) acc[v] = bias;
    for (long i = 0; i < kh; i++)
        for (long j = 0; j < kw; j++)
            axpy_flat(kern[i * kw + j], q + ((i & 1) * 2 + (j & 1)) * plane + (i / 2) * qw + j / 2, 1, acc, n);
    for (long y = 0; y < oh; y++)
        for (long x = 0; x < ow; x++) dst[y * ow + x] = activate(acc[y * qw + x], act);
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
