// See include/ckernels.h ("Convolution as a packed-weight matrix product").
//
// The register block is 8 rows of the weights by 48 columns (3 AVX-512 vectors) of the right-hand
// matrix: 24 accumulators, and per step of k, 3 vector loads, 8 broadcasts and 24 multiply-adds.
// The weights are packed once per layer into panels [K][8], so the broadcasts read consecutive
// floats. The right-hand matrix is im2col'd (conv_gemm) 48 columns at a time into a strip that stays
// in L1/L2 while every panel of weights passes over it, or read where it lies (gemm_packed). With few
// strips and large weights (conv_gemm_few), all the strips are packed a block of k at a time and each
// panel passes over all of them. OpenBLAS packs both operands on every call, which at K = 16 to 200
// costs about as much as the product, and its bias and activation were a further pass over the output.
#include "ckernels.h"
#include "activation.h"
#include <immintrin.h>
#include <string.h>

#define MR 8
#define NR 48

int gemm_packed_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

void gemm_pack_weights(const float *a, long m, long k, long lda, float *packed) {
    for (long i0 = 0; i0 < m; i0 += MR) {
        float *panel = packed + i0 * k;
        for (long kk = 0; kk < k; kk++)
            for (long r = 0; r < MR; r++)
                panel[kk * MR + r] = i0 + r < m ? a[(i0 + r) * lda + kk] : 0;
    }
}

#define AVX512 __attribute__((target("avx512f")))

// Where one vector of 16 output columns goes: the lanes under `first` to `at` (an image's row, from the
// lane of its first column), and, when the vector runs into the next image, the lanes under `second`
// to `next`, packed down to that image's first column.
struct store {
    float *at, *next;
    __mmask16 first, second;
};

// Steps of k ahead that a panel streamed from memory is prefetched (`stream` in block): 4 KB. One
// core's demand misses alone bring about 7 GB/s, where AlexNet's fc6 at batch 32 (each weight used for
// 32 columns) needs twice that to keep the multiply-adds busy. (fc6, 9216 -> 4096, 32 columns, two
// threads: 12.2 -> 7.3 ms; 64 steps 9.1 ms, 256 steps 8.9 ms.)
#define STREAM_AHEAD 128

// rows x (16 nv columns) of the output, rows <= MR; b is [k][16 nv] with row stride ldb, of which the
// lanes under `load` are read (the rest count as zero). nv is a constant where block is inlined, so
// that the loops over vectors unroll and the accumulators stay in registers. Sums start from zero, or
// from sums_in [MR][NR] (a previous block of k); they go to the output through `stores` with bias and
// activation, or, raw, to sums_out [MR][NR] when a later block of k will add to them. With `stream`
// (the panel is read once, from memory), the panel is prefetched STREAM_AHEAD steps ahead.
static inline __attribute__((always_inline)) AVX512
void block(const int nv, const float *restrict pa, const float *restrict b, long ldb, long k, const __mmask16 load[3],
           long rows, const float *restrict bias, int act, const struct store stores[3], long ldc,
           const float *sums_in, float *sums_out, const int stream) {
    __m512 acc[MR][3];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = sums_in ? _mm512_loadu_ps(sums_in + r * NR + 16 * v) : _mm512_setzero_ps();
    for (long kk = 0; kk < k; kk++) {
        if (stream && !(kk & 1)) _mm_prefetch((const char *)(pa + STREAM_AHEAD * MR), _MM_HINT_T0);
        __m512 bv[3];
        for (int v = 0; v < nv; v++) bv[v] = _mm512_maskz_loadu_ps(load[v], b + 16 * v);
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(pa[r]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(a, bv[v], acc[r][v]);
        }
        pa += MR;
        b += ldb;
    }
    if (sums_out) {
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < nv; v++) _mm512_storeu_ps(sums_out + r * NR + 16 * v, acc[r][v]);
        return;
    }
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        const __m512 bv = _mm512_set1_ps(bias[r]);
        for (int v = 0; v < nv; v++) {
            const __m512 y = activate16(_mm512_add_ps(acc[r][v], bv), act);
            const struct store *s = &stores[v];
            _mm512_mask_storeu_ps(s->at + r * ldc, s->first, y);
            if (s->second) _mm512_mask_compressstoreu_ps(s->next + r * ldc, s->second, y);
        }
    }
}

static inline __mmask16 lanes(long n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// dst[u] = src[u s] for u in [a, b). Strides 2 and 4 (the stems of ResNet, AlexNet, EfficientNet)
// pick every s-th float of whole vectors with permutes, 16 at a time; only floats up to src[(b - 1) s]
// are read, so that the last row of a tensor is not read past.
static inline __attribute__((always_inline)) AVX512
void gather_stride(const float *restrict src, long s, float *restrict dst, long a, long b) {
    long u = a;
    if (s == 2) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (; (u + 16) * 2 <= (b - 1) * 2 + 1; u += 16)
            _mm512_storeu_ps(dst + u, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * u), even,
                                                             _mm512_loadu_ps(src + 2 * u + 16)));
    } else if (s == 4) {
        const __m512i fourth = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        for (; (u + 16) * 4 <= (b - 1) * 4 + 1; u += 16) {
            const float *p = src + 4 * u;
            const __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(p), fourth, _mm512_loadu_ps(p + 16));
            const __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(p + 32), fourth, _mm512_loadu_ps(p + 48));
            _mm512_storeu_ps(dst + u, _mm512_shuffle_f32x4(lo, hi, 0x44));   // lo's lanes 0-7, then hi's
        }
    }
    for (; u < b; u++) dst[u] = src[u * s];
}

// buf[kk - k0][t] (row stride ld) = the im2col value of row kk = (channel, ky, kx) in [k0, k1) and
// column col + t, t < ncols; zero from ncols to ld. Columns run over (image, oy, ox); each run of one
// output row copies a contiguous (or strided) span.
static AVX512 void pack_strip(const float *x, const struct conv_geometry *g, long col, long ncols, long k0, long k1,
                              float *restrict buf, long ld) {
    const long p = g->oh * g->ow;
    if (ncols < ld)
        for (long kk = k0; kk < k1; kk++) memset(buf + (kk - k0) * ld + ncols, 0, (ld - ncols) * sizeof(float));
    for (long t = 0; t < ncols;) {
        const long j = col + t, img = j / p, q = j % p, oy = q / g->ow, ox0 = q % g->ow;
        const long run = g->ow - ox0 < ncols - t ? g->ow - ox0 : ncols - t;
        const float *image = x + img * g->c * g->h * g->w;
        for (long ky = 0; ky < g->kh; ky++) {
            const long iy = oy * g->sh - g->top + ky * g->dh;
            for (long kx = 0; kx < g->kw; kx++) {
                const long dx = kx * g->dw - g->left;
                // Columns of the run whose input column lies inside the image: [a, b). Output columns
                // [x0, x1) do (im2colColumns in Conv2d.swift), clamped to the run.
                const long x0 = (-dx + g->sw - 1) / g->sw, x1 = (g->w - dx + g->sw - 1) / g->sw;
                const long a = x0 - ox0 < 0 ? 0 : x0 - ox0 > run ? run : x0 - ox0;
                const long b = x1 - ox0 < a ? a : x1 - ox0 > run ? run : x1 - ox0;
                // Channels whose row kk = (ci kH + ky) kW + kx lies in [k0, k1).
                const long khw = g->kh * g->kw, off = ky * g->kw + kx;
                const long ci0 = k0 - off <= 0 ? 0 : (k0 - off + khw - 1) / khw;
                const long ci1 = k1 - off <= 0 ? 0 : (k1 - off + khw - 1) / khw;
                const int inside = iy >= 0 && iy < g->h;
                const long c1 = ci1 < g->c ? ci1 : g->c;
                if (g->sw == 1 || !inside) {
                    // 16 columns at a time, the lanes outside [a, b) (or the whole row) zero.
                    __mmask16 store[3], load[3];
                    const int nv = (int)((run + 15) / 16);
                    for (int v = 0; v < nv; v++) {
                        store[v] = lanes(run - 16 * v);
                        load[v] = inside ? (__mmask16)(lanes(b - 16 * v) & ~lanes(a - 16 * v)) : 0;
                    }
                    for (long ci = ci0; ci < c1; ci++) {
                        float *dst = buf + ((ci * g->kh + ky) * g->kw + kx - k0) * ld + t;
                        const float *src = inside ? image + (ci * g->h + iy) * g->w + ox0 + dx : x;
                        for (int v = 0; v < nv; v++)
                            _mm512_mask_storeu_ps(dst + 16 * v, store[v], _mm512_maskz_loadu_ps(load[v], src + 16 * v));
                    }
                    continue;
                }
                for (long ci = ci0; ci < c1; ci++) {
                    float *dst = buf + ((ci * g->kh + ky) * g->kw + kx - k0) * ld + t;
                    const float *src = image + (ci * g->h + iy) * g->w + ox0 * g->sw + dx;
                    for (long u = 0; u < a; u++) dst[u] = 0;
                    gather_stride(src, g->sw, dst, a, b);
                    for (long u = b; u < run; u++) dst[u] = 0;
                }
            }
        }
        t += run;
    }
}

// Where the 16-column vectors of output columns j .. j + cols go for output row i (see struct store).
static void targets(float *out, long m, long p, long i, long j, long cols, struct store stores[3]) {
    for (int v = 0; v < 3; v++) {
        const long first = j + 16 * v, n = cols - 16 * v;
        const long img = first / p, q = first % p;
        stores[v].at = out + (img * m + i) * p + q;
        stores[v].first = lanes(n < p - q ? n : p - q);
        stores[v].next = out + ((img + 1) * m + i) * p;
        stores[v].second = n > p - q ? (__mmask16)(lanes(n) & ~lanes(p - q)) : 0;
    }
}

// Strips of at most NARROW columns (49 = 48 + 1 at ResNet's 7x7 stage, 196 = 4 x 48 + 4 at 14x14) take
// their own kernel (narrow).
#define NARROW 4

// Row stride of a packed strip of `cols` columns: a narrow strip's rows are packed close, so that its
// steps of k stay in L1 instead of taking a cache line each.
static long strip_ld(long cols) { return cols <= NARROW ? NARROW : NR; }

// The panel's 8 rows as the lanes of a 256-bit vector, times a broadcast per column, four steps of k at
// a time into separate sums. block would spend 8 broadcasts and 8 multiply-adds of 16 lanes a step on
// a narrow strip; this spends one load, nc broadcasts and nc multiply-adds of 8. Sums [nc][MR] start
// from sums_in (or zero) and end in res.
static inline __attribute__((always_inline)) AVX512
void narrow(const int nc, const float *restrict pa, const float *restrict b, long ldb, long k, const float *sums_in,
            float *res) {
    __m256 acc[NARROW][4];
    for (int c = 0; c < nc; c++)
        for (int u = 0; u < 4; u++) acc[c][u] = _mm256_setzero_ps();
    if (sums_in)
        for (int c = 0; c < nc; c++) acc[c][0] = _mm256_loadu_ps(sums_in + c * MR);
    long kk = 0;
    for (; kk + 4 <= k; kk += 4)
        for (int u = 0; u < 4; u++) {
            const __m256 a = _mm256_loadu_ps(pa + (kk + u) * MR);
            for (int c = 0; c < nc; c++) acc[c][u] = _mm256_fmadd_ps(a, _mm256_set1_ps(b[(kk + u) * ldb + c]), acc[c][u]);
        }
    for (; kk < k; kk++) {
        const __m256 a = _mm256_loadu_ps(pa + kk * MR);
        for (int c = 0; c < nc; c++) acc[c][0] = _mm256_fmadd_ps(a, _mm256_set1_ps(b[kk * ldb + c]), acc[c][0]);
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(res + c * MR, _mm256_add_ps(_mm256_add_ps(acc[c][0], acc[c][1]), _mm256_add_ps(acc[c][2], acc[c][3])));
}

// Output rows i .. i + rows (one panel) by columns j .. j + cols (one strip, b with row stride ldb)
// over k, with sums_in / sums_out as in block. Planes under 16 pixels go through a buffer column by
// column, as a vector there may span more than two images.
static inline __attribute__((always_inline)) AVX512
void panel_strip(const float *panel, const float *b, long ldb, long k, long rows, long i, long j, long cols,
                 const float *bias, int act, float *out, long m, long p, const float *sums_in, float *sums_out,
                 const int stream) {
    static const __mmask16 all[3] = {0xFFFF, 0xFFFF, 0xFFFF};   // a packed strip is zero past its columns
    if (cols <= NARROW) {
        float tmp[NARROW * MR], *res = sums_out ? sums_out : tmp;
        if (cols == 1) narrow(1, panel, b, ldb, k, sums_in, res);
        else if (cols == 2) narrow(2, panel, b, ldb, k, sums_in, res);
        else if (cols == 3) narrow(3, panel, b, ldb, k, sums_in, res);
        else narrow(4, panel, b, ldb, k, sums_in, res);
        if (sums_out) return;
        for (long t = 0; t < cols; t++)
            for (long r = 0; r < rows; r++)
                out[((j + t) / p * m + i + r) * p + (j + t) % p] = activate(tmp[t * MR + r] + bias[i + r], act);
        return;
    }
    struct store at[3];
    if (p < 16 && !sums_out) {
        float tmp[MR * NR];
        for (int v = 0; v < 3; v++) at[v] = (struct store){tmp + 16 * v, 0, 0xFFFF, 0};
        block(3, panel, b, ldb, k, all, rows, bias + i, act, at, NR, sums_in, 0, stream);
        for (long r = 0; r < rows; r++)
            for (long t = 0; t < cols; t++)
                out[((j + t) / p * m + i + r) * p + (j + t) % p] = tmp[r * NR + t];
        return;
    }
    if (!sums_out) targets(out, m, p, i, j, cols, at);
    if (cols > 32) block(3, panel, b, ldb, k, all, rows, bias + i, act, at, p, sums_in, sums_out, stream);
    else if (cols > 16) block(2, panel, b, ldb, k, all, rows, bias + i, act, at, p, sums_in, sums_out, stream);
    else block(1, panel, b, ldb, k, all, rows, bias + i, act, at, p, sums_in, sums_out, stream);
}

// Calls with at most FEW strips whose weights take more than FEW_WEIGHTS bytes (more than L2 holds
// beside a strip) take the path for few columns (conv_gemm_few). With less, the weights stay in L2
// from strip to strip, and the other path reads pointwise layers' strips in place. (EfficientNet-Lite0's
// 14x14 layers at batch 1: 15% slower by conv_gemm_few.)
#define FEW 8
#define FEW_WEIGHTS (512 << 10)
// Bytes of packed strips conv_gemm_few keeps for one block of k: a quarter of L2.
#define FEW_BYTES (256 << 10)

static int few(long rows, long k, long cols) {
    return cols <= FEW * NR && rows > MR && rows * k * (long)sizeof(float) > FEW_WEIGHTS;
}

// Rows of k per block in conv_gemm_few: k in equal blocks of at most FEW_BYTES of strips.
static long few_block(long k, long strips) {
    const long kmax = FEW_BYTES / (long)(strips * NR * sizeof(float)), blocks = (k + kmax - 1) / kmax;
    return (k + blocks - 1) / blocks;
}

long conv_gemm_scratch(long rows, long k, long cols) {
    const long strips = (cols + NR - 1) / NR;
    if (!few(rows, k, cols)) return k * NR;
    return strips * few_block(k, strips) * NR + (rows + MR - 1) / MR * strips * MR * NR;
}

// Few columns and many rows (the split by rows): every strip is packed first, a block of k at a time
// sized so that the strips' blocks stay in L2 together, and each panel's block of weights passes over
// all the strips while it is in L1, its partial sums kept in scratch between blocks of k. The weights
// then stream from memory once per call rather than once per strip (ResNet-18's 7x7 stage at batch 1
// has 49 columns: a full strip and a strip of one), and a long strip (fc6's 9216 rows) no longer
// overflows L2.
static AVX512 void conv_gemm_few(const float *packed, long m, long rows0, long rows1, const float *x,
                                 const struct conv_geometry *g, long col0, long col1, const float *bias, int act,
                                 float *out, float *scratch) {
    const long p = g->oh * g->ow, k = g->c * g->kh * g->kw, strips = (col1 - col0 + NR - 1) / NR;
    const long kc = few_block(k, strips);
    float *packed_strips = scratch, *sums = scratch + strips * kc * NR;
    for (long k0 = 0; k0 < k; k0 += kc) {
        const long kn = k - k0 < kc ? k - k0 : kc;
        for (long s = 0; s < strips; s++) {
            const long j = col0 + s * NR, cols = col1 - j < NR ? col1 - j : NR;
            pack_strip(x, g, j, cols, k0, k0 + kn, packed_strips + s * kn * NR, strip_ld(cols));
        }
        for (long i = rows0; i < rows1; i += MR) {
            const long rows = rows1 - i < MR ? rows1 - i : MR;
            // The next panel's block of weights, into L2 while this one runs: the hardware's prefetcher
            // follows a stream, but the blocks are far apart. (ResNet-18's 7x7 stage at batch 1: -15%.)
            if (i + MR < rows1) {
                const char *next = (const char *)(packed + (i + MR) * k + k0 * MR);
                for (long b = 0; b < kn * MR * (long)sizeof(float); b += 64) _mm_prefetch(next + b, _MM_HINT_T1);
            }
            for (long s = 0; s < strips; s++) {
                const long j = col0 + s * NR, cols = col1 - j < NR ? col1 - j : NR;
                float *partial = sums + ((i - rows0) / MR * strips + s) * MR * NR;
                panel_strip(packed + i * k + k0 * MR, packed_strips + s * kn * NR, strip_ld(cols), kn, rows, i, j, cols,
                            bias, act, out, m, p, k0 == 0 ? 0 : partial, k0 + kn == k ? 0 : partial, 1);
            }
        }
    }
}

AVX512
void conv_gemm(const float *packed, long m, long rows0, long rows1, const float *x, const struct conv_geometry *g,
               long col0, long col1, const float *bias, int act, float *out, float *scratch) {
    const long p = g->oh * g->ow, k = g->c * g->kh * g->kw;
    if (few(rows1 - rows0, k, col1 - col0))
        return conv_gemm_few(packed, m, rows0, rows1, x, g, col0, col1, bias, act, out, scratch);
    // A 1x1 stride-1 unpadded convolution's im2col matrix is the image itself, [C][H W]: a whole strip
    // inside one image is read where it lies. (Not a partial one: the block loads whole vectors, and
    // past the tensor's end there may be no memory.)
    const int pointwise = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->top == 0 && g->left == 0
        && g->oh == g->h && g->ow == g->w;
    for (long j = col0; j < col1; j += NR) {
        const long cols = col1 - j < NR ? col1 - j : NR;
        const float *strip = scratch;
        long ld = NR;
        if (pointwise && cols == NR && j / p == (j + NR - 1) / p) {
            strip = x + (j / p) * g->c * p + j % p;
            ld = p;
        } else {
            ld = strip_ld(cols);
            pack_strip(x, g, j, cols, 0, k, scratch, ld);
        }
        for (long i = rows0; i < rows1; i += MR)
            panel_strip(packed + i * k, strip, ld, k, rows1 - i < MR ? rows1 - i : MR, i, j, cols, bias, act, out, m, p,
                        0, 0, 0);
    }
}

AVX512
void gemm_packed(const float *packed, long m, long k, const float *b, long ldb, long n, float *c, long ldc) {
    static const float zeros[MR] = {0};
    for (long j = 0; j < n; j += NR) {
        const long cols = n - j < NR ? n - j : NR;
        const __mmask16 load[3] = {lanes(cols), lanes(cols - 16), lanes(cols - 32)};
        for (long i = 0; i < m; i += MR) {
            struct store at[3];
            for (int v = 0; v < 3; v++) at[v] = (struct store){c + i * ldc + j + 16 * v, 0, load[v], 0};
            const long rows = m - i < MR ? m - i : MR;
            const float *panel = packed + i * k;
            if (cols > 32) block(3, panel, b + j, ldb, k, load, rows, zeros, 0, at, ldc, 0, 0, 0);
            else if (cols > 16) block(2, panel, b + j, ldb, k, load, rows, zeros, 0, at, ldc, 0, 0, 0);
            else block(1, panel, b + j, ldb, k, load, rows, zeros, 0, at, ldc, 0, 0, 0);
        }
    }
}

// gemv_rows: four rows of the weights at a time, so that each vector of x, which stays in L1, is loaded
// once for four multiply-adds, and four streams from memory are in flight. With one image a fully
// connected layer is bound by reading its weights (AlexNet's fc6: 151 MB); OpenBLAS's sgemv read
// them at 27 GB/s on two cores of this machine, this loop at 34, the same as a plain sum of the array.
AVX512 void gemv_rows(const float *w, long rows, long k, const float *x, float *y) {
    const __mmask16 tail = (__mmask16)((1u << (k % 16)) - 1);
    const long kv = k - k % 16;
    long r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = w + r * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (long j = 0; j < kv; j += 16) {
            __m512 v = _mm512_loadu_ps(x + j);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + j), v, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + j), v, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + j), v, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + j), v, a3);
        }
        if (tail) {
            __m512 v = _mm512_maskz_loadu_ps(tail, x + kv);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w0 + kv), v, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w1 + kv), v, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w2 + kv), v, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w3 + kv), v, a3);
        }
        y[r] = _mm512_reduce_add_ps(a0);
        y[r + 1] = _mm512_reduce_add_ps(a1);
        y[r + 2] = _mm512_reduce_add_ps(a2);
        y[r + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; r < rows; r++) {
        const float *wr = w + r * k;
        __m512 a = _mm512_setzero_ps();
        for (long j = 0; j < kv; j += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(wr + j), _mm512_loadu_ps(x + j), a);
        if (tail) a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, wr + kv), _mm512_maskz_loadu_ps(tail, x + kv), a);
        y[r] = _mm512_reduce_add_ps(a);
    }
}
