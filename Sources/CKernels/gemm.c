// See include/ckernels.h ("Convolution as a packed-weight matrix product").
//
// The register block is 8 rows of the weights by 48 columns (3 AVX-512 vectors) of the right-hand
// matrix: 24 accumulators, and per step of k, 3 vector loads, 8 broadcasts and 24 multiply-adds.
// The weights are packed once per layer into panels [K][8], so the broadcasts read consecutive
// floats. The right-hand matrix is im2col'd (conv_gemm) 48 columns at a time into a strip that stays
// in L1/L2 while every panel of weights passes over it, or read where it lies (gemm_packed). OpenBLAS
// packs both operands on every call, which at K = 16 to 200 costs about as much as the product, and
// its bias and activation were a further pass over the output.
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

// rows x (16 nv columns) of the output, rows <= MR; b is [k][16 nv] with row stride ldb, of which the
// lanes under `load` are read (the rest count as zero). nv is a constant where block is inlined, so
// that the loops over vectors unroll and the accumulators stay in registers.
static inline __attribute__((always_inline)) AVX512
void block(const int nv, const float *restrict pa, const float *restrict b, long ldb, long k, const __mmask16 load[3],
           long rows, const float *restrict bias, int act, const struct store stores[3], long ldc) {
    __m512 acc[MR][3];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    for (long kk = 0; kk < k; kk++) {
        __m512 bv[3];
        for (int v = 0; v < nv; v++) bv[v] = _mm512_maskz_loadu_ps(load[v], b + 16 * v);
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(pa[r]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(a, bv[v], acc[r][v]);
        }
        pa += MR;
        b += ldb;
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

// buf[kk][t] = the im2col value of row kk = (channel, ky, kx) and column col + t, t < ncols; zero past ncols.
// Columns run over (image, oy, ox); each run of one output row copies a contiguous (or strided) span.
static AVX512 void pack_strip(const float *x, const struct conv_geometry *g, long col, long ncols, float *restrict buf) {
    const long p = g->oh * g->ow, k = g->c * g->kh * g->kw;
    if (ncols < NR)
        for (long kk = 0; kk < k; kk++) memset(buf + kk * NR + ncols, 0, (NR - ncols) * sizeof(float));
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
                for (long ci = 0; ci < g->c; ci++) {
                    float *dst = buf + ((ci * g->kh + ky) * g->kw + kx) * NR + t;
                    if (iy < 0 || iy >= g->h) {
                        memset(dst, 0, run * sizeof(float));
                        continue;
                    }
                    const float *src = image + (ci * g->h + iy) * g->w + ox0 * g->sw + dx;
                    for (long u = 0; u < a; u++) dst[u] = 0;
                    if (g->sw == 1) memcpy(dst + a, src + a, (b - a) * sizeof(float));
                    else gather_stride(src, g->sw, dst, a, b);
                    for (long u = b; u < run; u++) dst[u] = 0;
                }
            }
        }
        t += run;
    }
}

AVX512
void conv_gemm(const float *packed, long m, long rows0, long rows1, const float *x, const struct conv_geometry *g,
               long col0, long col1, const float *bias, int act, float *out, float *scratch) {
    const long p = g->oh * g->ow, k = g->c * g->kh * g->kw;
    // A 1x1 stride-1 unpadded convolution's im2col matrix is the image itself, [C][H W]: a whole strip
    // inside one image is read where it lies. (Not a partial one: the block loads whole vectors, and
    // past the tensor's end there may be no memory.)
    const int pointwise = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->top == 0 && g->left == 0
        && g->oh == g->h && g->ow == g->w;
    static const __mmask16 all[3] = {0xFFFF, 0xFFFF, 0xFFFF};   // a packed strip is zero past its columns
    for (long j = col0; j < col1; j += NR) {
        const long cols = col1 - j < NR ? col1 - j : NR;
        const float *strip = scratch;
        long ld = NR;
        if (pointwise && cols == NR && j / p == (j + NR - 1) / p) {
            strip = x + (j / p) * g->c * p + j % p;
            ld = p;
        } else {
            pack_strip(x, g, j, cols, scratch);
        }
        if (p < 16) {
            // Tiny planes: a vector spans more than two images; go column by column.
            for (long i = rows0; i < rows1; i += MR) {
                float tmp[MR * NR];
                struct store flat[3];
                for (int v = 0; v < 3; v++) flat[v] = (struct store){tmp + 16 * v, 0, 0xFFFF, 0};
                const long rows = rows1 - i < MR ? rows1 - i : MR;
                block(3, packed + i * k, strip, ld, k, all, rows, bias + i, act, flat, NR);
                for (long r = 0; r < rows; r++)
                    for (long t = 0; t < cols; t++)
                        out[((j + t) / p * m + i + r) * p + (j + t) % p] = tmp[r * NR + t];
            }
            continue;
        }
        struct store stores[3];
        for (int v = 0; v < 3; v++) {
            const long first = j + 16 * v, n = cols - 16 * v;
            const long img = first / p, q = first % p;
            stores[v].at = out + (img * m + rows0) * p + q;
            stores[v].first = lanes(n < p - q ? n : p - q);
            stores[v].next = out + ((img + 1) * m + rows0) * p;
            stores[v].second = n > p - q ? (__mmask16)(lanes(n) & ~lanes(p - q)) : 0;
        }
        for (long i = rows0; i < rows1; i += MR) {
            struct store at[3];
            for (int v = 0; v < 3; v++) {
                at[v] = stores[v];
                at[v].at += (i - rows0) * p;
                at[v].next += (i - rows0) * p;
            }
            const long rows = rows1 - i < MR ? rows1 - i : MR;
            const float *panel = packed + i * k;
            if (cols > 32) block(3, panel, strip, ld, k, all, rows, bias + i, act, at, p);
            else if (cols > 16) block(2, panel, strip, ld, k, all, rows, bias + i, act, at, p);
            else block(1, panel, strip, ld, k, all, rows, bias + i, act, at, p);
        }
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
            if (cols > 32) block(3, panel, b + j, ldb, k, load, rows, zeros, 0, at, ldc);
            else if (cols > 16) block(2, panel, b + j, ldb, k, load, rows, zeros, 0, at, ldc);
            else block(1, panel, b + j, ldb, k, load, rows, zeros, 0, at, ldc);
        }
    }
}
