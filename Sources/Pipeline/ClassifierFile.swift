// Saved classifiers of either kind behind one value, opened by the `kind` of their sidecar JSON;
// and the options the training commands share.
import ArgumentParser
import Classify
import Foundation

/// A trained classifier: liblinear's (`model.svm` + `model.svm.json`) or the softmax (`model.softmax`,
/// whose sidecar `model.softmax.json` repeats the description so both kinds open the same way).
enum Classifier {
    case linear(LinearClassifier)
    case softmax(Softmax)

    var info: ClassifierInfo {
        switch self {
        case .linear(let c): return c.info
        case .softmax(let s): return s.info
        }
    }

    static func load(path: String) throws -> Classifier {
        let sidecar = ClassifierInfo.sidecarPath(for: path)
        guard FileManager.default.fileExists(atPath: path) else {
            throw Failure("\(path): no such classifier; `pipeline train-svm` or `pipeline train-softmax` writes one")
        }
        guard let data = FileManager.default.contents(atPath: sidecar) else {
            throw Failure("\(sidecar): missing; every classifier is a model file with this .json beside it, as train-svm and train-softmax write them")
        }
        let info: ClassifierInfo
        do { info = try JSONDecoder().decode(ClassifierInfo.self, from: data) } catch {
            throw Failure("\(sidecar): not a classifier description: \(error)")
        }
        switch info.kind {
        case .svm: return .linear(try LinearClassifier.load(path: path))
        case .softmax: return .softmax(try Softmax.load(path: path))
        }
    }

    func predict(_ f: FeatureSet) throws -> [Int32] {
        switch self {
        case .linear(let c): return try c.predict(f)
        case .softmax(let s): return try s.predict(f)
        }
    }

    /// Per-class scores in class order, and what they are: probabilities for the softmax and liblinear's
    /// logistic solvers, decision values for the SVMs.
    func scores(_ f: FeatureSet) throws -> (kind: String, values: [[Double]]) {
        switch self {
        case .softmax(let s): return ("probability", try s.probabilities(f))
        case .linear(let c):
            if c.model.givesProbabilities { return ("probability", try c.probabilities(f)) }
            return ("decision value", try c.decisionValues(f))
        }
    }

    /// Refuses codes made otherwise than the training codes, naming each differing field and saying how
    /// to make matching codes.
    func check(provenance: [String: String], codes path: String) throws {
        do { try info.check(provenance: provenance) } catch let e as ClassifyError {
            throw Failure("""
                \(path): \(e)
                Extract codes the way the classifier's were made:
                  \(Recipe(provenance: info.provenance).extractCommand(data: "DIR", out: "codes.h5"))
                or train a classifier on codes made like \(path)'s.
                """)
        }
    }
}

/// Writes a classifier description beside `path`, as LinearClassifier.save does for liblinear models.
func writeSidecar(_ info: ClassifierInfo, for path: String) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    let sidecar = ClassifierInfo.sidecarPath(for: path)
    do { try e.encode(info).write(to: URL(fileURLWithPath: sidecar)) } catch {
        throw Failure("\(sidecar): cannot write: \(error)")
    }
}

/// --codes, --layer and --normalize, shared by train-svm and train-softmax.
struct TrainingCodesOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Training codes from `pipeline extract --data DIR` (classes from the folder names).", valueName: "path"))
    var codes: String

    @Option(help: ArgumentHelp("Layer of the codes file to train on (default: the file's only layer).", valueName: "name"))
    var layer: String?

    @Option(help: "Normalisation fitted on the training codes and applied at prediction: none, l2 (rows to unit length), standard (columns to zero mean, unit variance).")
    var normalize: String = "none"

    @Option(help: "Folds of the stratified cross-validation that chooses C (scikit-learn's StratifiedKFold, unshuffled).")
    var folds: Int = 5

    func normalization() throws -> Normalization.Kind {
        guard let k = Normalization.Kind(rawValue: normalize) else {
            throw ValidationError("--normalize takes none, l2 or standard; got `\(normalize)`")
        }
        return k
    }

    func validate() throws {
        _ = try normalization()
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2, got \(folds)") }
    }

    /// The codes with their provenance, refusing what no classifier can learn from.
    func load() throws -> (features: FeatureSet, provenance: [String: String], layer: String) {
        let input = try CodesInput(path: codes, layer: layer)
        let f = try input.features()
        do { try f.validate(training: true) } catch let e as ClassifyError {
            throw Failure("\(codes) (layer `\(input.layer)`): \(e)")
        }
        return (f, input.provenance, input.layer)
    }
}

/// Reads a `--grid` list such as "0.01,0.1,1" or "2^-10..2^10".
func parseGrid(_ text: String) throws -> [Double] {
    let t = text.trimmingCharacters(in: .whitespaces)
    if t.hasPrefix("2^"), let r = t.range(of: "..2^"),
       let lo = Int(t[t.index(t.startIndex, offsetBy: 2)..<r.lowerBound]), let hi = Int(t[r.upperBound...]), lo <= hi {
        return (lo...hi).map { pow(2, Double($0)) }
    }
    let values = t.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw ValidationError("--grid takes positive numbers separated by commas, or 2^A..2^B; got `\(text)`")
    }
    return values.compactMap { $0 }
}

/// A failure while running a command: printed as `Error: message`, without the usage text that
/// ArgumentParser adds to a ValidationError (which is for malformed arguments).
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Elapsed seconds of `body`.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let r = try body()
    return (r, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}

/// Writes `text` to `path`, or to standard output when `path` is nil.
func emit(_ text: String, to path: String?) throws {
    guard let path else { print(text, terminator: ""); return }
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
        throw Failure("\(path): cannot write: \(error)")
    }
}
