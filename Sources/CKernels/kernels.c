// See include/ckernels.h. Winograd F(2x2, 3x3) after Lavin & Gray 2015, section 4:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1].
#include "ckernels.h"
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

static inline float activate(float v, int act) {
    if (act == 1) return v > 0 ? v : 0;
    if (act == 2) return v < 0 ? 0 : (v > 6 ? 6 : v);
    return v;
}

CLONES
void wino_f23_input_row(const float *plane, long h, long w, long iy0, long left, long tiles_w,
                        float *v, long vstride, float *scratch) {
    const long half = tiles_w + 1, width = 2 * tiles_w + 2;
    float *restrict row = scratch;                         // width floats, padded with zeros
    float *restrict ev = scratch + width + 8;              // 4 rows of even columns, then 4 of odd
    float *restrict od = ev + 4 * half;
    float *restrict te = od + 4 * half, *restrict to = te + half;  // one row of B^T d, by parity
    long x0 = left < width ? left : width;
    long x1 = w + left < width ? w + left : width;
    if (x1 < x0) x1 = x0;
    for (int i = 0; i < 4; i++) {
        long iy = iy0 + i;
        float *restrict e = ev + i * half, *restrict o = od + i * half;
        if (iy < 0 || iy >= h) {
            memset(e, 0, sizeof(float) * half);
            memset(o, 0, sizeof(float) * half);
            continue;
        }
        memset(row, 0, sizeof(float) * x0);
        memcpy(row + x0, plane + iy * w + x0 - left, sizeof(float) * (x1 - x0));
        memset(row + x1, 0, sizeof(float) * (width - x1));
        for (long k = 0; k < half; k++) { e[k] = row[2 * k]; o[k] = row[2 * k + 1]; }
    }
    const float *e0 = ev, *e1 = ev + half, *e2 = ev + 2 * half, *e3 = ev + 3 * half;
    const float *o0 = od, *o1 = od + half, *o2 = od + 2 * half, *o3 = od + 3 * half;
    for (int i = 0; i < 4; i++) {
        // Row i of B^T d, even and odd columns.
        for (long k = 0; k < half; k++) {
            float a, b;
            switch (i) {
            case 0: a = e0[k] - e2[k]; b = o0[k] - o2[k]; break;
            case 1: a = e1[k] + e2[k]; b = o1[k] + o2[k]; break;
            case 2: a = e2[k] - e1[k]; b = o2[k] - o1[k]; break;
            default: a = e1[k] - e3[k]; b = o1[k] - o3[k]; break;
            }
            te[k] = a; to[k] = b;
        }
        // Times B: columns 2tx..2tx+3 are te[tx], to[tx], te[tx+1], to[tx+1].
        float *restrict v0 = v + (4 * i) * vstride, *restrict v1 = v0 + vstride;
        float *restrict v2 = v1 + vstride, *restrict v3 = v2 + vstride;
        for (long tx = 0; tx < tiles_w; tx++) {
            v0[tx] = te[tx] - te[tx + 1];
            v1[tx] = to[tx] + te[tx + 1];
            v2[tx] = te[tx + 1] - to[tx];
            v3[tx] = to[tx] - to[tx + 1];
        }
    }
}

CLONES
void wino_f23_output_row(const float *m, long mstride, long tiles_w, float bias, int act,
                         float *out0, float *out1, long ow, float *scratch) {
    float *restrict y = scratch;   // y[r][c]: output row r, column parity c, tiles_w each
    for (int r = 0; r < 2; r++) {
        if (r == 1 && !out1) break;
        // A^T m: row r = 0 is m0 + m1 + m2, row 1 is m1 - m2 - m3; then A on its columns.
        float *restrict ye = y + 2 * r * tiles_w, *restrict yo = ye + tiles_w;
        for (long tx = 0; tx < tiles_w; tx++) {
            float c[4];
            for (int j = 0; j < 4; j++) {
                float a0 = m[j * mstride + tx], a1 = m[(4 + j) * mstride + tx];
                float a2 = m[(8 + j) * mstride + tx], a3 = m[(12 + j) * mstride + tx];
                c[j] = r == 0 ? a0 + a1 + a2 : a1 - a2 - a3;
            }
            ye[tx] = activate(c[0] + c[1] + c[2] + bias, act);
            yo[tx] = activate(c[1] - c[2] - c[3] + bias, act);
        }
        float *restrict out = r == 0 ? out0 : out1;
        for (long k = 0; k < ow / 2; k++) { out[2 * k] = ye[k]; out[2 * k + 1] = yo[k]; }
        if (ow % 2) out[ow - 1] = ye[ow / 2];
    }
}

CLONES
void depthwise_plane(const float *pad, long pw, const float *kern, long kh, long kw, long sh, long sw,
                     long dh, long dw, float bias, int act, float *dst, long oh, long ow, float *acc) {
    float *restrict a = acc;
    for (long y = 0; y < oh; y++) {
        for (long x = 0; x < ow; x++) a[x] = bias;
        for (long i = 0; i < kh; i++) {
            const float *restrict row = pad + (y * sh + i * dh) * pw;
            for (long j = 0; j < kw; j++) {
                const float k = kern[i * kw + j];
                const float *restrict s = row + j * dw;
                if (sw == 1) {
                    for (long x = 0; x < ow; x++) a[x] += k * s[x];
                } else if (sw == 2) {
                    for (long x = 0; x < ow; x++) a[x] += k * s[2 * x];
                } else {
                    for (long x = 0; x < ow; x++) a[x] += k * s[x * sw];
                }
            }
        }
        float *restrict d = dst + y * ow;
        for (long x = 0; x < ow; x++) d[x] = activate(a[x], act);
    }
}
