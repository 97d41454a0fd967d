// JPEG through libjpeg(-turbo) with the settings of Pillow's JpegDecode.c: the library's defaults
// (JDCT_ISLOW, fancy upsampling), out_color_space from the layer count as JpegImagePlugin.SOF
// chooses it (1 -> L, 3 -> RGB, 4 -> CMYK read as "CMYK;I"), and no EXIF orientation.
import CJPEG

/// Per-decode state the C callbacks reach through `cinfo.client_data`.
private final class JPEGContext {
    let data: [UInt8]
    var sourceExhausted = false
    var errorMessage: String?
    /// EOI marker fed to libjpeg when the data runs out, as jdatasrc.c's fill_input_buffer does.
    let fakeEOI: UnsafeMutablePointer<JOCTET>
    init(data: [UInt8]) {
        self.data = data
        fakeEOI = .allocate(capacity: 2)
        fakeEOI[0] = 0xFF
        fakeEOI[1] = 0xD9
    }
    deinit { fakeEOI.deallocate() }
}

/// Owns libjpeg's decompression state and its error and source managers.
private final class JPEGDecompressor {
    let cinfo = UnsafeMutablePointer<jpeg_decompress_struct>.allocate(capacity: 1)
    let errorManager = UnsafeMutablePointer<jpeg_error_mgr>.allocate(capacity: 1)
    let source = UnsafeMutablePointer<jpeg_source_mgr>.allocate(capacity: 1)
    let context: JPEGContext
    private var bytes: UnsafeMutableBufferPointer<JOCTET>

    init(context: JPEGContext) {
        self.context = context
        bytes = .allocate(capacity: max(context.data.count, 1))
        _ = bytes.initialize(from: context.data)
        cinfo.initialize(to: jpeg_decompress_struct())
        errorManager.initialize(to: jpeg_error_mgr())
        source.initialize(to: jpeg_source_mgr())
        cinfo.pointee.err = jpeg_std_error(errorManager)
        errorManager.pointee.error_exit = { common in
            guard let common else { endGuardedCall() }
            var buffer = [CChar](repeating: 0, count: Int(JMSG_LENGTH_MAX))
            common.pointee.err.pointee.format_message(common, &buffer)
            if let raw = common.pointee.client_data {
                Unmanaged<JPEGContext>.fromOpaque(raw).takeUnretainedValue().errorMessage = String(cString: buffer)
            }
            endGuardedCall()
        }
        // Warnings (corrupt entropy data, extraneous bytes) are ignored, as Pillow ignores them.
        errorManager.pointee.emit_message = { _, _ in }
        jpeg_CreateDecompress(cinfo, JPEG_LIB_VERSION, MemoryLayout<jpeg_decompress_struct>.size)
        cinfo.pointee.client_data = Unmanaged.passUnretained(context).toOpaque()

        source.pointee.next_input_byte = UnsafePointer(bytes.baseAddress)
        source.pointee.bytes_in_buffer = context.data.count
        source.pointee.init_source = { _ in }
        source.pointee.term_source = { _ in }
        source.pointee.resync_to_restart = jpeg_resync_to_restart
        source.pointee.fill_input_buffer = { cinfo in
            guard let cinfo, let raw = cinfo.pointee.client_data else { return 0 }
            let context = Unmanaged<JPEGContext>.fromOpaque(raw).takeUnretainedValue()
            context.sourceExhausted = true
            cinfo.pointee.src.pointee.next_input_byte = UnsafePointer(context.fakeEOI)
            cinfo.pointee.src.pointee.bytes_in_buffer = 2
            return 1
        }
        source.pointee.skip_input_data = { cinfo, count in
            guard let cinfo, let src = cinfo.pointee.src, count > 0 else { return }
            var remaining = Int(count)
            while remaining > src.pointee.bytes_in_buffer {
                remaining -= src.pointee.bytes_in_buffer
                _ = src.pointee.fill_input_buffer(cinfo)
            }
            src.pointee.next_input_byte += remaining
            src.pointee.bytes_in_buffer -= remaining
        }
        cinfo.pointee.src = source
    }

    deinit {
        jpeg_destroy_decompress(cinfo)
        cinfo.deallocate()
        errorManager.deallocate()
        source.deallocate()
        bytes.deallocate()
    }
}

/// What libjpeg hands back: `components` bytes per pixel in Pillow's rawmode order.
private final class JPEGResult {
    var width = 0, height = 0, components = 0
    var samples: [UInt8] = []
    var unsupported: String?
}

enum JPEGDecoder {
    static func decode(_ data: [UInt8], name: String) throws -> RGBImage {
        let context = JPEGContext(data: data)
        let decompressor = JPEGDecompressor(context: context)
        let result = JPEGResult()
        let finished = runGuarded { read(decompressor, into: result) }
        if !finished {
            if context.sourceExhausted { throw ImageError.truncated(path: name) }
            throw ImageError.corrupt(path: name, message: context.errorMessage ?? "libjpeg error")
        }
        if let unsupported = result.unsupported { throw ImageError.unsupported(path: name, format: unsupported) }
        // Pillow's ImageFile.load refuses data that ends before libjpeg is done, even if only
        // the EOI marker is missing (LOAD_TRUNCATED_IMAGES off).
        if context.sourceExhausted { throw ImageError.truncated(path: name) }
        return toRGB(result)
    }

    private static func read(_ decompressor: JPEGDecompressor, into result: JPEGResult) {
        let cinfo = decompressor.cinfo
        var status: Int32
        repeat {
            status = jpeg_read_header(cinfo, 0)
        } while status == JPEG_HEADER_TABLES_ONLY && !decompressor.context.sourceExhausted
        if status != JPEG_HEADER_OK {
            result.unsupported = "JPEG without an image"
            return
        }
        switch cinfo.pointee.num_components {
        case 1: cinfo.pointee.out_color_space = JCS_GRAYSCALE
        case 3: cinfo.pointee.out_color_space = JCS_RGB
        case 4: cinfo.pointee.out_color_space = JCS_CMYK
        case let n:
            result.unsupported = "JPEG with \(n) layers"  // JpegImagePlugin.SOF: "cannot handle n-layer images"
            return
        }
        _ = jpeg_start_decompress(cinfo)
        let width = Int(cinfo.pointee.output_width), height = Int(cinfo.pointee.output_height)
        let components = Int(cinfo.pointee.output_components)
        // Every row is written by libjpeg (or the decode fails and the array is not used).
        let samples = [UInt8](unsafeUninitializedCapacity: width * height * components) { buffer, initialized in
            if let base = buffer.baseAddress {
                while cinfo.pointee.output_scanline < cinfo.pointee.output_height {
                    var row: JSAMPROW? = base + Int(cinfo.pointee.output_scanline) * width * components
                    _ = jpeg_read_scanlines(cinfo, &row, 1)
                }
            }
            initialized = width * height * components
        }
        _ = jpeg_finish_decompress(cinfo)
        result.width = width
        result.height = height
        result.components = components
        result.samples = samples
    }

    private static func toRGB(_ result: JPEGResult) -> RGBImage {
        let count = result.width * result.height
        let s = result.samples
        if result.components == 3 { return RGBImage(width: result.width, height: result.height, pixels: s) }
        var rgb = [UInt8](repeating: 0, count: count * 3)
        switch result.components {
        case 1:
            for i in 0..<count { rgb[3 * i] = s[i]; rgb[3 * i + 1] = s[i]; rgb[3 * i + 2] = s[i] }
        default:
            // Unpack.c "CMYK;I" inverts every byte, then Convert.c cmyk2rgb.
            for i in 0..<count {
                let nk = Int(s[4 * i + 3])  // 255 - in[3], where in[3] is the inverted K
                for c in 0..<3 {
                    let v = Int(255 - s[4 * i + c])
                    rgb[3 * i + c] = clip8(nk - mulDiv255(v, nk))
                }
            }
        }
        return RGBImage(width: result.width, height: result.height, pixels: rgb)
    }
}

/// ImagingUtils.h MULDIV255: a * b / 255, rounded, in integers.
@inline(__always) func mulDiv255(_ a: Int, _ b: Int) -> Int {
    let t = a * b + 128
    return ((t >> 8) + t) >> 8
}

/// ImagingUtils.h DIV255.
@inline(__always) func div255(_ a: Int) -> Int {
    let t = a + 128
    return ((t >> 8) + t) >> 8
}

@inline(__always) func clip8(_ v: Int) -> UInt8 {
    UInt8(clamping: v)
}
