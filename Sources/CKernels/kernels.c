#define _GNU_SOURCE  // SCHED_IDLE
// See include/ckernels.h. (The Winograd transforms are in winograd.c.)
#include "ckernels.h"
#include "activation.h"
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

// Loops are vectorised 8 wide without unrolling, with masked tails where the ISA has masks; small
// loops take restrict parameters, whose no-alias promise clang keeps when it inlines them.
CLONES
void gather_strided(const float *restrict src, long stride, float *restrict dst, long n) {
    if (stride == 2) {
        #pragma clang loop vectorize_width(8) interleave_count(1)
        for (long x = 0; x < n; x++) dst[x] = src[2 * x];
    } else {
        for (long x = 0; x < n; x++) dst[x] = src[x * stride];
    }
}

CLONES
void deinterleave_row(const float *restrict line, long s, const long *x0, const long *x1, long width,
                      float *restrict out, long ld) {
    // [lo, hi): the columns every row fills; each row's columns outside it, and its zeros, apart.
    long lo = 0, hi = width;
    for (long d = 0; d < s; d++) {
        float *row = out + d * ld;
        for (long x = 0; x < x0[d]; x++) row[x] = 0;
        for (long x = x1[d]; x < width; x++) row[x] = 0;
        lo = x0[d] > lo ? x0[d] : lo;
        hi = x1[d] < hi ? x1[d] : hi;
    }
    if (hi < lo) hi = lo;
    for (long d = 0; d < s; d++) {
        const long a = x1[d] < lo ? x1[d] : lo, b = x0[d] > hi ? x0[d] : hi;
        if (a > x0[d]) gather_strided(line + s * x0[d] + d, s, out + d * ld + x0[d], a - x0[d]);
        if (x1[d] > b) gather_strided(line + s * b + d, s, out + d * ld + b, x1[d] - b);
    }
    if (s == 4) {
        // Four rows at once: each 4-float group of the line goes one float to each row. (AlexNet's
        // stem, batch 32, one thread: 1.7 ms against 4.0 by gather_strided row by row.)
        #pragma clang loop vectorize_width(8) interleave_count(1)
        for (long x = lo; x < hi; x++) {
            out[x] = line[4 * x];
            out[ld + x] = line[4 * x + 1];
            out[2 * ld + x] = line[4 * x + 2];
            out[3 * ld + x] = line[4 * x + 3];
        }
        return;
    }
    for (long d = 0; d < s; d++) gather_strided(line + s * lo + d, s, out + d * ld + lo, hi - lo);
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
