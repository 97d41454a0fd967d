// The two passes of Pillow's 8-bit resampling (libImaging/Resample.c ImagingResampleHorizontal_8bpc
// and ImagingResampleVertical_8bpc) on packed RGB rows, in Pillow's integer arithmetic: 22-bit
// fixed-point weights, int sums started at 1 << 21, clip8 saturation. Their plain-loop oracles are
// resampleHorizontal / resampleVertical in Sources/Extract/Image/Resize.swift.
#ifndef CKERNELS_RESAMPLE_H
#define CKERNELS_RESAMPLE_H
#include <stdint.h>

/// out[y][xx] = clip8(sum_k in[y][xmin[xx] + k] * w[xx * ksize + k]) per channel, for rows y < rows,
/// output columns xx < out_w; in rows are in_stride bytes apart, out rows out_w * 3 bytes.
void resample_rgb8_horizontal(const uint8_t *in, long in_stride, long rows, uint8_t *out, long out_w,
                              const int32_t *xmin, const int32_t *count, const int32_t *w, long ksize);

/// out[yy][i] = clip8(sum_k in[ymin[yy] + k][i] * w[yy * ksize + k]) for rows yy < out_h and bytes
/// i < row_bytes; in rows are in_stride bytes apart, out rows row_bytes bytes. acc holds row_bytes ints.
void resample_rgb8_vertical(const uint8_t *in, long in_stride, long row_bytes, uint8_t *out, long out_h,
                            const int32_t *ymin, const int32_t *count, const int32_t *w, long ksize, int32_t *acc);

#endif
