// The safetensors format (github.com/huggingface/safetensors, README "Format"): an 8-byte
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the tensors' bytes, offsets relative to the end of the header.

import Foundation

enum Safetensors {
    static func looksLike(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // The header length, then JSON that opens with `{`.
        guard bytes.count >= 9 else { return false }
        let n = bytes.loadUnaligned(as: UInt64.self).littleEndian
        return n > 0 && n <= UInt64(bytes.count - 8) && bytes[8] == UInt8(ascii: "{")
    }

    /// The header's `__metadata__` (string to string; empty when absent).
    static func metadata(_ file: MappedFile) throws -> [String: String] {
        let bytes = file.bytes
        guard looksLike(bytes) else {
            throw CheckpointError.unreadable(path: file.path, reason: "not a safetensors file")
        }
        let n = Int(bytes.loadUnaligned(as: UInt64.self).littleEndian)
        let json = Data(UnsafeRawBufferPointer(rebasing: bytes[8 ..< 8 + n]))
        guard let header = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw CheckpointError.unreadable(path: file.path, reason: "safetensors: the header is not a JSON object")
        }
        return header["__metadata__"] as? [String: String] ?? [:]
    }

    /// The tensors in the order their bytes appear in the file.
    static func read(_ file: MappedFile) throws -> [(String, Tensor)] {
        let path = file.path
        let bytes = file.bytes
        let bad = { (reason: String) in CheckpointError.unreadable(path: path, reason: "safetensors: \(reason)") }
        let n = Int(bytes.loadUnaligned(as: UInt64.self).littleEndian)
        let json = Data(UnsafeRawBufferPointer(rebasing: bytes[8 ..< 8 + n]))
        guard let header = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        let dataStart = 8 + n
        let dataCount = bytes.count - dataStart

        var entries: [(name: String, begin: Int, tensor: Tensor)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [NSNumber])?.map(\.intValue),
                  let offsets = (info["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
                throw bad("entry `\(name)` lacks dtype, shape or data_offsets")
            }
            guard let type = StoredType(safetensors: dtype) else {
                throw CheckpointError.unsupported(path: path, what: "tensor `\(name)` has dtype \(dtype)")
            }
            let count = shape.reduce(1, *)
            let (begin, end) = (offsets[0], offsets[1])
            guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, end <= dataCount, end - begin == count * type.size else {
                throw bad("tensor `\(name)`: offsets \(offsets) do not hold \(shape) of \(dtype)")
            }
            let storage = UnsafeRawBufferPointer(rebasing: bytes[dataStart + begin ..< dataStart + end])
            let view = StridedView(type: type, offset: 0, shape: shape, stride: rowMajorStrides(shape))
            let data = try floats(view, in: storage, elements: count, path: path, key: name)
            entries.append((name, begin, Tensor(shape: shape, data: data)))
        }
        entries.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        return entries.map { ($0.name, $0.tensor) }
    }

    /// Writes F32 tensors the way the reference implementation does (safetensors/src/tensor.rs,
    /// `prepare`): sorted by name within a dtype, `__metadata__` first in the header, the header
    /// padded with spaces to a multiple of 8 bytes so that the data is aligned. Written to a
    /// temporary file beside `path`, then renamed over it: a reader never sees half a file.
    static func write(_ tensors: [(String, Tensor)], metadata: [String: String], to path: String) throws {
        let temporary = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try write(tensors, metadata: metadata, file: temporary)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError.unwritable(path: path, reason: "cannot rename \(temporary) to it: \(reason)")
        }
    }

    private static func write(_ tensors: [(String, Tensor)], metadata: [String: String], file path: String) throws {
        let sorted = tensors.sorted { $0.0 < $1.0 }
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(quote($0)):\(quote(metadata[$0] ?? ""))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, t) in sorted {
            let end = offset + t.count * 4
            let shape = t.shape.map(String.init).joined(separator: ",")
            fields.append("\(quote(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        guard FileManager.default.createFile(atPath: path, contents: nil),
              let out = FileHandle(forWritingAtPath: path) else {
            throw CheckpointError.unwritable(path: path, reason: "cannot create the file")
        }
        defer { try? out.close() }
        do {
            var length = UInt64(header.count).littleEndian
            try out.write(contentsOf: Data(bytes: &length, count: 8))
            try out.write(contentsOf: Data(header))
            for (_, t) in sorted {
                // Float32 little-endian, as the host stores it on every platform Swift runs on here.
                try t.data.withUnsafeBytes { try out.write(contentsOf: Data($0)) }
            }
        } catch {
            throw CheckpointError.unwritable(path: path, reason: "\(error)")
        }
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
