// Every type the wrapper writes, read back by h5py; every type h5py writes, read by the wrapper.
import Foundation
import H5
import XCTest

final class RoundTripTests: TemporaryDirectoryTestCase {
    /// Values with a fractional part and both signs, so a wrong type or order shows.
    func floats(_ rows: Int, _ columns: Int, from start: Int = 0) -> [Float] {
        (start * columns..<(start + rows) * columns).map { Float($0) * 0.25 - 3 }
    }

    /// Writes one of everything; every handle is released on return, so h5py can open the file.
    func writeEverything(_ name: String) throws {
        let file = try H5File.create(path(name))
        try file.attributes.set("text", "Grüße ✓")
        try file.attributes.set("count", Int64(-7_000_000_000))
        try file.attributes.set("ratio", 0.1)
        try file.attributes.set("names", ["fc6", "fc7", "ü"])
        try file.attributes.set("count", Int64(42))  // an update rewrites the attribute
        try file.createGroup("group/sub").attributes.set("note", "inside")

        let codes = try file.createDataset("codes/fc7", of: Float.self, columns: 4096)
        for batch in 0..<3 { try codes.append(rows: floats(5, 4096, from: 5 * batch)) }
        try file.createDataset("packed", of: Float.self, columns: 3, gzip: 4).append(rows: floats(4, 3))
        try file.createDataset("labels", of: Int32.self).append(rows: [3, -1, .max, .min, 0])
        let strings = try file.createDataset("strings", of: String.self)
        try strings.append(rows: ["a", "", "naïve café"])
        try strings.append(rows: ["日本語", "path/with spaces/x.jpg"])
        let truncated = try file.createDataset("truncated", of: Int32.self, columns: 2)
        try truncated.append(rows: [1, 2, 3, 4, 5, 6])
        try truncated.resize(rows: 1)
        XCTAssertEqual(truncated.shape, [1, 2])
        try file.flush()
    }

    func testSwiftWritesH5pyReads() throws {
        try writeEverything("swift.h5")
        let dump = try Reference.dump(path("swift.h5"))

        let attrs = dump["attrs"]
        XCTAssertEqual(attrs["text"]["type"].string, "str")
        XCTAssertEqual(attrs["text"]["value"].string, "Grüße ✓")
        XCTAssertEqual(attrs["count"]["type"].string, "int64")
        XCTAssertEqual(attrs["count"]["value"].int, 42)
        XCTAssertEqual(attrs["ratio"]["type"].string, "float64")
        XCTAssertEqual(attrs["ratio"]["value"].double, 0.1)
        XCTAssertEqual(attrs["names"]["type"].string, "ndarray")
        XCTAssertEqual(attrs["names"]["element_type"].string, "str")
        XCTAssertEqual(attrs["names"]["value"].strings, ["fc6", "fc7", "ü"])
        XCTAssertEqual(dump["groups"]["group/sub"]["attrs"]["note"]["value"].string, "inside")

        let codes = dump["datasets"]["codes/fc7"]
        XCTAssertEqual(codes["dtype"].string, "<f4")
        XCTAssertEqual(codes["shape"].ints, [15, 4096])
        XCTAssertEqual(codes["maxshape"].ints, [-1, 4096], "first dimension unlimited (h5py: None)")
        let chunkBytes = codes["chunks"].ints.reduce(4, *)
        XCTAssertTrue((256 * 1024...1024 * 1024).contains(chunkBytes), "chunk of \(chunkBytes) bytes")
        assertClose(codes["values"].floats, floats(15, 4096), "codes/fc7")

        let packed = dump["datasets"]["packed"]
        XCTAssertEqual(packed["compression"].string, "gzip")
        XCTAssertEqual(packed["shuffle"].value as? Bool, true)
        assertClose(packed["values"].floats, floats(4, 3), "packed")

        let labels = dump["datasets"]["labels"]
        XCTAssertEqual(labels["dtype"].string, "<i4")
        XCTAssertEqual(labels["maxshape"].ints, [-1])
        XCTAssertEqual(labels["values"].ints, [3, -1, Int(Int32.max), Int(Int32.min), 0])

        let strings = dump["datasets"]["strings"]
        XCTAssertEqual(strings["dtype"].string, "string")
        XCTAssertEqual(strings["string_encoding"].string, "utf-8")
        XCTAssertTrue(strings["string_length"].isNull, "variable length, as h5py.string_dtype()")
        XCTAssertEqual(strings["values"].strings, ["a", "", "naïve café", "日本語", "path/with spaces/x.jpg"])

        XCTAssertEqual(dump["datasets"]["truncated"]["shape"].ints, [1, 2])
        XCTAssertEqual(dump["datasets"]["truncated"]["values"].array.first?.ints, [1, 2])
    }

    func testH5pyWritesSwiftReads() throws {
        try Reference.golden(directory)
        let expected = try JSON(file: path("generic.json"))
        let file = try H5File.open(path("generic.h5"))

        XCTAssertEqual(try file.attributes.string("text"), expected["text"].string)
        XCTAssertEqual(try file.attributes.int("count"), expected["count"].int)
        XCTAssertEqual(try file.attributes.double("ratio"), expected["ratio"].double)
        XCTAssertEqual(try file.attributes.strings("names"), expected["names"].strings)
        XCTAssertEqual(try file.attributes.string("fixed"), expected["fixed"].string, "numpy bytes_: fixed-length")
        XCTAssertEqual(try file.attributes.names, ["count", "fixed", "names", "ratio", "text"])
        XCTAssertEqual(try file.group("group").names, ["sub"])
        XCTAssertEqual(try file.group("group/sub").attributes.string("note"), "inside")

        let floats = try file.dataset("floats", of: Float.self)
        XCTAssertEqual(floats.shape, [7, 5])
        assertClose(try floats.read(), expected["floats"].floats, "floats")
        assertClose(try floats.read(rows: 2..<5), Array(expected["floats"].floats[10..<25]), "floats rows 2..<5")
        assertClose(try file.dataset("contiguous", of: Float.self).read(), expected["floats"].floats, "contiguous")
        assertClose(try file.dataset("float64", of: Float.self).read(), expected["floats"].floats, "float64 as float32")
        XCTAssertEqual(try file.dataset("ints", of: Int32.self).read().map { Int($0) }, expected["ints"].ints)
        XCTAssertEqual(try file.dataset("strings", of: String.self).read(), expected["strings"].strings)
        XCTAssertEqual(try file.dataset("strings", of: String.self).read(rows: 2..<4),
                       Array(expected["strings"].strings[2..<4]))
    }

    /// Appending to datasets h5py created with `maxshape=(None, ...)`, then reading them in h5py.
    func testSwiftAppendsToH5pyFile() throws {
        try Reference.golden(directory)
        let expected = try JSON(file: path("generic.json"))
        do {
            let file = try H5File.open(path("generic.h5"), mode: .readWrite)
            try file.dataset("floats", of: Float.self).append(rows: floats(2, 5))
            try file.dataset("strings", of: String.self).append(rows: ["added ✓"])
            try file.attributes.set("count", Int64(43))
        }
        let dump = try Reference.dump(path("generic.h5"))
        XCTAssertEqual(dump["datasets"]["floats"]["shape"].ints, [9, 5])
        assertClose(dump["datasets"]["floats"]["values"].floats, expected["floats"].floats + floats(2, 5), "floats")
        XCTAssertEqual(dump["datasets"]["strings"]["values"].strings, expected["strings"].strings + ["added ✓"])
        XCTAssertEqual(dump["attrs"]["count"]["value"].int, 43)
    }

    func testErrorsNameTheFileAndObject() throws {
        try Reference.golden(directory)
        let file = try H5File.open(path("generic.h5"))
        XCTAssertThrowsError(try file.dataset("nope", of: Float.self)) { error in
            XCTAssertEqual("\(error)", "\(path("generic.h5")): no `nope` in the file")
        }
        XCTAssertThrowsError(try file.dataset("strings", of: Float.self)) { error in
            XCTAssertEqual("\(error)", "\(path("generic.h5")): `strings` is a string, expected float32")
        }
        XCTAssertThrowsError(try file.attributes.int("text")) { error in
            XCTAssertEqual("\(error)", "\(path("generic.h5")): `/@text` is a string, expected an integer")
        }
        XCTAssertThrowsError(try file.dataset("floats", of: Float.self).read(rows: 5..<9)) { error in
            XCTAssertTrue("\(error)".contains("floats"), "\(error)")
        }
        XCTAssertThrowsError(try H5File.open(path("absent.h5"))) { error in
            XCTAssertEqual("\(error)", "\(path("absent.h5")): no such file")
        }
        try Data("not HDF5".utf8).write(to: URL(fileURLWithPath: path("text.h5")))
        XCTAssertThrowsError(try H5File.open(path("text.h5"))) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path("text.h5")): open failed"), "\(error)")
        }
        XCTAssertThrowsError(try file.dataset("floats", of: Float.self).append(rows: [1])) { error in
            XCTAssertTrue("\(error)".contains("floats"), "\(error)")  // read-only file
        }
    }
}
