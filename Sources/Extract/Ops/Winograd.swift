// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2015, "Fast
// Algorithms for Convolutional Neural Networks", section 4): each 2x2 output tile costs 16
// multiplies per channel pair instead of 36. The transforms only add, subtract and halve, so the
// result differs from direct convolution by float32 rounding alone.
//
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, summed over input channels, with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].
//
// The sum over channels of the 16 element-wise products is 16 sgemms: U_e [O, C] x V_e [C, tiles].
// Wide outputs use F(4x4, 3x3) instead (6x6 patches, 36 sgemms, 4 multiplies per output instead of 9,
// and 2.25 transformed values per output instead of 4); its transforms have fractions and larger
// coefficients, about ten times F(2x2)'s rounding error, still well inside the models' 1e-4.
import CBLAS
import CKernels
import Foundation

/// Whether conv2d takes the Winograd path: 3x3, stride 1, no dilation or groups, and enough
/// channels and tiles for the products to beat one im2col matrix product (32 tiles of F(2x2): ResNet-18's
/// 14x14 stage at batch 1 is 15% faster by Winograd). Planes narrower than `winogradMinWidth` take it
/// only with many channels and at least 8 tiles of F(4x4) (`winogradNarrowApplies`).
func winogradApplies(_ g: Conv2dGeometry, _ s: ConvShape) -> Bool {
    guard g.kernel == (3, 3) && g.stride == (1, 1) && g.dilation == (1, 1) && g.groups == 1 && s.c >= 16 && s.o >= 16 else {
        return false
    }
    if s.ow < winogradMinWidth { return winogradNarrowApplies(s) }
    return s.n * ((s.oh + 1) / 2) * ((s.ow + 1) / 2) >= 32
}

/// Narrower outputs make rows of too few F(2x2) tiles for the transforms to pay. (With the AVX-512
/// transforms and chunks per worker, batch 32: AlexNet's 13-wide conv3-5 take 30% less time than by
/// conv_gemm.)
let winogradMinWidth = 13

/// 7 to 12 wide, Winograd pays by F(4x4) when both sides have at least 128 channels, so that the
/// products outweigh the transforms, and there are at least 8 tiles. ResNet-18's 7x7 512-channel stage
/// (4 tiles of 4x4 an image, covering 8x8 as F(2x2)'s 16 do, with 44% fewer multiplies), 3 convolutions:
/// batch 32 64 -> 39 ms, batch 8 19 -> 8 ms, batch 4 12 -> 6 ms, batch 2 7 -> 6 ms; batch 1 (4 tiles)
/// 4 -> 6 ms, which is why a single image keeps conv_gemm. F(2x2) at batch 32 took the same time as
/// conv_gemm: its chunks held 24 tiles, too few for the 16 MB of weights they each streamed.
func winogradNarrowApplies(_ s: ConvShape) -> Bool {
    s.ow >= 7 && s.c >= 128 && s.o >= 128 && s.n * ((s.oh + 3) / 4) * ((s.ow + 3) / 4) >= 8
}

/// Output tile side: 4 from this width up (F(4x4, 3x3)), and on narrow planes, else 2. (ResNet-18,
/// batch 32: F(4x4) from 28 wide 102 images/s, from 14 wide 87, never 80; a 14-wide row holds only 4
/// tiles of 4.)
let winogradWideWidth = 28

func winogradTile(_ s: ConvShape) -> Int { s.ow >= winogradWideWidth || s.ow < winogradMinWidth ? 4 : 2 }

/// Floats of transformed input and products (V and M) a worker holds at once: 1.5 MB, so that a chunk
/// mostly stays in L2 (1 MB a core here) from its input transform through its products to its output
/// transform. (ResNet-18, batch 32, one thread: 12 MB chunks made the three Winograd stages 15% slower.)
let winogradChunkFloats = 3 << 17

/// Tiles a chunk takes at least, whatever its size: one strip of gemm_packed's 48 columns, so that each
/// weight the products stream is used 48 times. (ResNet-18's 512-channel F(4x4) weights are 36 MB; a
/// 1.5 MB chunk would hold 10 tiles.)
let winogradMinChunkTiles = 48

/// x: [N, C, H, W], weight: [O, C, 3, 3] -> out: [N, O, oH, oW], bias and activation applied.
/// Tile rows of all images are processed in chunks of at most `chunkFloats` / ((tile + 2)^2 (C + O)) tiles,
/// or of `minTiles` if more.
func winogradConv2d(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                    _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into out: UnsafeMutablePointer<Float>,
                    tile: Int, chunkFloats: Int = winogradChunkFloats, minTiles: Int = winogradMinChunkTiles) {
    withScratch(winogradWeightCount(o: s.o, c: s.c, tile: tile)) { u in
        winogradGemmWeights(weight, o: s.o, c: s.c, tile: tile, into: u)
        winogradConv2d(x, transformed: u, bias: bias, s, g, act, into: out, tile: tile, chunkFloats: chunkFloats,
                       minTiles: minTiles)
    }
}

/// The same with the weights already transformed by winogradGemmWeights.
///
/// Each worker takes a contiguous share of the tile rows of all images and runs them in chunks, each
/// start to finish: input transform, the (tile + 2)^2 products, output transform. (Three parallel
/// stages over a shared chunk, as before, sent V and M through L3 and waited at two barriers a chunk.)
func winogradConv2d(_ x: UnsafePointer<Float>, transformed u: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                    _ s: ConvShape, _ g: Conv2dGeometry, _ act: Activation, into out: UnsafeMutablePointer<Float>,
                    tile: Int, chunkFloats: Int = winogradChunkFloats, minTiles: Int = winogradMinChunkTiles) {
    let (c, o) = (s.c, s.o)
    let elements = (tile + 2) * (tile + 2)
    let tilesH = (s.oh + tile - 1) / tile, tilesW = (s.ow + tile - 1) / tile
    let totalRows = s.n * tilesH
    let share = (totalRows + Parallelism.threads - 1) / Parallelism.threads
    let fit = min(share, max(1, chunkFloats / (elements * (c + o) * tilesW), minTiles / tilesW))
    let rowsPerChunk = chunkRows(fitting: fit, tilesW: tilesW)
    let maxTiles = rowsPerChunk * tilesW
    parallelRanges(totalRows) { share in
        withScratch(elements * c * maxTiles) { v in
            withScratch(elements * o * maxTiles) { m in
                for r0 in stride(from: share.lowerBound, to: share.upperBound, by: rowsPerChunk) {
                    let rows = min(rowsPerChunk, share.upperBound - r0), tiles = rows * tilesW
                    let runs = tileRuns(from: r0, rows: rows, tilesH: tilesH, tilesW: tilesW)
                    transformInput(x, s, g, tile: tile, runs: runs, units: 0..<runs.count * c, tilesW: tilesW,
                                   tiles: tiles, into: v)
                    for e in 0..<elements {
                        if packedGemmEnabled {
                            gemm_packed(u + e * packedCount(o: o, k: c), o, c, v + e * c * tiles, tiles, tiles,
                                        m + e * o * tiles, tiles)
                        } else {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(tiles), Int32(c), 1,
                                        u + e * o * c, Int32(c), v + e * c * tiles, Int32(tiles), 0,
                                        m + e * o * tiles, Int32(tiles))
                        }
                    }
                    transformOutput(m, s, tile: tile, runs: runs, units: 0..<runs.count * o, tilesW: tilesW,
                                    tiles: tiles, bias: bias, act, into: out)
                }
            }
        }
    }
}

/// Of 1...fit tile rows, the count whose tiles fill gemm_packed's 48-column strips best (the larger
/// of equals): a strip's last 16-column vectors run at a fraction of its speed when few. (ResNet-18,
/// batch 32: at 56 wide 42 or 84 tiles a chunk beat 28 and 56 by 10%; at 28 wide, 42 beat 28 by 7%.)
func chunkRows(fitting fit: Int, tilesW: Int) -> Int {
    func filled(_ rows: Int) -> Double {
        let tiles = rows * tilesW
        return Double(tiles) / Double((tiles + 47) / 48 * 48)
    }
    var best = 1
    for rows in 1...max(1, fit) where filled(rows) >= filled(best) { best = rows }
    return best
}

/// Floats of winogradGemmWeights' output.
func winogradWeightCount(o: Int, c: Int, tile: Int) -> Int {
    (tile + 2) * (tile + 2) * (packedGemmEnabled ? packedCount(o: o, k: c) : o * c)
}

/// The transformed weights in the form the element-wise products take: for each element e, the
/// matrix U_e [O, C] as it is for sgemm, or in conv_gemm's packed panels when that path is on.
func winogradGemmWeights(_ w: UnsafePointer<Float>, o: Int, c: Int, tile: Int, into u: UnsafeMutablePointer<Float>) {
    guard packedGemmEnabled else { return transformWeights(w, o: o, c: c, tile: tile, into: u) }
    let elements = (tile + 2) * (tile + 2)
    withScratch(elements * o * c) { plain in
        transformWeights(w, o: o, c: c, tile: tile, into: plain)
        parallelRanges(elements) { part in
            for e in part { gemm_pack_weights(plain + e * o * c, o, c, c, u + e * packedCount(o: o, k: c)) }
        }
    }
}

/// u[e][oc][ic] = (G g G^T)[e] for each 3x3 filter g = weight[oc][ic].
private func transformWeights(_ w: UnsafePointer<Float>, o: Int, c: Int, tile: Int, into u: UnsafeMutablePointer<Float>) {
    if tile == 4 {
        parallelRanges(o * c, grain: 256) { r in
            wino_f43_weights(w + r.lowerBound * 9, r.count, u + r.lowerBound, o * c)
        }
        return
    }
    parallelRanges(o * c, grain: 256) { r in
        for f in r {
            let g = w + f * 9
            // Columns of G g (4 x 3), then G applied to each row of it: u = [c0, ½(c0+c1+c2), ½(c0-c1+c2), c2].
            var cols = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
            for j in 0..<3 {
                let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j])
                let col = SIMD4<Float>(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
                if j == 0 { cols.0 = col } else if j == 1 { cols.1 = col } else { cols.2 = col }
            }
            let u0 = cols.0, u1 = 0.5 * (cols.0 + cols.1 + cols.2), u2 = 0.5 * (cols.0 - cols.1 + cols.2), u3 = cols.2
            for i in 0..<4 {
                let e = u + i * 4 * o * c + f
                e[0] = u0[i]
                e[o * c] = u1[i]
                e[2 * o * c] = u2[i]
                e[3 * o * c] = u3[i]
            }
        }
    }
}

/// Rows of tiles of a chunk taken by one transform call: `count` rows from row `ty` of image `image`,
/// which are rows `q` ..< q + count of the chunk. A run stays within one image, and is at most
/// about 128 tiles long, so that the AVX-512 transforms' scratch stays in L1.
private struct TileRun { var image, ty, q, count: Int }

private func tileRuns(from r0: Int, rows: Int, tilesH: Int, tilesW: Int) -> [TileRun] {
    let longest = max(1, 128 / (tilesW + 1))
    var runs: [TileRun] = [], q = 0
    while q < rows {
        let (image, ty) = (r0 + q).quotientAndRemainder(dividingBy: tilesH)
        let count = min(longest, tilesH - ty, rows - q)
        runs.append(TileRun(image: image, ty: ty, q: q, count: count))
        q += count
    }
    return runs
}

/// Floats of scratch a transform call over `run` rows of tiles takes (either form).
private func transformScratch(rows: Int, tilesW: Int) -> Int {
    max(wino_rows_scratch(rows, tilesW), 52 * tilesW + 64)
}

/// For each run of tile rows and input channel ch (unit run * C + ch of `units`):
/// v[e][ch][q * tilesW + tx] = (B^T d B)[e] of the input patch d of tile tx of chunk row q.
private func transformInput(_ x: UnsafePointer<Float>, _ s: ConvShape, _ g: Conv2dGeometry, tile: Int, runs: [TileRun],
                            units: Range<Int>, tilesW: Int, tiles: Int, into v: UnsafeMutablePointer<Float>) {
    let longest = runs.map(\.count).max() ?? 1
    withScratch(transformScratch(rows: longest, tilesW: tilesW)) { scratch in
        for unit in units {
            let (k, ch) = unit.quotientAndRemainder(dividingBy: s.c)
            let run = runs[k]
            let plane = x + (run.image * s.c + ch) * s.h * s.w, iy0 = tile * run.ty - g.padding.top
            let dst = v + ch * tiles + run.q * tilesW, left = g.padding.left
            if packedGemmEnabled {
                if tile == 4 {
                    wino_f43_input_rows_avx512(plane, s.h, s.w, iy0, left, tilesW, run.count, dst, s.c * tiles, scratch)
                } else {
                    wino_f23_input_rows_avx512(plane, s.h, s.w, iy0, left, tilesW, run.count, dst, s.c * tiles, scratch)
                }
                continue
            }
            for q in 0..<run.count {
                if tile == 4 {
                    wino_f43_input_row(plane, s.h, s.w, iy0 + 4 * q, left, tilesW, dst + q * tilesW, s.c * tiles, scratch)
                } else {
                    wino_f23_input_row(plane, s.h, s.w, iy0 + 2 * q, left, tilesW, dst + q * tilesW, s.c * tiles, scratch)
                }
            }
        }
    }
}

/// For each run of tile rows and output channel oc (unit run * O + oc of `units`): the output rows
/// of those tiles, act(A^T m A + bias), cut to the output's size where the last tiles overhang it.
private func transformOutput(_ m: UnsafePointer<Float>, _ s: ConvShape, tile: Int, runs: [TileRun], units: Range<Int>,
                             tilesW: Int, tiles: Int, bias: UnsafePointer<Float>, _ act: Activation,
                             into out: UnsafeMutablePointer<Float>) {
    let longest = runs.map(\.count).max() ?? 1
    withScratch(transformScratch(rows: longest, tilesW: tilesW)) { scratch in
        for unit in units {
            let (k, oc) = unit.quotientAndRemainder(dividingBy: s.o)
            let run = runs[k]
            let src = m + oc * tiles + run.q * tilesW, y0 = tile * run.ty
            let dst = out + ((run.image * s.o + oc) * s.oh + y0) * s.ow
            if packedGemmEnabled {
                if tile == 4 {
                    wino_f43_output_rows_avx512(src, s.o * tiles, tilesW, run.count, bias[oc], act.code, dst, s.oh - y0, s.ow, scratch)
                } else {
                    wino_f23_output_rows_avx512(src, s.o * tiles, tilesW, run.count, bias[oc], act.code, dst, s.oh - y0, s.ow, scratch)
                }
                continue
            }
            for q in 0..<run.count {
                let (y, row) = (y0 + tile * q, dst + tile * q * s.ow)
                if tile == 4 {
                    wino_f43_output_row(src + q * tilesW, s.o * tiles, tilesW, bias[oc], act.code, row, min(4, s.oh - y), s.ow, scratch)
                } else {
                    wino_f23_output_row(src + q * tilesW, s.o * tiles, tilesW, bias[oc], act.code,
                                        row, y + 1 < s.oh ? row + s.ow : nil, s.ow, scratch)
                }
            }
        }
    }
}
