// The strict, scoped loading contract of CONVENTIONS.md (principle 2), on a small in-memory dict.

import XCTest
@testable import Extract

final class CheckpointWeightReaderTests: XCTestCase {
    let dict = StateDict([
        ("conv1.weight", Tensor(zeros: [4, 3, 3, 3])),
        ("bn1.weight", Tensor(zeros: [4])),
        ("bn1.num_batches_tracked", Tensor(zeros: [])),
        ("layer1.0.conv1.weight", Tensor(shape: [1, 1, 1, 2], data: [5, 6])),
        ("layer1.0.downsample.1.bias", Tensor(zeros: [4])),
        ("fc.weight", Tensor(zeros: [10, 4])),
        ("fc.bias", Tensor(zeros: [10])),
    ])

    func testScopesJoinNamesWithDots() throws {
        let r = WeightReader(dict)
        let block = r.scope("layer1").scope(0)
        XCTAssertEqual(try block.tensor("conv1.weight", shape: [1, 1, 1, 2]).data, [5, 6])
        XCTAssertTrue(block.scope("downsample").scope(1).has("bias"))
        XCTAssertFalse(block.has("conv2.weight"))
        XCTAssertNil(try block.optional("conv1.bias", shape: [1]))
    }

    func testMissingAndShapeMismatchNameTheFullKey() {
        let r = WeightReader(dict).scope("layer1").scope(0)
        XCTAssertThrowsError(try r.tensor("conv2.weight", shape: [1])) { error in
            guard case let CheckpointError.missing(key, hint) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "layer1.0.conv2.weight")
            XCTAssertTrue(hint.contains("layer1.0.conv1.weight"), hint)
        }
        XCTAssertThrowsError(try r.tensor("conv1.weight", shape: [2, 1])) { error in
            XCTAssertEqual(error as? CheckpointError,
                           .shapeMismatch(key: "layer1.0.conv1.weight", expected: [2, 1], got: [1, 1, 1, 2]))
        }
    }

    func testFinishListsUnusedKeysButIgnoresBatchCountersAndDroppedHeads() throws {
        let r = WeightReader(dict)
        _ = try r.tensor("conv1.weight", shape: [4, 3, 3, 3])
        _ = try r.scope("bn1").tensor("weight", shape: [4])
        _ = try r.scope("layer1").scope(0).tensor("conv1.weight", shape: [1, 1, 1, 2])
        XCTAssertThrowsError(try r.finish()) { error in
            XCTAssertEqual(error as? CheckpointError, .unused(keys: ["layer1.0.downsample.1.bias", "fc.weight", "fc.bias"]))
        }
        XCTAssertThrowsError(try r.finish(allowUnusedPrefixes: ["fc"])) { error in
            XCTAssertEqual(error as? CheckpointError, .unused(keys: ["layer1.0.downsample.1.bias"]))
        }
        _ = try r.scope("layer1.0.downsample").scope(1).tensor("bias", shape: [4])
        XCTAssertNoThrow(try r.finish(allowUnusedPrefixes: ["fc."]))
        // "f" is not a prefix of the module `fc`.
        XCTAssertThrowsError(try r.finish(allowUnusedPrefixes: ["f"]))
    }
}
