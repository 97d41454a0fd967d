// Inner loops of Extract's fast ops that Swift cannot vectorise (it cannot promise that two
// pointers do not alias, and builds for baseline x86-64): plain C with `restrict`, compiled for
// AVX-512, AVX2 and baseline and chosen at load time (target_clones). Their plain-loop oracles
// are in Sources/Extract/Ops/Reference.swift; Tests/ExtractTests/OpsTests.swift compares them.
#ifndef CKERNELS_H
#define CKERNELS_H

#include "resample.h"

/// Gives the calling thread the lowest scheduling priority (nice 19; on Linux nice is per thread).
/// Returns 0, or -1 where it cannot.
int lower_thread_priority(void);

/// Activation codes: 0 none, 1 ReLU, 2 ReLU6, 3 Hardswish, 4 Hardsigmoid (Extract's `Activation`).

/// Winograd F(2x2, 3x3) input transform of one row of tiles of one channel: v[e * vstride + tx]
/// = (B^T d B)[e] for the 4x4 patch d at input rows iy0 ..< iy0 + 4, columns 2 tx - left ..< 2 tx - left + 4
/// (zero outside the h x w plane). scratch holds 18 * tiles_w + 20 floats.
void wino_f23_input_row(const float *plane, long h, long w, long iy0, long left, long tiles_w,
                        float *v, long vstride, float *scratch);

/// Winograd F(2x2, 3x3) output transform of one row of tiles of one output channel: m[e * mstride + tx]
/// are the 16 products; writes act(A^T m A + bias) to out0 (and to out1 unless it is NULL), ow values each.
/// scratch holds 6 * tiles_w floats.
void wino_f23_output_row(const float *m, long mstride, long tiles_w, float bias, int act,
                         float *out0, float *out1, long ow, float *scratch);

/// Winograd F(4x4, 3x3): the same for 6x6 patches at input rows iy0 ..< iy0 + 6, columns
/// 4 tx - left ..< 4 tx - left + 6; v[e * vstride + tx] for e < 36. scratch holds 52 * tiles_w + 64 floats.
void wino_f43_input_row(const float *plane, long h, long w, long iy0, long left, long tiles_w,
                        float *v, long vstride, float *scratch);

/// Winograd F(4x4, 3x3) output transform: act(A^T m A + bias) for one row of tiles, written to the
/// first `rows` (at most 4) rows of out, ow floats apart. scratch holds 28 * tiles_w floats.
void wino_f43_output_row(const float *m, long mstride, long tiles_w, float bias, int act,
                         float *out, long rows, long ow, float *scratch);

/// Winograd F(4x4, 3x3) filter transform, in double: u[e * ustride + f] = (G g G^T)[e] for the
/// 3x3 filters g = w + 9 f, f < count.
void wino_f43_weights(const float *w, long count, float *u, long ustride);

/// AVX-512 forms (winograd.c; callers check gemm_packed_available() first) of the four row
/// transforms above over `rows` consecutive rows of tiles of one plane at once: input rows
/// iy0 + 2 q (F(2x2)) or iy0 + 4 q (F(4x4)) for row of tiles q, tiles numbered q * tiles_w + tx in v;
/// outputs written to the first out_rows rows of out (row q's first at out + 2 q ow or 4 q ow).
/// scratch holds wino_rows_scratch(rows, tiles_w) floats.
void wino_f23_input_rows_avx512(const float *plane, long h, long w, long iy0, long left, long tiles_w, long rows,
                                float *v, long vstride, float *scratch);
void wino_f43_input_rows_avx512(const float *plane, long h, long w, long iy0, long left, long tiles_w, long rows,
                                float *v, long vstride, float *scratch);
void wino_f23_output_rows_avx512(const float *m, long mstride, long tiles_w, long rows, float bias, int act,
                                 float *out, long out_rows, long ow, float *scratch);
void wino_f43_output_rows_avx512(const float *m, long mstride, long tiles_w, long rows, float bias, int act,
                                 float *out, long out_rows, long ow, float *scratch);
static inline long wino_rows_scratch(long rows, long tiles_w) { return 24 * rows * (tiles_w + 1) + 480; }

/// dst[i] = act(src[i] + bias) for i < n; src may be dst.
void bias_act(const float *src, float *dst, long n, float bias, int act);

/// dst[x] = src[x * stride] for x < n: an im2col row of a strided convolution.
void gather_strided(const float *src, long stride, float *dst, long n);
/// Space to depth of one input row: out[d * ld + x] = line[s x + d] for d < s and x in [x0[d], x1[d]),
/// zero for the rest of [0, width).
void deinterleave_row(const float *line, long s, const long *x0, const long *x1, long width, float *out, long ld);

/// One plane of max pooling (kernel k, stride s, padding p counted as -inf): src h x w -> dst oh x ow.
/// row holds w + 2 p + k + s * ow floats.
void maxpool_plane(const float *src, long h, long w, long k, long s, long p, float *dst, long oh, long ow, float *row);

/// Has glibc keep freed large blocks in its heap for reuse (mallopt's mmap and trim thresholds
/// at 1 GiB) instead of returning them to the system; no effect on other C libraries.
void retain_large_blocks(void);


// Convolution as a packed-weight matrix product (gemm.c), for layers whose weights are fixed:
// the weights A [M, K] (K = C kH kW) are packed once by gemm_pack_weights into panels of 8 rows,
// [ceil(M / 8) * 8 * K] floats with zero rows past M. conv_gemm then computes output rows
// [rows0, rows1) (rows0 a multiple of 8) and columns [col0, col1) of the product with the im2col
// matrix of x, columns numbered over (image, oy, ox) of x's images, im2col-ing 48 columns at a time
// into scratch (conv_gemm_scratch(rows1 - rows0, K, col1 - col0) floats), and writes act(. + bias) to
// out [images, M, oH, oW].
// AVX-512 only: callers check gemm_packed_available() first.
struct conv_geometry {
    long c, h, w, kh, kw, sh, sw, top, left, dh, dw, oh, ow;
};
int gemm_packed_available(void);
void gemm_pack_weights(const float *a, long m, long k, long lda, float *packed);
void conv_gemm(const float *packed, long m, long rows0, long rows1, const float *x, const struct conv_geometry *g,
               long col0, long col1, const float *bias, int act, float *out, float *scratch);
long conv_gemm_scratch(long rows, long k, long cols);
/// C [M, N] (row stride ldc) = A B for A packed as above and B [K, N] read in place (row stride ldb).
void gemm_packed(const float *packed, long m, long k, const float *b, long ldb, long n, float *c, long ldc);
/// y[r] = sum_j w[r * k + j] x[j] for r < rows: one image through a fully connected layer, the weights
/// [rows, k] read once, in order. AVX-512 only, as above.
void gemv_rows(const float *w, long rows, long k, const float *x, float *y);

// Worker pool (pool.c): runs fn(ctx, chunk) for chunk in 0..<chunks on the calling thread and the
// pool's threads, each taking the next unclaimed chunk; returns when all are done. The pool starts
// threads until it has workers - 1 and never stops them: every one takes part in every call, so a
// later call that asks for fewer workers still gets them all. Calls from inside a chunk, or while
// another thread's call runs, run their chunks serially.
void pool_for(long workers, long chunks, void (*fn)(void *ctx, long chunk), void *ctx);

// ---- Channel-blocked depthwise convolution (depthwise.c) ----
// Channels in blocks of 16: a block's input planes are interleaved, a band of rows at a time, into
// a zero-padded buffer [row][column][16], so that one output pixel's 16 channels are one vector and
// each tap one vector multiply-add; the outputs are interleaved back into planes.

/// A depthwise convolution of one image: input c x h x w, output c x oh x ow, kernel kh x kw,
/// strides sh, sw, dilations dh, dw, and the padding on top and left (oh and ow imply the rest).
/// `plane`: floats from one input channel to the next, h * w for an image, more for planes that sit
/// in the top h rows of taller ones (rows past h count as padding).
typedef struct {
    long c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, top, left, plane;
} depthwise_geometry;

/// Weights w [c][taps] and biases as depthwise_blocked reads them: wt[(b * taps + t) * 16 + l] =
/// w[(16 b + l) * taps + t] and bt[16 b + l] = bias[16 b + l], zero where 16 b + l >= c.
/// wt holds ceil(c / 16) * taps * 16 floats, bt ceil(c / 16) * 16.
void depthwise_pack_weights(const float *w, const float *bias, long c, long taps, float *wt, float *bt);

/// Floats of scratch depthwise_blocked needs for geometry g.
long depthwise_scratch_floats(const depthwise_geometry *g);

/// Output rows y0 ..< y1 of channels 16 block ..< min(16 block + 16, c) of one image:
/// out[ch][y][x] = act(bias[ch] + sum_ij w[ch][i][j] * x[ch][y sh + i dh - top][x sw + j dw - left]),
/// zero outside the input. x: [c][plane] (each plane's first h * w read), out: [c][oh][ow]; wt, bt:
/// the block's own taps * 16 weights and 16 biases as depthwise_pack_weights arranges them.
void depthwise_blocked(const float *x, const depthwise_geometry *g, const float *wt, const float *bt, int act,
                       long block, long y0, long y1, float *out, float *scratch);

#endif
