// The activation codes of include/ckernels.h as scalar and AVX-512 functions, one formula each,
// for the files that fuse an activation into their stores.
#ifndef CKERNELS_ACTIVATION_H
#define CKERNELS_ACTIVATION_H

#include <immintrin.h>

static inline float relu6f(float v) { return v < 0 ? 0 : (v > 6 ? 6 : v); }

// Hardswish and Hardsigmoid as torch computes them: x * relu6(x + 3) / 6 and relu6(x + 3) / 6.
static inline float activate(float v, int act) {
    if (act == 1) return v > 0 ? v : 0;
    if (act == 2) return relu6f(v);
    if (act == 3) return v * relu6f(v + 3) / 6;
    if (act == 4) return relu6f(v + 3) / 6;
    return v;
}

// The same on 16 lanes. (max(v, 0) gives +0 for -0, as the scalar `v > 0 ? v : 0` does.)
static inline __attribute__((always_inline, target("avx512f")))
__m512 activate16(__m512 v, int act) {
    const __m512 zero = _mm512_setzero_ps(), three = _mm512_set1_ps(3), six = _mm512_set1_ps(6);
    switch (act) {
    case 1: return _mm512_max_ps(v, zero);
    case 2: return _mm512_min_ps(_mm512_max_ps(v, zero), six);
    case 3: return _mm512_div_ps(_mm512_mul_ps(v, _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, three), zero), six)), six);
    case 4: return _mm512_div_ps(_mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, three), zero), six), six);
    default: return v;
    }
}

#endif
