// See include/resample.h.
#include "resample.h"

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define PRECISION_BITS 22

static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << (PRECISION_BITS + 8))) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

CLONES
void resample_rgb8_horizontal(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
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
