// Sums over contiguous floats in 16 lanes: a float reduction written as a scalar loop is one
// dependent chain of additions (the compiler may not reorder them), which BatchNorm's statistics
// and the depthwise weight gradient would otherwise wait on.

/// sum of p[0..<n]
@inline(__always)
func laneSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= n {
        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// sum of (p[i] - mean)^2
@inline(__always)
func laneSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
    var acc = SIMD16<Float>()
    let m = SIMD16<Float>(repeating: mean)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= n {
        let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m
        acc += d * d
        i += 16
    }
    var s = acc.sum()
    while i < n { let d = p[i] - mean; s += d * d; i += 1 }
    return s
}

/// sum of a[i] * (b[i] - shift)
@inline(__always)
func laneDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, shift: Float = 0) -> Float {
    var acc = SIMD16<Float>()
    let m = SIMD16<Float>(repeating: shift)
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
        acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            * (rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m)
        i += 16
    }
    var s = acc.sum()
    while i < n { s += a[i] * (b[i] - shift); i += 1 }
    return s
}
