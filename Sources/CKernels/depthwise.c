// See include/ckernels.h, "Channel-blocked depthwise convolution". The layout is ncnn's packed
// depthwise (pack4/pack8 there, 16 here): with 16 channels interleaved, one output pixel of a block
// is one 16-lane vector and every tap is one vector multiply-add, whatever the plane's width, stride
// or dilation, where a plane-by-plane sweep leaves 7- and 14-wide rows mostly to loop tails.
//
// Vectors are clang/GCC vector extensions, not intrinsics, so that each target_clones clone lowers
// them to its own ISA (AVX-512: one register per vector; AVX2 and SSE: two or four).
#include "ckernels.h"
#include <stdint.h>
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define INLINE static inline __attribute__((always_inline))
#define LANES 16

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

// Vectors pass between functions by pointer and the small helpers are macros: a 64-byte vector
// passed by value has no ABI in the AVX2 and baseline clones (clang refuses it, even inlined).
// Loads and stores go through memcpy: planes start at any float, and float memory is not v16
// memory to the aliasing rules.
#define LOAD(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE(p, v) ({ v16 v_ = (v); memcpy((p), &v_, sizeof v_); })
#define SPLAT(f) ((v16){0} + (f))

// In-register 16x16 transpose in four rounds of 16 two-source shuffles (the unpcklps, unpcklpd,
// shuff32x4, shuff32x4 sequence of AVX-512; clang maps each mask below to one such instruction).
#define UNPACKLO_PS(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29)
#define UNPACKHI_PS(a, b) __builtin_shufflevector(a, b, 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31)
#define UNPACKLO_PD(a, b) __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
#define UNPACKHI_PD(a, b) __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31)
#define LANES_02(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
#define LANES_13(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31)

/// r[i][j] <- r[j][i]. After the two unpack rounds, 128-bit lane k of vector 4 g + m holds column
/// 4 k + m of rows 4 g ..< 4 g + 4; the two lane rounds gather those four lanes into one vector.
INLINE void transpose16(v16 r[LANES]) {
    v16 t[LANES], u[LANES];
    for (int i = 0; i < LANES; i += 4) {
        t[i] = UNPACKLO_PS(r[i], r[i + 1]);
        t[i + 1] = UNPACKHI_PS(r[i], r[i + 1]);
        t[i + 2] = UNPACKLO_PS(r[i + 2], r[i + 3]);
        t[i + 3] = UNPACKHI_PS(r[i + 2], r[i + 3]);
        u[i] = UNPACKLO_PD(t[i], t[i + 2]);
        u[i + 1] = UNPACKHI_PD(t[i], t[i + 2]);
        u[i + 2] = UNPACKLO_PD(t[i + 1], t[i + 3]);
        u[i + 3] = UNPACKHI_PD(t[i + 1], t[i + 3]);
    }
    for (int m = 0; m < 4; m++) {
        t[m] = LANES_02(u[m], u[4 + m]);        // lanes 0, 2 of row groups 0, 1
        t[4 + m] = LANES_13(u[m], u[4 + m]);    // lanes 1, 3
        t[8 + m] = LANES_02(u[8 + m], u[12 + m]);
        t[12 + m] = LANES_13(u[8 + m], u[12 + m]);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = LANES_02(t[m], t[8 + m]);        // columns m, 4 + m, 8 + m, 12 + m
        r[4 + m] = LANES_02(t[4 + m], t[12 + m]);
        r[8 + m] = LANES_13(t[m], t[8 + m]);
        r[12 + m] = LANES_13(t[4 + m], t[12 + m]);
    }
}

// The activations of kernels.c's `activate`, as selects so that NaN and the comparisons match it.
#define SELECT(m, a, b) ((v16)(((v16i)(a) & (m)) | ((v16i)(b) & ~(m))))
#define RELU6(v) ({ v16 u_ = (v), z_ = {0}, six_ = SPLAT(6.0f); u_ = SELECT(u_ < z_, z_, u_); SELECT(u_ > six_, six_, u_); })

/// act applied to each of the 16 vectors (one switch for all of them).
INLINE void activate16(v16 r[LANES], int act) {
    const v16 zero = {0}, three = SPLAT(3.0f), six = SPLAT(6.0f);
    switch (act) {
    case 1: for (int i = 0; i < LANES; i++) r[i] = SELECT(r[i] > zero, r[i], zero); break;
    case 2: for (int i = 0; i < LANES; i++) r[i] = RELU6(r[i]); break;
    case 3: for (int i = 0; i < LANES; i++) r[i] = r[i] * RELU6(r[i] + three) / six; break;
    case 4: for (int i = 0; i < LANES; i++) r[i] = RELU6(r[i] + three) / six; break;
    default: break;
    }
}

void depthwise_pack_weights(const float *w, const float *bias, long c, long taps, float *wt, float *bt) {
    const long blocks = (c + LANES - 1) / LANES;
    memset(wt, 0, sizeof(float) * blocks * taps * LANES);
    memset(bt, 0, sizeof(float) * blocks * LANES);
    for (long ch = 0; ch < c; ch++) {
        const long b = ch / LANES, l = ch % LANES;
        for (long t = 0; t < taps; t++) wt[(b * taps + t) * LANES + l] = w[ch * taps + t];
        bt[ch] = bias[ch];
    }
}

/// Row length of the interleaved buffer, in pixels: the input and its left padding, or what the
/// taps reach, whichever is longer.
static long row_pixels(const depthwise_geometry *g) {
    const long reach = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    return g->left + g->w > reach ? g->left + g->w : reach;
}

// Output rows per band: the band's input rows and outputs stay within this many bytes, in L2
// (1 MiB a core on Zen 4/5, 2 MiB on recent Xeons) beside the planes streaming through it.
static const long band_bytes = 192 << 10;

static long band_rows(const depthwise_geometry *g) {
    const long rs = row_pixels(g), halo = (g->kh - 1) * g->dh + 1;
    long b = (band_bytes / (LANES * (long)sizeof(float)) - halo * rs) / (g->sh * rs + g->ow);
    if (b < 1) b = 1;
    return b < g->oh ? b : g->oh;
}

long depthwise_scratch_floats(const depthwise_geometry *g) {
    const long b = band_rows(g), in_rows = (b - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    // + one group of 16 pixels that the last transpose of a band reads past its end, + alignment
    return LANES * (in_rows * row_pixels(g) + b * g->ow + LANES) + LANES;
}

/// Prefetches the cache lines of n floats from p (for writing if `write`), at most 64 KiB of them.
INLINE void prefetch_lines(const float *p, long n, int write) {
    if (n > (64 << 10) / (long)sizeof(float)) n = (64 << 10) / (long)sizeof(float);
    for (long i = 0; i < n; i += 64 / sizeof(float)) {
        if (write) __builtin_prefetch(p + i, 1);
        else __builtin_prefetch(p + i, 0);
    }
}

/// Interleaves input rows ia ..< ib of the block's planes (flattened: a group of 16 pixels may span
/// rows) into buffer rows from `dst`, rs pixels apart, from column `left` on.
INLINE void pack_rows(const float *const *planes, long valid, long w, long ia, long ib, float *dst,
                      long rs, long left) {
    const long end = ib * w;
    long col = 0;
    float *d = dst + left * LANES;
    for (long f = ia * w; f < end; f += LANES) {
        const long count = end - f < LANES ? end - f : LANES;
        v16 r[LANES];
        if (valid == LANES && count == LANES) {
            for (int c = 0; c < LANES; c++) r[c] = LOAD(planes[c] + f);
        } else {   // a partial block, or the band's last group: zeros for the missing channels and pixels
            float t[LANES][LANES] = {{0}};
            for (long c = 0; c < valid; c++)
                for (long p = 0; p < count; p++) t[c][p] = planes[c][f + p];
            for (int c = 0; c < LANES; c++) r[c] = LOAD(t[c]);
        }
        transpose16(r);
        if (count == LANES && col + LANES <= w) {   // the group lies within one row
            for (int p = 0; p < LANES; p++) STORE(d + p * LANES, r[p]);
            d += LANES * LANES;
            col += LANES;
        } else {
            float t[LANES][LANES];
            for (int p = 0; p < LANES; p++) STORE(t[p], r[p]);
            for (long p = 0; p < count; p++) {
                memcpy(d, t[p], sizeof t[p]);
                d += LANES;
                if (++col == w) {   // on to the next row's first input column
                    col = 0;
                    d += (rs - w) * LANES;
                }
            }
            continue;
        }
        if (col == w) {
            col = 0;
            d += (rs - w) * LANES;
        }
    }
}

/// Writes n interleaved output pixels to the block's planes (flattened rows), activated.
INLINE void unpack_pixels(const float *src, long n, float *const *planes, long valid, int act) {
    for (long f = 0; f < n; f += LANES) {
        const long count = n - f < LANES ? n - f : LANES;
        v16 r[LANES];
        for (int p = 0; p < LANES; p++) r[p] = LOAD(src + (f + p) * LANES);
        transpose16(r);
        activate16(r, act);
        if (valid == LANES && count == LANES) {
            for (int c = 0; c < LANES; c++) STORE(planes[c] + f, r[c]);
        } else {
            float t[LANES][LANES];
            for (int c = 0; c < LANES; c++) STORE(t[c], r[c]);
            for (long c = 0; c < valid; c++)
                for (long p = 0; p < count; p++) planes[c][f + p] = t[c][p];
        }
    }
}

/// One output row, interleaved: out[x] = bias + sum_ij wt[i kw + j] * in[i rstride + (x sw + j dw) 16],
/// in being the row's first buffer row; four pixels at a time, so that each weight vector loaded
/// serves four multiply-adds.
INLINE void conv_row(const float *in, long rstride, const float *restrict wt, const float *bias, long kh, long kw,
                     long sw, long dw, long ow, float *restrict out) {
    long x = 0;
    for (; x + 4 <= ow; x += 4) {
        v16 a0 = LOAD(bias), a1 = a0, a2 = a0, a3 = a0;
        for (long i = 0; i < kh; i++) {
            const float *r = in + i * rstride + x * sw * LANES;
            for (long j = 0; j < kw; j++) {
                const v16 k = LOAD(wt + (i * kw + j) * LANES);
                const float *s = r + j * dw * LANES;
                a0 += k * LOAD(s);
                a1 += k * LOAD(s + sw * LANES);
                a2 += k * LOAD(s + 2 * sw * LANES);
                a3 += k * LOAD(s + 3 * sw * LANES);
            }
        }
        STORE(out + x * LANES, a0);
        STORE(out + (x + 1) * LANES, a1);
        STORE(out + (x + 2) * LANES, a2);
        STORE(out + (x + 3) * LANES, a3);
    }
    for (; x < ow; x++) {
        v16 a = LOAD(bias);
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++)
                a += LOAD(wt + (i * kw + j) * LANES) * LOAD(in + i * rstride + (x * sw + j * dw) * LANES);
        STORE(out + x * LANES, a);
    }
}

/// Output rows y0 ..< y1 of a band whose buffer row 0 is padded input row y0 * sh; the common
/// kernels with their sizes and strides as constants, so that the tap loops unroll.
INLINE void conv_band(const depthwise_geometry *g, const float *buf, long rs, long y0, long y1,
                      const float *wt, const float *bias, float *out) {
    const long rstride = g->dh * rs * LANES, ow = g->ow;
    const int unit = g->dw == 1;
    for (long y = y0; y < y1; y++) {
        const float *in = buf + (y - y0) * g->sh * rs * LANES;
        float *o = out + (y - y0) * ow * LANES;
        if (unit && g->kh == 3 && g->kw == 3 && g->sw == 1) conv_row(in, rstride, wt, bias, 3, 3, 1, 1, ow, o);
        else if (unit && g->kh == 3 && g->kw == 3 && g->sw == 2) conv_row(in, rstride, wt, bias, 3, 3, 2, 1, ow, o);
        else if (unit && g->kh == 5 && g->kw == 5 && g->sw == 1) conv_row(in, rstride, wt, bias, 5, 5, 1, 1, ow, o);
        else if (unit && g->kh == 5 && g->kw == 5 && g->sw == 2) conv_row(in, rstride, wt, bias, 5, 5, 2, 1, ow, o);
        else conv_row(in, rstride, wt, bias, g->kh, g->kw, g->sw, g->dw, ow, o);
    }
}

CLONES
void depthwise_blocked(const float *x, const depthwise_geometry *g, const float *wt, const float *bt, int act,
                       long block, long y0, long y1, float *out, float *scratch) {
    const long c0 = block * LANES, valid = g->c - c0 < LANES ? g->c - c0 : LANES;
    const long taps = g->kh * g->kw, rs = row_pixels(g), band = band_rows(g);
    const long plane = g->h * g->w, oplane = g->oh * g->ow;
    float *buf = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const float *in[LANES];
    float *dst[LANES];
    for (long c = 0; c < valid; c++) {
        in[c] = x + (c0 + c) * plane;
        dst[c] = out + (c0 + c) * oplane;
    }
    wt += block * taps * LANES;
    const float *bias = bt + block * LANES;
    // The next unit of work (the next block, or the next image's first) reads the 16 planes after
    // ours and writes the 16 after our outputs; planes of 7 to 28 columns are too short to train
    // the hardware prefetcher, so they are fetched while this block computes. Prefetches do not
    // fault, past the end of a tensor either.
    if (y0 == 0 && y1 == g->oh) {
        prefetch_lines(x + (c0 + LANES) * plane, LANES * plane, 0);
        prefetch_lines(out + (c0 + LANES) * oplane, LANES * oplane, 1);
    }

    for (long b0 = y0; b0 < y1; b0 += band) {
        const long b1 = b0 + band < y1 ? b0 + band : y1;
        const long pa = b0 * g->sh, rows = (b1 - 1 - b0) * g->sh + (g->kh - 1) * g->dh + 1;
        float *obuf = buf + rows * rs * LANES;
        // Padding columns and rows are zero; every other buffer float is overwritten below.
        for (long r = 0; r < rows; r++) {
            float *row = buf + r * rs * LANES;
            const long iy = pa + r - g->top;
            if (iy < 0 || iy >= g->h) {
                memset(row, 0, sizeof(float) * rs * LANES);
                continue;
            }
            memset(row, 0, sizeof(float) * g->left * LANES);
            memset(row + (g->left + g->w) * LANES, 0, sizeof(float) * (rs - g->left - g->w) * LANES);
        }
        long ia = pa - g->top, ib = pa + rows - g->top;
        if (ia < 0) ia = 0;
        if (ib > g->h) ib = g->h;
        if (ia < ib) pack_rows(in, valid, g->w, ia, ib, buf + (ia + g->top - pa) * rs * LANES, rs, g->left);

        conv_band(g, buf, rs, b0, b1, wt, bias, obuf);
        // unpack_pixels reads the last group whole: its pixels past the band's are zeros.
        memset(obuf + (b1 - b0) * g->ow * LANES, 0, sizeof(float) * LANES * LANES);
        float *o[LANES];
        for (long c = 0; c < valid; c++) o[c] = dst[c] + b0 * g->ow;
        unpack_pixels(obuf, (b1 - b0) * g->ow, o, valid, act);
    }
}
