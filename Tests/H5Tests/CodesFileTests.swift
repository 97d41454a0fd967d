// The codes file schema: written by CodesWriter and checked by h5py (check_codes.py, dump_h5.py); written by
// h5py (make_golden.py) and read by CodesFile; resumed after an interrupted run; refused on a mismatch.
import Foundation
import H5
import XCTest

final class CodesFileTests: TemporaryDirectoryTestCase {
    /// The metadata make_golden.py writes into its codes files.
    let metadata = CodesMetadata(
        model: "alexnet", weightsFile: "alexnet-owt-7be5be79.pth", weightsSHA256: "7be5be79" + String(repeating: "0", count: 56),
        layers: ["fc7", "features.10"], pooling: "none",
        preprocessing: "resize 256, center crop 224, ImageNet mean/std", toolVersion: "0.1.0",
        extra: ["dataset": "digits"])
    let dimensions = [("fc7", 6), ("features.10", 4)]
    let classes = ["zero", "one", "two"]

    /// Batch `b` of `n` rows: distinct values per layer, row and column; labels cycle through -1 (unlabelled).
    func batch(_ b: Int, rows n: Int = 3) -> (codes: [String: [Float]], labels: [Int32], paths: [String]) {
        let rows = (b * n)..<((b + 1) * n)
        var codes: [String: [Float]] = [:]
        for (layer, d) in dimensions {
            let offset: Float = layer == "fc7" ? 0 : 1000
            codes[layer] = rows.flatMap { r in (0..<d).map { c in offset + Float(r) + Float(c) / 8 } }
        }
        return (codes, rows.map { Int32($0 % 4 - 1) }, rows.map { "\(classes[max(0, $0 % 4 - 1)])/img \($0).png" })
    }

    func write(_ name: String, batches: Range<Int>, finish: Bool) throws -> CodesWriter {
        let writer = try CodesWriter(path: path(name), metadata: metadata, layerDimensions: dimensions,
                                     classes: classes, overwrite: false)
        for b in batches {
            let (codes, labels, paths) = batch(b)
            try writer.append(codes: codes, labels: labels, paths: paths)
        }
        if finish { try writer.finish() }
        return writer
    }

    func testWrittenFileReadsInH5py() throws {
        let writer = try write("codes.h5", batches: 0..<2, finish: false)
        try writer.addSkipped(["broken.jpg: not a JPEG file"])
        try writer.finish()

        XCTAssertEqual(try Reference.run("check_codes.py", [path("codes.h5")]), "ok\n")
        let dump = try Reference.dump(path("codes.h5"))
        let attrs = dump["attrs"]
        for (name, value) in [("model", "alexnet"), ("layers", "fc7,features.10"), ("pooling", "none"),
                              ("weights_file", "alexnet-owt-7be5be79.pth"), ("tool_version", "0.1.0"),
                              ("preprocessing", metadata.preprocessing), ("dataset", "digits")] {
            XCTAssertEqual(attrs[name]["type"].string, "str", name)
            XCTAssertEqual(attrs[name]["value"].string, value, name)
        }
        XCTAssertEqual(attrs["format_version"]["value"].int, 1)
        XCTAssertEqual(attrs["complete"]["value"].int, 1)
        XCTAssertEqual(attrs["num_images"]["value"].int, 6)
        XCTAssertEqual(dump["groups"]["codes"]["keys"].strings, ["fc7", "features.10"])

        let expected = [batch(0), batch(1)]
        for (layer, d) in dimensions {
            let dataset = dump["datasets"]["codes/\(layer)"]
            XCTAssertEqual(dataset["dtype"].string, "<f4")
            XCTAssertEqual(dataset["shape"].ints, [6, d])
            assertClose(dataset["values"].floats, expected.flatMap { $0.codes[layer] ?? [] }, layer)
        }
        XCTAssertEqual(dump["datasets"]["labels"]["values"].ints, expected.flatMap { $0.labels.map { Int($0) } })
        XCTAssertEqual(dump["datasets"]["paths"]["values"].strings, expected.flatMap { $0.paths })
        XCTAssertEqual(dump["datasets"]["classes"]["values"].strings, classes)
        XCTAssertEqual(dump["datasets"]["skipped"]["values"].strings, ["broken.jpg: not a JPEG file"])
    }

    func testH5pyFileReadsInSwift() throws {
        try Reference.golden(directory)
        let expected = try JSON(file: path("codes.json"))
        let file = try CodesFile(path: path("codes.h5"))
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertTrue(file.complete)
        XCTAssertEqual(file.count, 10)
        XCTAssertEqual(file.layerNames, ["fc7", "features.10"])
        XCTAssertEqual(file.classes, expected["classes"].strings)
        XCTAssertEqual(file.labels.map { Int($0) }, expected["labels"].ints)
        XCTAssertEqual(file.paths, expected["paths"].strings)
        XCTAssertEqual(file.skipped, expected["skipped"].strings)
        for (layer, d) in dimensions {
            XCTAssertEqual(try file.dimension(of: layer), d)
            assertClose(try file.codes(layer: layer), expected["codes"][layer].floats, layer)
            assertClose(try file.codes(layer: layer, rows: 8..<10), Array(expected["codes"][layer].floats[(8 * d)...]),
                        "\(layer) rows 8..<10")
        }
    }

    func testUnknownLayerListsTheLayers() throws {
        try Reference.golden(directory)
        let file = try CodesFile(path: path("codes.h5"))
        XCTAssertThrowsError(try file.codes(layer: "fc9")) { error in
            XCTAssertEqual("\(error)", "\(path("codes.h5")): unknown layer `fc9`; the file holds fc7, features.10")
        }
    }

    func testRefusesUnknownFormatVersion() throws {
        try Reference.golden(directory)
        XCTAssertThrowsError(try CodesFile(path: path("codes_v2.h5"))) { error in
            XCTAssertEqual(error as? H5Error, .unsupportedVersion(file: path("codes_v2.h5"), found: 2, supported: 1))
        }
        XCTAssertThrowsError(try CodesFile(path: path("generic.h5"))) { error in
            XCTAssertTrue("\(error)".contains("not a codes file"), "\(error)")
        }
    }

    /// A writer dropped without `finish` (its last batch flushed) is resumed; the result equals a file written
    /// in one go, as h5py reads both.
    func testResumeAfterInterruptedRun() throws {
        _ = try write("whole.h5", batches: 0..<5, finish: true)
        _ = try write("resumed.h5", batches: 0..<3, finish: false)

        let writer = try CodesWriter(path: path("resumed.h5"), metadata: metadata, layerDimensions: dimensions,
                                     classes: classes, overwrite: false)
        XCTAssertEqual(writer.rowsDone, 9)
        XCTAssertFalse(writer.alreadyComplete)
        XCTAssertNil(writer.warning)
        XCTAssertEqual(writer.pathsDone, (0..<3).flatMap { batch($0).paths })
        for b in 3..<5 {
            let (codes, labels, paths) = batch(b)
            try writer.append(codes: codes, labels: labels, paths: paths)
        }
        try writer.finish()

        let whole = try Reference.dump(path("whole.h5")), resumed = try Reference.dump(path("resumed.h5"))
        XCTAssertEqual(resumed["attrs"]["num_images"]["value"].int, 15)
        XCTAssertEqual(resumed["attrs"]["complete"]["value"].int, 1)
        for name in ["codes/fc7", "codes/features.10"] {
            XCTAssertEqual(resumed["datasets"][name]["shape"].ints, whole["datasets"][name]["shape"].ints, name)
            assertClose(resumed["datasets"][name]["values"].floats, whole["datasets"][name]["values"].floats, name)
        }
        XCTAssertEqual(resumed["datasets"]["labels"]["values"].ints, whole["datasets"]["labels"]["values"].ints)
        XCTAssertEqual(resumed["datasets"]["paths"]["values"].strings, whole["datasets"]["paths"]["values"].strings)
        XCTAssertEqual(try Reference.run("check_codes.py", [path("resumed.h5")]), "ok\n")

        let again = try CodesWriter(path: path("resumed.h5"), metadata: metadata, layerDimensions: dimensions,
                                    classes: classes, overwrite: false)
        XCTAssertTrue(again.alreadyComplete)
        XCTAssertEqual(again.rowsDone, 15)
    }

    /// make_golden.py's `codes_killed.h5` has 6 rows of data but `num_images` = 4, as a kill after the data and
    /// before the attribute leaves it: the writer resumes at row 4 and overwrites rows 4 and 5.
    func testResumeCutsRowsBeyondNumImages() throws {
        try Reference.golden(directory)
        let expected = try JSON(file: path("codes_killed.json"))
        let writer = try CodesWriter(path: path("codes_killed.h5"), metadata: metadata, layerDimensions: dimensions,
                                     classes: classes, overwrite: false)
        XCTAssertEqual(writer.rowsDone, 4)
        XCTAssertEqual(writer.pathsDone, Array(expected["paths"].strings.prefix(4)))
        XCTAssertEqual(writer.skippedDone, expected["skipped"].strings)
        let next = batch(7, rows: 2)
        try writer.append(codes: next.codes, labels: next.labels, paths: next.paths)
        try writer.finish()

        XCTAssertEqual(try Reference.run("check_codes.py", [path("codes_killed.h5")]), "ok\n")
        let dump = try Reference.dump(path("codes_killed.h5"))
        XCTAssertEqual(dump["attrs"]["num_images"]["value"].int, 6)
        for (layer, d) in dimensions {
            assertClose(dump["datasets"]["codes/\(layer)"]["values"].floats,
                        Array(expected["codes"][layer].floats.prefix(4 * d)) + (next.codes[layer] ?? []), layer)
        }
        XCTAssertEqual(dump["datasets"]["labels"]["values"].ints,
                       Array(expected["labels"].ints.prefix(4)) + next.labels.map { Int($0) })
        XCTAssertEqual(dump["datasets"]["paths"]["values"].strings, Array(expected["paths"].strings.prefix(4)) + next.paths)
    }

    /// A file cut short mid-write does not open; it was never marked complete, so it is started again, with a
    /// warning. A file that is not HDF5 at all is somebody else's and is left alone.
    func testUnreadableFileIsReplacedWithWarning() throws {
        _ = try write("cut.h5", batches: 0..<2, finish: false)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("cut.h5")))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path("cut.h5")))

        let writer = try write("cut.h5", batches: 0..<1, finish: true)
        XCTAssertEqual(writer.rowsDone, 3)
        let warning = try XCTUnwrap(writer.warning)
        XCTAssertTrue(warning.hasPrefix("\(path("cut.h5")) could not be opened"), warning)
        XCTAssertEqual(try Reference.run("check_codes.py", [path("cut.h5")]), "ok\n")

        try Data("my notes".utf8).write(to: URL(fileURLWithPath: path("notes.h5")))
        XCTAssertThrowsError(try write("notes.h5", batches: 0..<1, finish: true)) { error in
            XCTAssertTrue("\(error)".contains("is not an HDF5 file"), "\(error)")
        }
    }

    func testMismatchIsRefusedNamingTheField() throws {
        _ = try write("codes.h5", batches: 0..<1, finish: false)
        var other = metadata
        other.model = "vgg16"
        XCTAssertThrowsError(try CodesWriter(path: path("codes.h5"), metadata: other, layerDimensions: dimensions,
                                             classes: classes, overwrite: false)) { error in
            XCTAssertEqual(error as? H5Error, .mismatch(file: path("codes.h5"), field: "model", existing: "alexnet",
                                                        requested: "vgg16"))
            XCTAssertTrue("\(error)".contains("--overwrite"), "\(error)")
        }
        other = metadata
        other.extra["dataset"] = "cifar"
        XCTAssertThrowsError(try CodesWriter(path: path("codes.h5"), metadata: other, layerDimensions: dimensions,
                                             classes: classes, overwrite: false)) { error in
            XCTAssertEqual((error as? H5Error).map { if case .mismatch(_, let field, _, _) = $0 { field } else { "" } },
                           "dataset")
        }
        XCTAssertThrowsError(try CodesWriter(path: path("codes.h5"), metadata: metadata, layerDimensions: dimensions,
                                             classes: ["a", "b"], overwrite: false)) { error in
            XCTAssertTrue("\(error)".contains("classes"), "\(error)")
        }
        XCTAssertThrowsError(try CodesWriter(path: path("codes.h5"), metadata: metadata,
                                             layerDimensions: [("fc7", 7), ("features.10", 4)],
                                             classes: classes, overwrite: false)) { error in
            XCTAssertTrue("\(error)".contains("codes/fc7 dimension"), "\(error)")
        }

        other.model = "vgg16"
        let replaced = try CodesWriter(path: path("codes.h5"), metadata: other, layerDimensions: dimensions,
                                       classes: classes, overwrite: true)
        XCTAssertEqual(replaced.rowsDone, 0)
        try replaced.finish()
        XCTAssertEqual(try CodesFile(path: path("codes.h5")).metadata, other)
    }

    func testBatchShapeErrorsNameTheLayer() throws {
        let writer = try write("codes.h5", batches: 0..<0, finish: false)
        var (codes, labels, paths) = batch(0)
        codes["fc7"]?.removeLast()
        XCTAssertThrowsError(try writer.append(codes: codes, labels: labels, paths: paths)) { error in
            XCTAssertTrue("\(error)".contains("codes/fc7"), "\(error)")
        }
        codes = batch(0).codes
        codes["fc9"] = []
        XCTAssertThrowsError(try writer.append(codes: codes, labels: labels, paths: paths)) { error in
            XCTAssertTrue("\(error)".contains("unknown layer `fc9`"), "\(error)")
        }
        XCTAssertEqual(writer.rowsDone, 0)
    }
}
