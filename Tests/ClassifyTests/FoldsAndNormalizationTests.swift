// Stratified folds and normalisations against scikit-learn's StratifiedKFold, StandardScaler, normalize.
import XCTest
@testable import Classify

final class FoldsAndNormalizationTests: XCTestCase {
    let ref = Golden.reference

    func testStratifiedFoldsEqualScikitLearn() {
        let ours = stratifiedFolds(labels: Golden.digits.labels, k: 5)
        let differing = zip(ours, ref.stratified_5fold).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        XCTAssertEqual(differing.count, 0, "samples in another fold than StratifiedKFold(5) puts them: \(differing.prefix(10))")
    }

    /// StandardScaler fitted on the training split (population std; constant pixels get scale 1): < 1e-6.
    func testStandardMatchesStandardScaler() {
        let train = Golden.split.train
        guard case .standard(let mean, let scale) = Normalization.fit(.standard, codes: train.codes, dimension: 64) else {
            return XCTFail("not standard")
        }
        let dm = maxAbsDifference(mean.map(Double.init), ref.standard_scaler.mean)
        let ds = maxAbsDifference(scale.map(Double.init), ref.standard_scaler.scale)
        XCTAssertLessThan(dm, 1e-6, "mean max |diff| \(dm)")
        XCTAssertLessThan(ds, 1e-6, "scale max |diff| \(ds)")
    }

    func testL2MatchesNormalize() {
        var rows = Array(Golden.digits.codes[0..<(3 * 64)])
        Normalization.l2.apply(&rows, dimension: 64)
        let diff = maxAbsDifference(rows.map(Double.init), ref.l2_rows_0_3.flatMap { $0 })
        XCTAssertLessThan(diff, 1e-6, "max |diff| \(diff)")
    }

    func testNormalizationRoundTripsThroughJSON() throws {
        let n = Normalization.standard(mean: [1, 2], scale: [3, 4])
        let back = try JSONDecoder().decode(Normalization.self, from: try JSONEncoder().encode(n))
        XCTAssertEqual(back, n)
        XCTAssertThrowsError(try n.check(dimension: 3))
    }
}
