// The two passes of Pillow's 8-bit resampling (libImaging/Resample.c ImagingResampleHorizontal_8bpc
// and ImagingResampleVertical_8bpc) on packed RGB rows, in Pillow's integer arithmetic: 22-bit
// fixed-point weights, int sums started at 1 << 21, clip8 saturation. Their plain-loop oracles are
// resampleHorizontal / resampleVertical in Sources/Extract/Image/Resize.swift.
#ifndef CKERNELS_RESAMPLE_H
#define CKERNELS_RESAMPLE_H
#include <stdint.h>

/// out[y][xx] = clip8(sum_k in[y][xmin[xx] + k] * w[xx * ksize + k]) per channel, for rows y < rows,
/// output columns xx < out_w; in rows are in_stride bytes apart, out rows out_w * 3 bytes. The AVX-512
/// kernel is used when ksize is a multiple of 4, the weights past each count zero (ResampleWindow's).
void resample_rgb8_horizontal(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                              const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize);

/// The horizontal pass's kernels: the one resample_rgb8_horizontal picks is the best available.
enum { RESAMPLE_SCALAR = 0, RESAMPLE_SSE41 = 1, RESAMPLE_AVX512 = 2 };
int resample_kernel_available(int kernel);
/// resample_rgb8_horizontal with the given kernel, which must be available (tests run each);
/// RESAMPLE_AVX512 needs ksize a multiple of 4 and the weights past each count zero.
void resample_rgb8_horizontal_with(int kernel, const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                                   const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize);

/// out[yy][i] = clip8(sum_k in[ymin[yy] + k][i] * w[yy * ksize + k]) for rows yy < out_h and bytes
/// i < row_bytes; in rows are in_stride bytes apart, out rows row_bytes bytes. acc holds row_bytes ints.
void resample_rgb8_vertical(const uint8_t *in, long in_stride, long row_bytes, uint8_t *out, long out_h,
                            const int32_t *ymin, const int32_t *count, const int32_t *w, long ksize, int32_t *acc);

/// torchvision's ToTensor + Normalize on n packed RGB pixels: out[c * n + i] = (rgb[3 i + c] / 255 -
/// mean[c]) / std[c], each step in float32 as torch does it. Oracle: Preprocessing.tensorPlain.
void rgb8_normalize_planes(const uint8_t *rgb, long n, const float *mean, const float *std, float *out);

#endif
