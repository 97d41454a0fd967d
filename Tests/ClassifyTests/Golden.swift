// Reads what Golden/make_classify.py wrote: scikit-learn's digits and its reference results.
import Foundation
import XCTest
@testable import Classify

enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    struct Reference: Decodable {
        struct SVC: Decodable { var C: Double; var test_accuracy: Double; var cv5_accuracy: Double; var cv5_shuffled_accuracy: Double }
        struct LR: Decodable { var C: Double; var test_accuracy: Double }
        struct Soft: Decodable { var C: Double; var test_accuracy: Double; var cv5_accuracy: Double; var test_proba: [[Double]] }
        struct Scaler: Decodable { var mean: [Double]; var scale: [Double] }
        struct Metrics: Decodable {
            var y_true: [Int32]; var y_pred: [Int32]; var accuracy: Double
            var precision: [Double]; var recall: [Double]; var f1: [Double]; var support: [Int]
            var macro: [Double]; var weighted: [Double]; var confusion: [[Int]]
        }
        var test_indices: [Int]
        var stratified_5fold: [Int]
        var nonzeros: Int
        var balanced_weights_train: [Double]
        var linear_svc: SVC
        var liblinear_lr: LR
        var softmax: Soft
        var standard_scaler: Scaler
        var l2_rows_0_3: [[Double]]
        var metrics: Metrics
    }

    static let reference: Reference = {
        do {
            let data = try Data(contentsOf: directory.appendingPathComponent("reference.json"))
            return try JSONDecoder().decode(Reference.self, from: data)
        } catch {
            fatalError("cannot read Golden/reference.json (run Golden/make_classify.py): \(error)")
        }
    }()

    /// All 1797 digits, pixels scaled to 0...1 (/16) as the generator does.
    static let digits: FeatureSet = {
        guard let bytes = try? [UInt8](Data(contentsOf: directory.appendingPathComponent("digits.u8"))),
              bytes.count == 1797 * 65 else { fatalError("Golden/digits.u8 missing or truncated (run Golden/make_classify.py)") }
        var codes = [Float](), labels = [Int32]()
        for i in 0..<1797 {
            codes += bytes[(i * 65)..<(i * 65 + 64)].map { Float($0) / 16 }
            labels.append(Int32(bytes[i * 65 + 64]))
        }
        return FeatureSet(codes: codes, labels: labels, classes: (0..<10).map(String.init), dimension: 64)
    }()

    /// The generator's fixed split: every fourth digit of each class is held out.
    static let split: (train: FeatureSet, test: FeatureSet) = {
        let test = Set(reference.test_indices)
        let train = (0..<digits.count).filter { !test.contains($0) }
        return (digits.subset(train), digits.subset(reference.test_indices))
    }()
}

func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// A scratch directory removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("classify-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}
