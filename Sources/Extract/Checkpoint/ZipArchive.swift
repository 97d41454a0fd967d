// The central directory of a zip file (PKWARE APPNOTE.TXT, sections 4.3 and 4.5), with ZIP64.
// torch.save writes its archive through PyTorchStreamWriter (caffe2/serialize/inline_container.cc):
// every entry STORED, data padded to 64-byte boundaries by an "FB" extra field in the local header,
// sizes in a data descriptor, so the central directory is the one place to read them from.

struct ZipArchive {
    struct Entry {
        var name: String
        var method: Int
        var size: Int
        var compressedSize: Int
        var headerOffset: Int
    }

    let reader: ByteReader
    private(set) var entries: [Entry] = []
    private var byName: [String: Int] = [:]

    static func isZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
    }

    init(_ reader: ByteReader) throws {
        self.reader = reader
        let r = reader
        let bad = { (reason: String) in CheckpointError.unreadable(path: r.path, reason: "zip: \(reason)") }

        // The end-of-central-directory record is the last 22 bytes, before a comment of up to 64 KiB.
        let n = r.bytes.count
        var eocd = -1
        var at = n - 22
        while at >= max(0, n - 22 - 0xFFFF) {
            if try r.u32(at) == 0x0605_4B50 { eocd = at; break }
            at -= 1
        }
        guard eocd >= 0 else { throw bad("no end-of-central-directory record") }
        var count = Int(try r.u16(eocd + 10))
        var cdSize = Int(try r.u32(eocd + 12))
        var cdOffset = Int(try r.u32(eocd + 16))

        // ZIP64: a locator just before the record points at a 64-bit copy of those fields.
        // torch's writer (miniz) emits it even for small files.
        if eocd >= 20, try r.u32(eocd - 20) == 0x0706_4B50 {
            let z = Int(clamping: try r.u64(eocd - 20 + 8))
            guard try r.u32(z) == 0x0606_4B50 else { throw bad("ZIP64 locator points at no ZIP64 record") }
            count = Int(clamping: try r.u64(z + 32))
            cdSize = Int(clamping: try r.u64(z + 40))
            cdOffset = Int(clamping: try r.u64(z + 48))
        }
        try r.check(cdOffset, cdSize, "the central directory")

        var p = cdOffset
        for _ in 0 ..< count {
            guard try r.u32(p) == 0x0201_4B50 else { throw bad("central directory entry \(entries.count) is damaged") }
            let method = Int(try r.u16(p + 10))
            var compressed = Int(try r.u32(p + 20))
            var size = Int(try r.u32(p + 24))
            let nameLength = Int(try r.u16(p + 28))
            let extraLength = Int(try r.u16(p + 30))
            let commentLength = Int(try r.u16(p + 32))
            var offset = Int(try r.u32(p + 42))
            let name = try r.string(p + 46, nameLength)

            // The ZIP64 extra field (id 1) holds, in this order, those of the sizes and the offset
            // whose 32-bit field is 0xFFFFFFFF.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try r.u16(e), length = Int(try r.u16(e + 2))
                if id == 1 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF { size = Int(clamping: try r.u64(q)); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = Int(clamping: try r.u64(q)); q += 8 }
                    if offset == 0xFFFF_FFFF { offset = Int(clamping: try r.u64(q)); q += 8 }
                }
                e += 4 + length
            }
            byName[name] = entries.count
            entries.append(Entry(name: name, method: method, size: size, compressedSize: compressed, headerOffset: offset))
            p = extraEnd + commentLength
        }
    }

    func entry(_ name: String) -> Entry? {
        byName[name].map { entries[$0] }
    }

    /// The bytes of a STORED entry, in place in the mapped file.
    func data(_ entry: Entry) throws -> UnsafeRawBufferPointer {
        let r = reader
        guard entry.method == 0 else {
            let how = entry.method == 8 ? "DEFLATE-compressed" : "compressed (method \(entry.method))"
            throw CheckpointError.unsupported(
                path: r.path,
                what: "zip entry `\(entry.name)` is \(how); torch.save stores entries uncompressed, "
                    + "so this archive was re-zipped: unzip it and zip it again with `zip -0`, or re-save it with torch.save")
        }
        guard try r.u32(entry.headerOffset) == 0x0403_4B50 else {
            throw CheckpointError.unreadable(path: r.path, reason: "zip: no local header for `\(entry.name)`")
        }
        // The local header's own name and extra lengths (the extra holds torch's alignment padding).
        let start = entry.headerOffset + 30 + Int(try r.u16(entry.headerOffset + 26)) + Int(try r.u16(entry.headerOffset + 28))
        try r.check(start, entry.size, "zip entry `\(entry.name)`")
        return UnsafeRawBufferPointer(rebasing: r.bytes[start ..< start + entry.size])
    }
}
