// torchvision.transforms.functional's geometry on PIL images: the Resize(int) output size,
// center_crop, hflip, five_crop and ten_crop.

/// torchvision `_compute_resized_output_size` for `Resize(shorterSide)`: the shorter side becomes
/// `shorterSide`, the longer `int(shorterSide * long / short)` (truncated float division).
public func resizedSize(width: Int, height: Int, shorterSide: Int) -> (width: Int, height: Int) {
    let (short, long) = width <= height ? (width, height) : (height, width)
    let newLong = Int(Double(shorterSide * long) / Double(short))
    return width <= height ? (shorterSide, newLong) : (newLong, shorterSide)
}

/// `PIL.Image.crop((left, top, left + width, top + height))`: areas outside the image are black.
public func crop(_ image: RGBImage, top: Int, left: Int, width: Int, height: Int) -> RGBImage {
    var out = [UInt8](repeating: 0, count: width * height * 3)
    let x0 = max(0, -left), x1 = min(width, image.width - left)
    if x1 > x0 {
        for y in max(0, -top)..<max(max(0, -top), min(height, image.height - top)) {
            let src = ((y + top) * image.width + x0 + left) * 3
            let dst = (y * width + x0) * 3
            out[dst..<dst + (x1 - x0) * 3] = image.pixels[src..<src + (x1 - x0) * 3]
        }
    }
    return RGBImage(width: width, height: height, pixels: out)
}

/// torchvision `center_crop`: offsets `int(round((H - h) / 2.0))` with Python's round (half to
/// even); a crop larger than the image first zero-pads it, left/top by `(h - H) // 2`.
public func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    var padLeft = 0, padTop = 0, paddedWidth = image.width, paddedHeight = image.height
    if width > image.width || height > image.height {
        if width > image.width { padLeft = (width - image.width) / 2; paddedWidth = width }
        if height > image.height { padTop = (height - image.height) / 2; paddedHeight = height }
    }
    let (top, left) = centerCropOffsets(width: paddedWidth, height: paddedHeight, crop: (width, height))
    return crop(image, top: top - padTop, left: left - padLeft, width: width, height: height)
}

/// The top-left corner of torchvision's center crop of `crop` inside a width x height image no smaller
/// than it: `int(round((H - h) / 2.0))` with Python's round, half to even.
func centerCropOffsets(width: Int, height: Int, crop: (width: Int, height: Int)) -> (top: Int, left: Int) {
    (Int((Double(height - crop.height) / 2.0).rounded(.toNearestOrEven)),
     Int((Double(width - crop.width) / 2.0).rounded(.toNearestOrEven)))
}

func centerCropOffsets(width: Int, height: Int, crop: Int) -> (top: Int, left: Int) {
    centerCropOffsets(width: width, height: height, crop: (crop, crop))
}

/// `PIL.Image.transpose(FLIP_LEFT_RIGHT)`, torchvision `hflip`.
public func horizontalFlip(_ image: RGBImage) -> RGBImage {
    var out = image.pixels
    for y in 0..<image.height {
        let row = y * image.width * 3
        for x in 0..<image.width {
            let src = row + (image.width - 1 - x) * 3, dst = row + x * 3
            out[dst] = image.pixels[src]; out[dst + 1] = image.pixels[src + 1]; out[dst + 2] = image.pixels[src + 2]
        }
    }
    return RGBImage(width: image.width, height: image.height, pixels: out)
}

/// torchvision `five_crop` for a square `size`: top-left, top-right, bottom-left, bottom-right, center.
public func fiveCrop(_ image: RGBImage, size: Int) -> [RGBImage] {
    precondition(size <= image.width && size <= image.height,
                 "crop size \(size) is larger than the \(image.width)x\(image.height) image")
    let right = image.width - size, bottom = image.height - size
    return [
        crop(image, top: 0, left: 0, width: size, height: size),
        crop(image, top: 0, left: right, width: size, height: size),
        crop(image, top: bottom, left: 0, width: size, height: size),
        crop(image, top: bottom, left: right, width: size, height: size),
        centerCrop(image, width: size, height: size),
    ]
}

/// torchvision `ten_crop(img, size)` (vertical_flip=False): the five crops of the image, then
/// the five crops of its horizontal flip.
public func tenCrop(_ image: RGBImage, size: Int) -> [RGBImage] {
    fiveCrop(image, size: size) + fiveCrop(horizontalFlip(image), size: size)
}
