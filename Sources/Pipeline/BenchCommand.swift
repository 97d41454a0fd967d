// `pipeline bench`: forward-pass throughput of the engine, and of onnxruntime on the same
// architecture in the same run when it is installed, with GFLOP/s and peak memory; with `--train`,
// the fine-tuning engine's training step (forward and backward) instead.
import ArgumentParser
import CBLAS
import Extract
import Foundation
import Train

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure forward-pass (or, with --train, training) images/s, GFLOP/s and peak memory; compare with onnxruntime when installed.")

    @Option(help: "Network architecture.")
    var model: Architecture = .resnet18

    @Option(help: "Images per forward pass.")
    var batch: Int = 32

    @Option(help: "Layer the pass stops at (default: the architecture's code layer).")
    var layer: String?

    @Option(help: "Input side in pixels (default: the architecture's: 224; 299 for inception_v3).")
    var size: Int?

    @Option(help: "Timed passes; the best is reported, after one untimed warm-up pass.")
    var iterations: Int = 3

    @Option(help: "Rounds of our passes then onnxruntime's, alternated so that both meet the machine in the same state (a shared machine drifts); with more than one, a summary compares the best of each.")
    var rounds: Int = 1

    @Option(help: "Threads (the engine's workers, and onnxruntime's intra-op threads).")
    var threads: Int = 2

    @Option(help: ArgumentHelp("Checkpoint to run (default: random weights of the same shapes; speed does not depend on the values).", valueName: "path"))
    var weights: String?

    @Option(help: ArgumentHelp("Python with onnxruntime for the comparison (default: .cache/venv/bin/python if present); `none` skips it.", valueName: "path"))
    var python: String?

    @Flag(help: "Also time each kind of convolution over --iterations more passes, the least of each kind (with --train: each layer's forward and backward over one more step), and print the table.")
    var profile = false

    @Flag(help: "Time a training step instead (forward in training mode, cross-entropy, backward; then the SGD step apart).")
    var train = false

    @Option(name: .customLong("freeze-until"), help: ArgumentHelp("With --train: the layer everything up to which is frozen (default: nothing).", valueName: "layer"))
    var freezeUntil: String?

    @Option(help: ArgumentHelp("Also time decoding and preprocessing the images of this folder (ImageFolder layout) as `extract` does, on one thread, and print the limit that puts on extraction's speed against the forward pass alone.", valueName: "dir"))
    var images: String?

    func validate() throws {
        guard batch > 0, iterations > 0, threads > 0, rounds > 0, (size ?? 32) >= 32 else {
            throw ValidationError("--batch, --iterations, --rounds, --threads must be positive and --size at least 32")
        }
        guard images == nil || !train else { throw ValidationError("--images times extraction's input; it does not apply to --train") }
    }

    func run() throws {
        let size = self.size ?? model.inputSize
        Parallelism.threads = threads
        let peak = measuredPeakGFLOPS()
        if train { return try runTraining(peak: peak, size: size) }
        let net = try weights.map { try Model(model, weights: StateDict.load(path: $0)) } ?? Model(random: model)
        let tap = layer ?? model.defaultLayer
        let node = try net.resolve(tap)
        let macs = try net.multiplyAdds(size: size, upTo: [tap])
        // Any values will do (speed does not depend on them); a cheap generator keeps setup short.
        var state: UInt32 = 12345
        let x = Tensor(shape: [batch, 3, size, size], data: (0..<(batch * 3 * size * size)).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223  // Numerical Recipes' LCG
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        })

        _ = try net.run(x, layers: [tap])
        var bestOurs = 0.0, bestTheirs = 0.0, ratios: [Double] = [], passSeconds = 0.0, passes = 0
        for round in 1...rounds {
            var best = Double.infinity, sum = 0.0
            for _ in 0..<iterations {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try net.run(x, layers: [tap])
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                best = min(best, seconds)
                sum += seconds
            }
            passSeconds += sum
            passes += iterations
            let ours = Double(batch) / best
            bestOurs = max(bestOurs, ours)
            let gflops = 2 * Double(macs) * Double(batch) / best / 1e9
            print(String(format: "pipeline    %@ up to %@, batch %d, %d threads: %.1f images/s, %.2f ms/image, %.1f GFLOP/s (%.0f%% of sgemm peak %.0f GFLOP/s), %.2f GMAC/image, peak RSS %.0f MiB, mean over the passes %.1f images/s",
                         model.rawValue, tap, batch, threads, ours, best * 1000 / Double(batch), gflops, 100 * gflops / peak, peak,
                         Double(macs) / 1e9, peakRSSMiB(), Double(batch * iterations) / sum) + (rounds > 1 ? " (round \(round) of \(rounds))" : ""))
            if round == 1 {
                if profile { try printProfile(net, x, tap) }
                let core = String(cString: openblas_get_corename())
                print("OpenBLAS kernels: \(core)" + (ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (forced by OPENBLAS_CORETYPE=\($0))" } ?? " (detected)"))
                if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil && core.lowercased() == "haswell" && cpuHasAVX512() {
                    print("note: this CPU has AVX-512 but OPENBLAS_CORETYPE selects AVX2 kernels, about half the FP32 throughput; unset it to let OpenBLAS choose")
                }
            }
            guard let theirs = try onnxruntime(tap: node, size: size) else { break }
            bestTheirs = max(bestTheirs, theirs)
            ratios.append(ours / theirs)
            print(String(format: "onnxruntime %@ batch %d, %d threads: %.1f images/s", model.rawValue, batch, threads, theirs))
            print(String(format: "ratio pipeline / onnxruntime: %.2f", ours / theirs))
        }
        if rounds > 1 && !ratios.isEmpty {
            print(String(format: "best of %d rounds: pipeline %.1f images/s, onnxruntime %.1f images/s, ratio %.2f (rounds: %@)",
                         rounds, bestOurs, bestTheirs, bestOurs / bestTheirs, ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
        }
        if let images {
            try printDecodeLimit(images, size: size, forwardRate: Double(batch * passes) / passSeconds)
        }
    }

    /// Extraction decodes and preprocesses on the cores the forward pass runs on, so its CPU time
    /// per image, D, adds to the pass's, T / R (T threads at R images/s): end to end runs at most at
    /// T / (T / R + D) images/s, a ratio to the pass alone of at most 1 / (1 + D R / T). D is timed
    /// as extract spends it (file read, decode, Resize + CenterCrop, ToTensor + Normalize), one image
    /// at a time, in the process's CPU time (the decoders run on threads of their own, FatalErrorGuard.swift),
    /// the least of two runs over the images (the first also warms the page cache).
    func printDecodeLimit(_ folder: String, size: Int, forwardRate: Double) throws {
        let list = try ImageList.imageFolder(folder)
        // The transform of `extract --model MODEL --crop SIZE`.
        let preprocessing = try PreprocessingOptions.parse(["--crop", String(size)]).preprocessing(for: model)
        var least = Double.infinity, failed = 0
        for _ in 0..<2 {
            failed = 0
            let start = processCPUSeconds()
            for i in 0..<list.count {
                do {
                    _ = preprocessing.apply(try ImageDecoder.decode(path: list.absolutePath(i)))
                } catch {
                    failed += 1
                }
            }
            least = min(least, processCPUSeconds() - start)
        }
        let d = least / Double(list.count)
        let limit = Double(threads) / (Double(threads) / forwardRate + d)
        print(String(format: "decode + preprocess: %.3f ms of CPU an image (%d images%@, one thread): beside this pass's %.1f images/s (the mean over the passes) on %d threads, extraction runs at most %.1f images/s, a ratio to the pass alone of at most %.3f",
                     d * 1000, list.count, failed > 0 ? ", \(failed) unreadable" : "", forwardRate, threads, limit, limit / forwardRate))
    }

    /// Each kind of convolution's time: the least over `iterations` more passes, each kind apart (a
    /// single pass runs partly cold, and this machine's neighbours slow some passes).
    func printProfile(_ net: Model, _ x: Tensor, _ tap: String) throws {
        var best: [String: (seconds: Double, calls: Int)] = [:]
        var total = Double.infinity
        for _ in 0..<max(1, iterations) {
            convProfile = [:]
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try net.run(x, layers: [tap])
            total = min(total, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            for (key, t) in convProfile ?? [:] where t.seconds < best[key]?.seconds ?? .infinity {
                best[key] = (t.seconds, t.calls)
            }
        }
        convProfile = nil
        for (key, t) in best.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            print(String(format: "  %6.3f ms %5.1f%%  %3dx  %@", t.seconds * 1000, 100 * t.seconds / total, t.calls, key))
        }
        print(String(format: "  %6.3f ms the fastest pass, of which %.3f ms outside convolutions (each kind's least summed)", total * 1000,
                     (total - best.values.reduce(0) { $0 + $1.seconds }) * 1000))
    }

    /// Training images/s: zeroGrad, forward in training mode, cross-entropy and backward, timed
    /// together (the best of `iterations` after a warm-up step); the SGD update timed apart.
    /// GFLOP/s counts 3x the forward multiply-adds of the trained layers (forward, weight gradient,
    /// input gradient) plus the frozen prefix's forward: an upper bound by the first layer's input
    /// gradient, which is not computed.
    func runTraining(peak: Double, size: Int) throws {
        let classes = 1000
        let net = try weights.map {
            try TrainableNetwork(model, weights: StateDict.load(path: $0), classes: classes, freezeUntil: freezeUntil, seed: 0)
        } ?? TrainableNetwork(random: model, classes: classes, freezeUntil: freezeUntil)
        let inference = try Model(random: model)
        // Up to the last node: with no layer named, multiplyAdds lists every node and counts twice.
        let all = try inference.multiplyAdds(size: size, upTo: [try inference.layers(size: size).last?.name ?? model.defaultLayer])
        let frozen = try net.frozenUntil.map { try inference.multiplyAdds(size: size, upTo: [$0]) } ?? 0
        let macs = all + 2 * (all - frozen)
        var state: UInt32 = 12345
        let x = Tensor(shape: [batch, 3, size, size], data: (0..<(batch * 3 * size * size)).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        })
        let labels = (0..<batch).map { $0 % classes }
        let sgd = SGD(momentum: 0.9, weightDecay: 1e-4)
        var best = Double.infinity, bestStep = Double.infinity, bestCPU = Double.infinity
        for i in 0...iterations {
            let cpuStart = processCPUSeconds()
            let start = DispatchTime.now().uptimeNanoseconds
            net.zeroGrad()
            let (_, grad, _) = crossEntropy(try net.forward(x, training: true), labels: labels)
            try net.backward(grad)
            let mid = DispatchTime.now().uptimeNanoseconds
            let cpu = processCPUSeconds() - cpuStart
            sgd.step(net.parameters) { _ in 1e-4 }
            let end = DispatchTime.now().uptimeNanoseconds
            if i > 0 {
                best = min(best, Double(mid - start) / 1e9)
                bestStep = min(bestStep, Double(end - mid) / 1e9)
                bestCPU = min(bestCPU, cpu)
            }
        }
        let gflops = 2 * Double(macs) * Double(batch) / best / 1e9
        print(String(format: "pipeline    %@ training (forward + backward), frozen up to %@, batch %d, %d threads: %.1f images/s, %.1f ms/image, %.1f GFLOP/s (%.0f%% of sgemm peak %.0f GFLOP/s), %.2f GMAC/image; SGD step %.1f ms; peak RSS %.0f MiB",
                     model.rawValue, net.frozenUntil ?? "nothing", batch, threads, Double(batch) / best, best * 1000 / Double(batch),
                     gflops, 100 * gflops / peak, peak, Double(macs) / 1e9, bestStep * 1000, peakRSSMiB()))
        // On a shared machine the wall clock includes other processes' turns; CPU time does not.
        print(String(format: "            CPU time %.2f s per step: %.1f images per core-second, %.1f images/s if %d cores were this process's alone",
                     bestCPU, Double(batch) / bestCPU, Double(batch * threads) / bestCPU, threads))
        if profile {
            net.profile = [:]
            net.zeroGrad()
            let (_, grad, _) = crossEntropy(try net.forward(x, training: true), labels: labels)
            try net.backward(grad)
            let times = net.profile ?? [:]
            let total = times.values.reduce(0, +)
            for (key, t) in times.sorted(by: { $0.value > $1.value }) {
                print(String(format: "  %7.1f ms %5.1f%%  %@", t * 1000, 100 * t / total, key))
            }
        }
    }

    /// User plus system CPU seconds of this process so far.
    func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Large square sgemm throughput: the practical FP32 peak of this machine with these threads,
    /// measured as the engine uses BLAS, single-threaded in each of its workers, each worker
    /// multiplying its own matrices at once.
    func measuredPeakGFLOPS() -> Double {
        let n = 1536
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n * threads)
        var best = Double.infinity
        c.withUnsafeMutableBufferPointer { c in
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                parallelChunks(threads) { t in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n),
                                0, c.baseAddress! + t * n * n, Int32(n))
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        return 2 * pow(Double(n), 3) * Double(threads) / best / 1e9
    }

    /// onnxruntime's images/s from scripts/bench_ort.py, or nil when it is not installed.
    func onnxruntime(tap: String, size: Int) throws -> Double? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/bench_ort.py").path
        let python = self.python ?? root.appendingPathComponent(".cache/venv/bin/python").path
        guard python != "none", FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: script) else {
            print("onnxruntime: not compared (install it with scripts/install-deps --test, or pass --python)")
            return nil
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, model.rawValue, "--batch", "\(batch)", "--threads", "\(threads)", "--size", "\(size)", "--iterations", "\(iterations)", "--tap", tap]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let text = String(data: data, encoding: .utf8),
              let value = text.split(whereSeparator: \.isWhitespace).last.flatMap({ Double($0) }) else {
            print("onnxruntime: the comparison script failed (exit \(p.terminationStatus))")
            return nil
        }
        return value
    }
}

/// AVX-512 F, BW, DQ and VL, which OpenBLAS's SkylakeX/Cooperlake kernels use.
func cpuHasAVX512() -> Bool {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
    let set = Set(flags.split(separator: " "))
    return ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy { set.contains(Substring($0)) }
}

/// Peak resident memory of this process (VmHWM in /proc/self/status), in MiB.
func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}
