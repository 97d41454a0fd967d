#!/usr/bin/env python3
"""Golden files for ImageDecoderTests and ImagePreprocessingTests, from Pillow (no torchvision).

Writes into images/:
  inputs/          small synthetic JPEG and PNG files of every mode the decoder handles, plus broken
                   files; digit3.png, digit7.png are copied from data/digits (scikit-learn digits).
  decoded/*.rgb    np.asarray(Image.open(f).convert("RGB")) of each synthetic input, raw uint8 HWC;
                   *.bg.rgb the same composited onto BACKGROUND for inputs with alpha.
  resized/, crops/, tensors/  outputs of the torchvision formulas below, raw uint8 / little-endian float32.
  manifest.json    what each file is, with sha256 and sample pixels for the photos in .cache/photos.
Tolerance: 0 for uint8 pixels; 1e-6 for float tensors. Made with Pillow 13.0 (whose resize
chooses the order of its two passes; Pillow 12 always went horizontal first).

Run from the repository root after scripts/fetch-assets:
  .cache/venv/bin/python Tests/ExtractTests/Golden/make_images.py
"""
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "images")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PHOTOS = os.path.join(ROOT, ".cache", "photos")
BACKGROUND = (10, 200, 90)
IMAGENET = dict(resize=256, crop=224, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
rng = np.random.default_rng(20240601)


def sha(b):
    return hashlib.sha256(bytes(b)).hexdigest()


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return rel


# --- torchvision.transforms.functional on PIL images, transcribed ------------------------------

def tv_resize(img, size):
    """Resize(size) with size an int: _compute_resized_output_size, then F_pil.resize (BILINEAR)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_h, new_w) == (h, w):
        return img
    return img.resize((new_w, new_h), Image.BILINEAR)


def tv_crop(img, top, left, height, width):
    return img.crop((left, top, left + width, top + height))


def tv_center_crop(img, height, width):
    image_width, image_height = img.size
    if width > image_width or height > image_height:
        padding_ltrb = [
            (width - image_width) // 2 if width > image_width else 0,
            (height - image_height) // 2 if height > image_height else 0,
            (width - image_width + 1) // 2 if width > image_width else 0,
            (height - image_height + 1) // 2 if height > image_height else 0,
        ]
        img = ImageOps.expand(img, border=tuple(padding_ltrb), fill=0)  # F_pil.pad, constant mode
        image_width, image_height = img.size
        if width == image_width and height == image_height:
            return img
    crop_top = int(round((image_height - height) / 2.0))
    crop_left = int(round((image_width - width) / 2.0))
    return tv_crop(img, crop_top, crop_left, height, width)


def tv_five_crop(img, size):
    image_width, image_height = img.size
    tl = tv_crop(img, 0, 0, size, size)
    tr = tv_crop(img, 0, image_width - size, size, size)
    bl = tv_crop(img, image_height - size, 0, size, size)
    br = tv_crop(img, image_height - size, image_width - size, size, size)
    return [tl, tr, bl, br, tv_center_crop(img, size, size)]


def tv_ten_crop(img, size):
    return tv_five_crop(img, size) + tv_five_crop(img.transpose(Image.FLIP_LEFT_RIGHT), size)


def tv_to_tensor_normalize(img, mean, std):
    """ToTensor (float32 / 255, CHW) then Normalize ((x - mean) / std), both in float32 as torch."""
    x = np.asarray(img, dtype=np.uint8).astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    return ((x - m) / s).astype(np.float32)


def rgb(img):
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def composited(img):
    rgba = img.convert("RGBA")
    out = Image.new("RGB", img.size, BACKGROUND)
    out.paste(rgba, mask=rgba.getchannel("A"))
    return np.asarray(out, dtype=np.uint8)


# --- a minimal PNG writer, so every bit depth, colour type and interlacing can be made ---------

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_row(samples, depth):
    """samples: 1-D array of ints for one row (channels interleaved)."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if depth == 8:
        return bytes(int(v) for v in samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        for j in range(per):
            v = int(samples[i + j]) if i + j < len(samples) else 0
            byte |= v << (8 - depth * (j + 1))
        out.append(byte)
    return bytes(out)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png(pixels, depth, color_type, plte=None, trns=None, interlace=False, extra=()):
    """pixels: [H, W, C] integer array of raw sample values."""
    h, w = pixels.shape[:2]
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = pixels[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in sub:
                raw += b"\x00" + pack_row(row.reshape(-1), depth)
    else:
        for i, row in enumerate(pixels):
            raw += bytes([0]) + pack_row(row.reshape(-1), depth)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    body = chunk(b"IHDR", ihdr)
    for c in extra:
        body += c
    if plte is not None:
        body += chunk(b"PLTE", bytes(np.asarray(plte, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        body += chunk(b"tRNS", trns)
    body += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    body += chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def smooth_rgb(w, h):
    """A colour gradient with noise: edges for the resampler, detail for JPEG."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1)
    return np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)


def synthetic_pngs():
    W, H = 23, 17
    files = {}
    for depth in (1, 2, 4, 8, 16):
        files[f"gray{depth}.png"] = make_png(rng.integers(0, 2 ** depth, (H, W, 1)), depth, 0)
    # 16-bit values mostly below 256 too, so Pillow's clipping and the low byte are both exercised.
    g16 = np.where(rng.random((H, W, 1)) < 0.5, rng.integers(0, 256, (H, W, 1)), rng.integers(0, 65536, (H, W, 1)))
    files["gray16_low.png"] = make_png(g16, 16, 0)
    files["gray8_trns.png"] = make_png(rng.integers(0, 256, (H, W, 1)), 8, 0, trns=struct.pack(">H", 7))
    files["rgb8.png"] = make_png(smooth_rgb(W, H), 8, 2)
    files["rgb16.png"] = make_png(rng.integers(0, 65536, (H, W, 3)), 16, 2)
    files["rgb8_gamma.png"] = make_png(smooth_rgb(W, H), 8, 2, extra=[chunk(b"gAMA", struct.pack(">I", 100000))])
    files["ga8.png"] = make_png(rng.integers(0, 256, (H, W, 2)), 8, 4)
    files["ga16.png"] = make_png(rng.integers(0, 65536, (H, W, 2)), 16, 4)
    files["rgba8.png"] = make_png(rng.integers(0, 256, (H, W, 4)), 8, 6)
    files["rgba16.png"] = make_png(rng.integers(0, 65536, (H, W, 4)), 16, 6)
    for depth in (1, 2, 4, 8):
        n = 2 ** depth
        plte = rng.integers(0, 256, (n, 3))
        files[f"pal{depth}.png"] = make_png(rng.integers(0, n, (H, W, 1)), depth, 3, plte=plte)
    plte = rng.integers(0, 256, (200, 3))
    alphas = bytes(rng.integers(0, 256, 150).astype(np.uint8))  # fewer than the palette: the rest opaque
    files["pal8_trns.png"] = make_png(rng.integers(0, 200, (H, W, 1)), 8, 3, plte=plte, trns=alphas)
    files["pal4_trns.png"] = make_png(rng.integers(0, 16, (H, W, 1)), 4, 3, plte=rng.integers(0, 256, (16, 3)),
                                      trns=bytes([0, 64, 128, 255, 7]))
    # Indices past the end of PLTE: Pillow's palette starts as a grey ramp.
    files["pal2_short.png"] = make_png(rng.integers(0, 4, (H, W, 1)), 2, 3, plte=[[1, 2, 3], [40, 50, 60]])
    files["rgb8_interlaced.png"] = make_png(smooth_rgb(W, H), 8, 2, interlace=True)
    files["pal2_interlaced.png"] = make_png(rng.integers(0, 4, (H, W, 1)), 2, 3, plte=rng.integers(0, 256, (4, 3)),
                                            interlace=True)
    files["rgba16_interlaced.png"] = make_png(rng.integers(0, 65536, (H, W, 4)), 16, 6, interlace=True)
    rgb8 = make_png(smooth_rgb(W, H), 8, 2)
    files["no_iend.png"] = rgb8[: rgb8.index(b"IEND") - 4]  # Pillow reads it: nothing after the pixels is needed
    files["tiny1x1.png"] = make_png(np.array([[[200, 100, 50]]]), 8, 2)
    return files


def synthetic_jpegs():
    files = {}
    img = Image.fromarray(smooth_rgb(45, 33))
    for name, opts in [("rgb420.jpg", dict(subsampling=2)), ("rgb422.jpg", dict(subsampling=1)),
                       ("rgb444.jpg", dict(subsampling=0)), ("progressive.jpg", dict(progressive=True))]:
        b = io.BytesIO()
        img.save(b, "JPEG", quality=90, **opts)
        files[name] = b.getvalue()
    b = io.BytesIO()
    img.convert("L").save(b, "JPEG", quality=90)
    files["gray.jpg"] = b.getvalue()
    b = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (33, 45, 4)).astype(np.uint8), "CMYK").save(b, "JPEG", quality=90)
    files["cmyk.jpg"] = b.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90 CW": Pillow does not apply it on open
    b = io.BytesIO()
    Image.fromarray(smooth_rgb(31, 19)).save(b, "JPEG", quality=85, exif=exif)
    files["exif_rotated.jpg"] = b.getvalue()
    return files


def broken_files(pngs, jpegs):
    png = pngs["rgb8.png"]
    idat = png.index(b"IDAT")
    corrupt = bytearray(png)
    for i in range(idat + 10, idat + 30):
        corrupt[i] ^= 0x5A
    return {
        "truncated.jpg": jpegs["rgb420.jpg"][: len(jpegs["rgb420.jpg"]) * 2 // 3],
        "truncated_no_eoi.jpg": jpegs["rgb444.jpg"][:-2],
        "truncated_progressive.jpg": jpegs["progressive.jpg"][: len(jpegs["progressive.jpg"]) // 2],
        "truncated.png": png[: idat + 40],
        "corrupt.png": bytes(corrupt),
        "corrupt.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(rng.integers(0, 256, 300).astype(np.uint8)),
        "notimage.txt": b"this is a text file, not an image\n",
        "empty.png": b"",
    }


def pillow_error(data):
    try:
        Image.open(io.BytesIO(data)).convert("RGB")
    except Exception as e:  # noqa: BLE001 - any failure is the expected outcome
        return f"{type(e).__name__}: {e}"
    return None


def main():
    manifest = {"pillow": PIL.__version__, "numpy": np.__version__, "background": list(BACKGROUND),
                "decode": [], "broken": [], "resize": [], "center_crop": [], "ten_crop": [], "preprocess": [],
                "photos": []}
    pngs, jpegs = synthetic_pngs(), synthetic_jpegs()
    for name, data in {**pngs, **jpegs}.items():
        write("inputs/" + name, data)
    for name in ("digit3.png", "digit7.png"):
        src = {"digit3.png": "data/digits/train/3/0003.png", "digit7.png": "data/digits/val/7/0043.png"}[name]
        if os.path.exists(os.path.join(ROOT, src)):
            with open(os.path.join(ROOT, src), "rb") as f:
                write("inputs/" + name, f.read())

    # Decoding: every synthetic input, full pixels.
    for name in sorted(os.listdir(os.path.join(OUT, "inputs"))):
        path = os.path.join(OUT, "inputs", name)
        if name in broken_files(pngs, jpegs):
            continue
        im = Image.open(path)
        entry = {"input": name, "mode": im.mode, "width": im.size[0], "height": im.size[1],
                 "rgb": write(f"decoded/{name}.rgb", rgb(im).tobytes())}
        has_alpha = im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info)
        entry["background_rgb"] = write(f"decoded/{name}.bg.rgb",
                                        (composited(im) if has_alpha else rgb(im)).tobytes())
        manifest["decode"].append(entry)

    for name, data in broken_files(pngs, jpegs).items():
        write("inputs/" + name, data)
        err = pillow_error(data)
        assert err is not None, f"Pillow opened the broken file {name}"
        manifest["broken"].append({"input": name, "pillow_error": err})

    # Resize: up, down, one side only, non-square, both of Pillow 13's pass orders; digits 8x8 -> 256x256.
    src = Image.open(os.path.join(OUT, "inputs", "rgb8.png")).convert("RGB")  # 23x17
    big = Image.fromarray(smooth_rgb(97, 61))
    for image_name, im, sizes in [("rgb8.png", src, [(64, 48), (10, 7), (23, 40), (5, 17), (1, 1), (46, 9), (20, 4), (20, 14), (9, 4), (23, 3), (28, 8)]),
                                  ("rgb444.jpg", Image.open(os.path.join(OUT, "inputs", "rgb444.jpg")).convert("RGB"),
                                   [(100, 80), (20, 15), (45, 100)]),
                                  ("digit3.png", Image.open(os.path.join(OUT, "inputs", "digit3.png")).convert("RGB"),
                                   [(256, 256), (3, 5)])]:
        for w, h in sizes:
            out = np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.uint8)
            manifest["resize"].append({"input": image_name, "width": w, "height": h,
                                       "rgb": write(f"resized/{image_name}.{w}x{h}.rgb", out.tobytes())})
    del big

    # center_crop: odd and even margins (Python's round half to even) and padding.
    for w, h in [(10, 10), (12, 9), (22, 16), (23, 17), (30, 20), (24, 25), (8, 40)]:
        out = np.asarray(tv_center_crop(src, h, w), dtype=np.uint8)
        manifest["center_crop"].append({"input": "rgb8.png", "width": w, "height": h,
                                        "rgb": write(f"crops/rgb8.png.center{w}x{h}.rgb", out.tobytes())})
    for size in (16, 17):
        crops = tv_ten_crop(src, size)
        data = b"".join(np.asarray(c, dtype=np.uint8).tobytes() for c in crops)
        manifest["ten_crop"].append({"input": "rgb8.png", "size": size,
                                     "rgb": write(f"crops/rgb8.png.ten{size}.rgb", data)})

    # Preprocessing of small inputs, full float32 tensors.
    for name, resize, crop in [("rgb420.jpg", 32, 24), ("rgba8.png", 20, 16), ("pal4_trns.png", 40, 40),
                               ("digit7.png", 256, 224), ("digit3.png", 256, 224)]:
        im = Image.open(os.path.join(OUT, "inputs", name)).convert("RGB")
        cropped = tv_center_crop(tv_resize(im, resize), crop, crop)
        x = tv_to_tensor_normalize(cropped, IMAGENET["mean"], IMAGENET["std"])
        entry = {"input": name, "resize": resize, "crop": crop, "mean": IMAGENET["mean"], "std": IMAGENET["std"],
                 "crop_sha256": sha(np.asarray(cropped, dtype=np.uint8).tobytes()), "tensor_sha256": sha(x.tobytes())}
        if crop <= 40:
            entry["tensor"] = write(f"tensors/{name}.{resize}.{crop}.f32", x.astype("<f4").tobytes())
        else:
            entry["tensor_stride"] = 97
            entry["tensor_samples"] = [float(v) for v in x.reshape(-1)[::97]]
        manifest["preprocess"].append(entry)

    # Real photos (fetched, not committed): sha256 of each stage, sample pixels, full crops of two.
    if not os.path.isdir(PHOTOS):
        sys.exit("make_images.py: .cache/photos is missing; run scripts/fetch-assets")
    for name in ["chelsea.png", "coffee.png", "rocket.jpg", "retina.jpg", "horse.png", "camera.png", "logo.png"]:
        im = Image.open(os.path.join(PHOTOS, name))
        decoded = rgb(im)
        h, w = decoded.shape[:2]
        ys, xs = np.linspace(0, h - 1, 8).astype(int), np.linspace(0, w - 1, 8).astype(int)
        resized = tv_resize(im.convert("RGB"), IMAGENET["resize"])
        cropped = tv_center_crop(resized, IMAGENET["crop"], IMAGENET["crop"])
        tensor = tv_to_tensor_normalize(cropped, IMAGENET["mean"], IMAGENET["std"])
        ten = tv_ten_crop(resized, IMAGENET["crop"])
        entry = {"input": name, "mode": im.mode, "width": w, "height": h,
                 "rgb_sha256": sha(decoded.tobytes()),
                 "samples": [[int(y), int(x), *map(int, decoded[y, x])] for y in ys for x in xs],
                 "resized_width": resized.size[0], "resized_height": resized.size[1],
                 "resized_sha256": sha(np.asarray(resized, dtype=np.uint8).tobytes()),
                 "crop_sha256": sha(np.asarray(cropped, dtype=np.uint8).tobytes()),
                 "tensor_stride": 997,
                 "tensor_samples": [float(v) for v in tensor.reshape(-1)[::997]],
                 "ten_crop_sha256": [sha(np.asarray(c, dtype=np.uint8).tobytes()) for c in ten]}
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            entry["background_rgb_sha256"] = sha(composited(im).tobytes())
        if name in ("chelsea.png", "rocket.jpg"):
            entry["crop_rgb"] = write(f"crops/{name}.224.rgb", np.asarray(cropped, dtype=np.uint8).tobytes())
        manifest["photos"].append(entry)

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
