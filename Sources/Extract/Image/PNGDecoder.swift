// PNG through libpng, with each (bit depth, colour type) mapped to RGB the way Pillow maps it:
// PngImagePlugin._MODES picks the mode and raw mode, Unpack.c and Convert.c do the rest.
// Pillow applies no gamma (gAMA, sRGB, iCCP are ignored), so no libpng transform but packing is used.
import CPNG

/// Per-decode state the C callbacks reach through libpng's io and error pointers.
private final class PNGContext {
    let data: [UInt8]
    var offset = 0
    var truncated = false
    var errorMessage: String?
    init(data: [UInt8]) { self.data = data }
}

/// Owns libpng's read and info structures.
private final class PNGReader {
    var png: png_structp?
    var info: png_infop?
    let context: PNGContext

    init(context: PNGContext) {
        self.context = context
        let contextPointer = Unmanaged.passUnretained(context).toOpaque()
        png = png_create_read_struct(PNG_LIBPNG_VER_STRING, contextPointer, { png, message in
            if let png, let raw = png_get_error_ptr(png) {
                let context = Unmanaged<PNGContext>.fromOpaque(raw).takeUnretainedValue()
                context.errorMessage = message.map { String(cString: $0) } ?? "libpng error"
            }
            endGuardedCall()
        }, { _, _ in })
        if let png {
            info = png_create_info_struct(png)
            png_set_read_fn(png, contextPointer, { png, out, length in
                guard let png, let raw = png_get_io_ptr(png) else { return }
                let context = Unmanaged<PNGContext>.fromOpaque(raw).takeUnretainedValue()
                guard context.offset + length <= context.data.count, let out else {
                    context.truncated = true
                    png_error(png, "unexpected end of file")
                }
                context.data.withUnsafeBufferPointer { bytes in
                    if let base = bytes.baseAddress { out.update(from: base + context.offset, count: length) }
                }
                context.offset += length
            })
        }
    }

    deinit {
        if png != nil { png_destroy_read_struct(&png, &info, nil) }
    }
}

/// The file's samples as libpng hands them over: one byte per sample below 8 bits (unscaled),
/// two big-endian bytes at 16 bits.
private final class PNGResult {
    var width = 0, height = 0, bitDepth = 0, colorType = 0
    var rows: [UInt8] = []
    var rowBytes = 0
    var palette: [UInt8] = []  // RGB triples from PLTE
    var paletteAlpha: [UInt8] = []  // tRNS for palette images
}

enum PNGDecoder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func decode(_ data: [UInt8], name: String, background: (UInt8, UInt8, UInt8)?) throws -> RGBImage {
        let context = PNGContext(data: data)
        let reader = PNGReader(context: context)
        guard reader.png != nil, reader.info != nil else {
            throw ImageError.corrupt(path: name, message: "libpng could not allocate its state")
        }
        let result = PNGResult()
        let finished = runGuarded { read(reader, into: result) }
        if !finished {
            if context.truncated { throw ImageError.truncated(path: name) }
            throw ImageError.corrupt(path: name, message: context.errorMessage ?? "libpng error")
        }
        return toRGB(result, background: background)
    }

    private static func read(_ reader: PNGReader, into result: PNGResult) {
        guard let png = reader.png, let info = reader.info else { return }
        png_read_info(png, info)
        var width: png_uint_32 = 0, height: png_uint_32 = 0
        var bitDepth: Int32 = 0, colorType: Int32 = 0, interlace: Int32 = 0
        png_get_IHDR(png, info, &width, &height, &bitDepth, &colorType, &interlace, nil, nil)
        if bitDepth < 8 { png_set_packing(png) }
        _ = png_set_interlace_handling(png)
        png_read_update_info(png, info)

        if colorType == PNG_COLOR_TYPE_PALETTE {
            var palette: png_colorp?
            var count: Int32 = 0
            if png_get_PLTE(png, info, &palette, &count) != 0, let palette {
                for i in 0..<Int(count) {
                    result.palette += [palette[i].red, palette[i].green, palette[i].blue]
                }
            }
            var alpha: png_bytep?
            var alphaCount: Int32 = 0
            if png_get_tRNS(png, info, &alpha, &alphaCount, nil) != 0, let alpha {
                result.paletteAlpha = Array(UnsafeBufferPointer(start: alpha, count: Int(alphaCount)))
            }
        }

        let rowBytes = png_get_rowbytes(png, info)
        var rows = [UInt8](repeating: 0, count: rowBytes * Int(height))
        rows.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var pointers: [png_bytep?] = (0..<Int(height)).map { base + $0 * rowBytes }
            png_read_image(png, &pointers)
        }
        result.width = Int(width)
        result.height = Int(height)
        result.bitDepth = Int(bitDepth)
        result.colorType = Int(colorType)
        result.rowBytes = rowBytes
        result.rows = rows
    }

    /// RGB and, for modes with alpha, the alpha channel, as Pillow's convert("RGB") / convert("RGBA").
    private static func toRGB(_ r: PNGResult, background: (UInt8, UInt8, UInt8)?) -> RGBImage {
        let count = r.width * r.height
        var rgb = [UInt8](repeating: 0, count: count * 3)
        var alpha: [UInt8]? = nil
        let rows = r.rows
        let wide = r.bitDepth == 16
        // At 16 bits Pillow's raw modes "RGB;16B", "RGBA;16B", "LA;16B" keep the high byte.
        func sample(_ y: Int, _ x: Int, _ channels: Int, _ c: Int) -> UInt8 {
            wide ? rows[y * r.rowBytes + (x * channels + c) * 2] : rows[y * r.rowBytes + x * channels + c]
        }
        switch r.colorType {
        case Int(PNG_COLOR_TYPE_GRAY):
            for y in 0..<r.height {
                for x in 0..<r.width {
                    let v: UInt8
                    switch r.bitDepth {
                    case 1: v = rows[y * r.rowBytes + x] == 0 ? 0 : 255  // mode "1"
                    case 2: v = rows[y * r.rowBytes + x] &* 85  // "L;2"
                    case 4: v = rows[y * r.rowBytes + x] &* 17  // "L;4"
                    case 8: v = rows[y * r.rowBytes + x]
                    default:
                        // Mode "I;16" -> RGB clips to 255 (Convert.c I16_RGB).
                        let i = y * r.rowBytes + x * 2
                        v = rows[i] == 0 ? rows[i + 1] : 255
                    }
                    let o = 3 * (y * r.width + x)
                    rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v
                }
            }
        case Int(PNG_COLOR_TYPE_GRAY_ALPHA):
            var a = [UInt8](repeating: 0, count: count)
            for y in 0..<r.height {
                for x in 0..<r.width {
                    let v = sample(y, x, 2, 0), o = y * r.width + x
                    rgb[3 * o] = v; rgb[3 * o + 1] = v; rgb[3 * o + 2] = v
                    a[o] = sample(y, x, 2, 1)
                }
            }
            alpha = a
        case Int(PNG_COLOR_TYPE_RGB), Int(PNG_COLOR_TYPE_RGB_ALPHA):
            let channels = r.colorType == Int(PNG_COLOR_TYPE_RGB) ? 3 : 4
            var a = [UInt8](repeating: 0, count: channels == 4 ? count : 0)
            for y in 0..<r.height {
                for x in 0..<r.width {
                    let o = y * r.width + x
                    for c in 0..<3 { rgb[3 * o + c] = sample(y, x, channels, c) }
                    if channels == 4 { a[o] = sample(y, x, 4, 3) }
                }
            }
            if channels == 4 { alpha = a }
        default:  // palette
            // Indices past the end of PLTE are black in Pillow; tRNS sets the alpha of the first
            // entries (putpalettealphas) and the rest stay opaque.
            var table = [UInt8](repeating: 0, count: 256 * 3)
            for i in 0..<min(r.palette.count, 768) { table[i] = r.palette[i] }
            var alphaTable = [UInt8](repeating: 255, count: 256)
            for i in 0..<min(r.paletteAlpha.count, 256) { alphaTable[i] = r.paletteAlpha[i] }
            var a = [UInt8](repeating: 255, count: r.paletteAlpha.isEmpty ? 0 : count)
            for y in 0..<r.height {
                for x in 0..<r.width {
                    let index = Int(rows[y * r.rowBytes + x]), o = y * r.width + x
                    rgb[3 * o] = table[3 * index]; rgb[3 * o + 1] = table[3 * index + 1]; rgb[3 * o + 2] = table[3 * index + 2]
                    if !a.isEmpty { a[o] = alphaTable[index] }
                }
            }
            if !a.isEmpty { alpha = a }
        }
        if let background, let alpha {
            composite(&rgb, alpha: alpha, onto: background)
        }
        return RGBImage(width: r.width, height: r.height, pixels: rgb)
    }

    /// Paste.c paste_mask_L: BLEND(a, background, colour) = DIV255(bg * (255 - a) + colour * a),
    /// as `Image.new("RGB", size, bg).paste(rgba, mask=rgba.getchannel("A"))`.
    static func composite(_ rgb: inout [UInt8], alpha: [UInt8], onto bg: (UInt8, UInt8, UInt8)) {
        let b = [Int(bg.0), Int(bg.1), Int(bg.2)]
        for i in 0..<alpha.count {
            let a = Int(alpha[i])
            for c in 0..<3 {
                rgb[3 * i + c] = UInt8(div255(b[c] * (255 - a) + Int(rgb[3 * i + c]) * a))
            }
        }
    }
}
