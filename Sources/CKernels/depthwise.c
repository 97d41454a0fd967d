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

/// Input rows that `rows` output rows read.
static long band_input_rows(const depthwise_geometry *g, long rows) {
    return (rows - 1) * g->sh + (g->kh - 1) * g->dh + 1;
}

long depthwise_scratch_floats(const depthwise_geometry *g) {
    const long b = band_rows(g), outputs = b * g->ow < LANES ? LANES : b * g->ow;
    // + 16 floats to align the buffer to a cache line
    return LANES * (band_input_rows(g, b) * row_pixels(g) + outputs) + LANES;
}

/// Prefetches the cache lines of n floats from p (for writing if `write`), at most 64 KiB of them.
INLINE void prefetch_lines(const float *p, long n, int write) {
    if (n > (64 << 10) / (long)sizeof(float)) n = (64 << 10) / (long)sizeof(float);
    for (long i = 0; i < n; i += 64 / sizeof(float)) {
        if (write) __builtin_prefetch(p + i, 1);
        else __builtin_prefetch(p + i, 0);
    }
}

// Floats ahead of the pack loads that each plane is prefetched (512 bytes; 256 and 1024 did worse).
static const long prefetch_ahead = 128;

/// v[p] = 0 for p < n: the padding around the input. Vector stores, not memset: these runs are a
/// few pixels long, and a libc call costs more than they do.
INLINE void zero_pixels(float *v, long n) {
    const v16 zero = {0};
    for (long p = 0; p < n; p++) STORE(v + p * LANES, zero);
}

/// Interleaves input rows ia ..< ib of the block's planes into buffer rows from `dst` (rs pixels apart,
/// from column `left` on), 16 pixels of the flattened rows at a time: a group may span rows, and the
/// last one starts 16 pixels before the end, overlapping the one before it, so that every group is
/// whole (repacking a pixel writes what is there already). Fewer than 16 pixels go one by one.
INLINE void pack_rows(const float *const *planes, long valid, long w, long ia, long ib, float *dst,
                      long rs, long left) {
    const long start = ia * w, end = ib * w;
    if (end - start < LANES) {
        for (long f = start; f < end; f++) {
            float *d = dst + ((f - start) / w * rs + left + (f - start) % w) * LANES;
            for (long c = 0; c < LANES; c++) d[c] = c < valid ? planes[c][f] : 0;
        }
        return;
    }
    long col = 0;
    float *d = dst + left * LANES;
    for (long f = start; f < end; f += LANES) {
        if (f + LANES > end) {
            f = end - LANES;
            col = (f - start) % w;
            d = dst + ((f - start) / w * rs + left + col) * LANES;
        }
        v16 r[LANES];
        if (valid == LANES) {
            // 16 streams at once are more than the hardware prefetcher follows well (5-10% on 56- and
            // 112-wide planes); on short planes this fetches the next plane's start, read soon too.
            for (int c = 0; c < LANES; c++) __builtin_prefetch(planes[c] + f + prefetch_ahead);
            for (int c = 0; c < LANES; c++) r[c] = LOAD(planes[c] + f);
        } else {
            for (int c = 0; c < LANES; c++) r[c] = c < valid ? LOAD(planes[c] + f) : (v16){0};
        }
        transpose16(r);
        if (col + LANES <= w) {   // the group lies within one row
            for (int p = 0; p < LANES; p++) STORE(d + p * LANES, r[p]);
            d += LANES * LANES;
            col += LANES;
            if (col == w) {
                col = 0;
                d += (rs - w) * LANES;
            }
        } else {
            for (int p = 0; p < LANES; p++) {
                STORE(d, r[p]);
                d += LANES;
                if (++col == w) {   // on to the next row's first input column
                    col = 0;
                    d += (rs - w) * LANES;
                }
            }
        }
    }
}

/// Writes n interleaved output pixels to the block's planes (flattened rows), activated; the last
/// group overlaps the one before it, as in pack_rows. src holds at least 16 pixels.
INLINE void unpack_pixels(const float *src, long n, float *const *planes, long valid, int act) {
    for (long f = 0; f < n; f += LANES) {
        const long count = n < LANES ? n : LANES;
        if (f + count > n) f = n - count;
        v16 r[LANES];
        for (int p = 0; p < LANES; p++) r[p] = LOAD(src + (f + p) * LANES);
        transpose16(r);
        activate16(r, act);
        if (count == LANES) {
            #pragma clang loop unroll(full)
            for (int c = 0; c < LANES; c++) {
                if (c >= valid) break;
                STORE(planes[c] + f, r[c]);
            }
        } else {
            float t[LANES][LANES];
            for (int c = 0; c < LANES; c++) STORE(t[c], r[c]);
            for (long c = 0; c < valid; c++)
                for (long p = 0; p < count; p++) planes[c][f + p] = t[c][p];
        }
    }
}

/// Output pixels q < n of a band, flattened (q = y ow + x, y from the band's first row), interleaved:
/// out[q] = bias + sum_ij wt[i kw + j] * buf[(y sh + i dh) rs + x sw + j dw]. Four pixels at a time,
/// each from its own position (a block may span rows), so that each weight vector loaded serves four
/// multiply-adds and only a band's last pixels go one by one.
INLINE void conv_pixels(const float *buf, long rs, long sh, long dh, const float *restrict wt, const float *bias,
                        long kh, long kw, long sw, long dw, long ow, long n, float *restrict out) {
    const long rstride = dh * rs * LANES, step = sw * LANES, wrap = (sh * rs - ow * sw) * LANES;
    const float *p = buf;
    long x = 0, q = 0;
#define NEXT(ptr) do { ptr = p; p += step; if (++x == ow) { x = 0; p += wrap; } } while (0)
    for (; q + 4 <= n; q += 4) {
        const float *p0, *p1, *p2, *p3;
        NEXT(p0);
        NEXT(p1);
        NEXT(p2);
        NEXT(p3);
        v16 a0 = LOAD(bias), a1 = a0, a2 = a0, a3 = a0;
        for (long i = 0; i < kh; i++) {
            for (long j = 0; j < kw; j++) {
                const v16 k = LOAD(wt + (i * kw + j) * LANES);
                const long o = i * rstride + j * dw * LANES;
                a0 += k * LOAD(p0 + o);
                a1 += k * LOAD(p1 + o);
                a2 += k * LOAD(p2 + o);
                a3 += k * LOAD(p3 + o);
            }
        }
        STORE(out + q * LANES, a0);
        STORE(out + (q + 1) * LANES, a1);
        STORE(out + (q + 2) * LANES, a2);
        STORE(out + (q + 3) * LANES, a3);
    }
    for (; q < n; q++) {
        const float *p0;
        NEXT(p0);
        v16 a = LOAD(bias);
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++)
                a += LOAD(wt + (i * kw + j) * LANES) * LOAD(p0 + i * rstride + j * dw * LANES);
        STORE(out + q * LANES, a);
    }
#undef NEXT
}

/// conv_pixels with the common kernels' sizes and strides as constants, so that the tap loops unroll.
INLINE void conv_band(const depthwise_geometry *g, const float *buf, long rs, long n, const float *wt,
                      const float *bias, float *out) {
    const long sh = g->sh, dh = g->dh, ow = g->ow;
    const int unit = g->dw == 1;
    if (unit && g->kh == 3 && g->kw == 3 && g->sw == 1) conv_pixels(buf, rs, sh, dh, wt, bias, 3, 3, 1, 1, ow, n, out);
    else if (unit && g->kh == 3 && g->kw == 3 && g->sw == 2) conv_pixels(buf, rs, sh, dh, wt, bias, 3, 3, 2, 1, ow, n, out);
    else if (unit && g->kh == 5 && g->kw == 5 && g->sw == 1) conv_pixels(buf, rs, sh, dh, wt, bias, 5, 5, 1, 1, ow, n, out);
    else if (unit && g->kh == 5 && g->kw == 5 && g->sw == 2) conv_pixels(buf, rs, sh, dh, wt, bias, 5, 5, 2, 1, ow, n, out);
    else conv_pixels(buf, rs, sh, dh, wt, bias, g->kh, g->kw, g->sw, g->dw, ow, n, out);
}

// no_builtin: clang would turn zero_pixels' loops back into memset calls.
CLONES __attribute__((no_builtin("memset")))
void depthwise_blocked(const float *x, const depthwise_geometry *g, const float *wt, const float *bt, int act,
                       long block, long y0, long y1, float *out, float *scratch) {
    const long c0 = block * LANES, valid = g->c - c0 < LANES ? g->c - c0 : LANES;
    const long rs = row_pixels(g), band = band_rows(g);
    const long plane = g->plane, oplane = g->oh * g->ow;
    float *buf = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *obuf = buf + band_input_rows(g, band) * rs * LANES;
    const float *in[LANES];
    float *dst[LANES];
    for (long c = 0; c < valid; c++) {
        in[c] = x + (c0 + c) * plane;
        dst[c] = out + (c0 + c) * oplane;
    }
    const float *bias = bt;
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
        const long pa = b0 * g->sh, rows = band_input_rows(g, b1 - b0);
        // Padding columns and rows are zero; every other buffer float is overwritten below.
        for (long r = 0; r < rows; r++) {
            float *row = buf + r * rs * LANES;
            const long iy = pa + r - g->top;
            if (iy < 0 || iy >= g->h) {
                zero_pixels(row, rs);
                continue;
            }
            zero_pixels(row, g->left);
            zero_pixels(row + (g->left + g->w) * LANES, rs - g->left - g->w);
        }
        long ia = pa - g->top, ib = pa + rows - g->top;
        if (ia < 0) ia = 0;
        if (ib > g->h) ib = g->h;
        if (ia < ib) pack_rows(in, valid, g->w, ia, ib, buf + (ia + g->top - pa) * rs * LANES, rs, g->left);

        conv_band(g, buf, rs, (b1 - b0) * g->ow, wt, bias, obuf);
        float *o[LANES];
        for (long c = 0; c < valid; c++) o[c] = dst[c] + b0 * g->ow;
        unpack_pixels(obuf, (b1 - b0) * g->ow, o, valid, act);
    }
}
