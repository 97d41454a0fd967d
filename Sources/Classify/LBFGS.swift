// Limited-memory BFGS with a strong-Wolfe line search: Nocedal & Wright, Numerical Optimization (2nd ed.),
// Algorithm 7.4 (two-loop recursion), 7.5 (H0 = s'y / y'y), 3.5 and 3.6 (line search and zoom, cubic step).

struct LBFGS {
    var memory = 10
    var maxIterations = 1000
    /// Stop when the largest gradient component is below this.
    var gradientTolerance = 1e-6
    /// Or when an iteration lowers f by less than this, relative to |f| (scipy's `ftol` convention).
    var functionTolerance = 1e-12
    /// Relative precision of f's evaluation: 1e-7 for losses built on Float logits (Float's epsilon 1.2e-7).
    var resolution = 1e-7
    // Wolfe constants, N&W's recommended values for quasi-Newton methods.
    let c1 = 1e-4, c2 = 0.9

    struct Result { var x: [Double]; var f: Double; var iterations: Int; var converged: Bool }

    func minimize(_ x0: [Double], _ fg: ([Double]) -> (Double, [Double])) -> Result {
        var x = x0
        var (f, g) = fg(x)
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        for iteration in 0..<maxIterations {
            if g.reduce(0, { max($0, abs($1)) }) < gradientTolerance {
                return Result(x: x, f: f, iterations: iteration, converged: true)
            }
            // Two-loop recursion: d = -H g.
            var q = g
            var alpha = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alpha[i] = rho[i] * dot(s[i], q)
                axpy(-alpha[i], y[i], &q)
            }
            let gamma = s.isEmpty ? 1 : dot(s[s.count - 1], y[y.count - 1]) / dot(y[y.count - 1], y[y.count - 1])
            for i in 0..<q.count { q[i] *= gamma }
            for i in 0..<s.count {
                let beta = rho[i] * dot(y[i], q)
                axpy(alpha[i] - beta, s[i], &q)
            }
            var d = q.map { -$0 }
            if dot(d, g) >= 0 { d = g.map { -$0 }; s.removeAll(); y.removeAll(); rho.removeAll() }
            // First step: unit length along -g (N&W 3.5, "alpha0 = 1" is poorly scaled without curvature).
            let step0 = s.isEmpty ? min(1, 1 / dot(g, g).squareRoot()) : 1
            guard let (a, fNew, gNew) = lineSearch(x: x, f0: f, g0: g, d: d, step: step0, fg) else {
                // No step lowers f measurably: converged if the predicted decrease is already below the
                // resolution at which f is evaluated (Float logits), else a genuine failure.
                let predicted = -dot(d, g)
                return Result(x: x, f: f, iterations: iteration, converged: predicted <= resolution * max(abs(f), 1))
            }
            var xNew = x
            axpy(a, d, &xNew)
            let sk = zip(xNew, x).map { $0 - $1 }, yk = zip(gNew, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 * dot(yk, yk) {  // keep H positive definite
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let decrease = f - fNew
            x = xNew; g = gNew
            let fOld = f
            f = fNew
            if decrease <= functionTolerance * max(abs(fOld), abs(fNew), 1) {
                return Result(x: x, f: f, iterations: iteration + 1, converged: true)
            }
        }
        return Result(x: x, f: f, iterations: maxIterations, converged: false)
    }

    /// A step `a` along `d` satisfying the strong Wolfe conditions, with f and g there; nil if none found.
    private func lineSearch(x: [Double], f0: Double, g0: [Double], d: [Double], step: Double,
                            _ fg: ([Double]) -> (Double, [Double])) -> (Double, Double, [Double])? {
        let dphi0 = dot(g0, d)
        func phi(_ a: Double) -> (f: Double, dphi: Double, g: [Double]) {
            var xa = x
            axpy(a, d, &xa)
            let (f, g) = fg(xa)
            return (f, dot(g, d), g)
        }
        typealias Point = (a: Double, f: Double, dphi: Double)

        func zoom(_ lo0: Point, _ hi0: Point) -> (Double, Double, [Double])? {
            var lo = lo0, hi = hi0
            for _ in 0..<40 {
                let a = cubicMinimizer(lo, hi)
                let (f, dphi, g) = phi(a)
                if !f.isFinite || f > f0 + c1 * a * dphi0 || f >= lo.f {
                    hi = (a, f, dphi)
                } else {
                    if abs(dphi) <= -c2 * dphi0 { return (a, f, g) }
                    if dphi * (hi.a - lo.a) >= 0 { hi = lo }
                    lo = (a, f, dphi)
                }
                if abs(hi.a - lo.a) < 1e-16 * max(abs(lo.a), 1) { break }
            }
            // Accept the best sufficient-decrease point if the curvature condition could not be met.
            if lo.a > 0 { let (f, _, g) = phi(lo.a); return (lo.a, f, g) }
            return nil
        }

        var prev: Point = (0, f0, dphi0)
        var a = step
        for i in 0..<30 {
            let (f, dphi, g) = phi(a)
            if !f.isFinite || f > f0 + c1 * a * dphi0 || (i > 0 && f >= prev.f) { return zoom(prev, (a, f, dphi)) }
            if abs(dphi) <= -c2 * dphi0 { return (a, f, g) }
            if dphi >= 0 { return zoom((a, f, dphi), prev) }
            prev = (a, f, dphi)
            a *= 2
        }
        return nil
    }

    /// Minimiser of the cubic through two points with their slopes (N&W eq. 3.59), kept inside the
    /// middle 80% of the interval; bisection when the cubic has no minimiser there or values are infinite.
    private func cubicMinimizer(_ p: (a: Double, f: Double, dphi: Double), _ q: (a: Double, f: Double, dphi: Double)) -> Double {
        let lo = min(p.a, q.a), hi = max(p.a, q.a), width = hi - lo
        let d1 = p.dphi + q.dphi - 3 * (p.f - q.f) / (p.a - q.a)
        let disc = d1 * d1 - p.dphi * q.dphi
        var a = (lo + hi) / 2
        if disc >= 0, disc.isFinite {
            let d2 = (q.a > p.a ? 1.0 : -1.0) * disc.squareRoot()
            let c = q.a - (q.a - p.a) * (q.dphi + d2 - d1) / (q.dphi - p.dphi + 2 * d2)
            if c.isFinite { a = c }
        }
        return min(max(a, lo + 0.1 * width), hi - 0.1 * width)
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += a[i] * b[i] }
    return s
}

func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
    for i in 0..<x.count { y[i] += alpha * x[i] }
}
