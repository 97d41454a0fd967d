#!/usr/bin/env python3
"""Golden files for AugmentationTests: torchvision's RandomResizedCrop and RandomHorizontalFlip
on PIL images, from Pillow (no torchvision or torch needed; the functions are transcribed below).

torch's random generator cannot be reproduced, so the random numbers are injected: each case of
get_params gets a list of uniforms in [0, 1) (numpy, seeded) standing for torch's draws, with
`uniform_(a, b) = a + (b - a) * u` and `randint(0, n) = floor(u * n)`, as the Swift code maps them.

Writes into augment/:
  input.png        a small synthetic RGB image (lossless, so decoding is exact)
  cases.json       get_params cases: image size, scale, ratio, uniforms -> (top, left, height, width)
                   and how many uniforms were used; crop cases: box, size, flip -> output file
  *.rgb            raw uint8 HWC outputs of F.resized_crop (+ hflip) on input.png
  *.f32            ToTensor + Normalize of one output, little-endian float32
Tolerance: 0 for uint8 pixels and crop boxes; 1e-6 for float tensors. Made with Pillow 13.0.

Run from the repository root:
  .cache/venv/bin/python Tests/ExtractTests/Golden/make_augment.py
"""
import json
import math
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "augment")
rng = np.random.default_rng(20261122)


def get_params(width, height, scale, ratio, uniforms):
    """torchvision.transforms.RandomResizedCrop.get_params, transcribed, draws from `uniforms`."""
    draws = iter(uniforms)
    used = 0

    def u():
        nonlocal used
        used += 1
        return float(next(draws))

    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * (scale[0] + (scale[1] - scale[0]) * u())
        aspect_ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u())
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = int(math.floor(u() * (height - h + 1)))
            j = int(math.floor(u() * (width - w + 1)))
            return (i, j, h, w), used
    # Fallback to central crop
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:  # whole image
        w = width
        h = height
    i = (height - h) // 2
    j = (width - w) // 2
    return (i, j, h, w), used


def resized_crop(img, top, left, height, width, size):
    """F.resized_crop on PIL: F_pil.crop then F_pil.resize(img, [size, size], BILINEAR)."""
    img = img.crop((left, top, left + width, top + height))
    return img.resize((size, size), Image.BILINEAR)


def to_tensor_normalize(img, mean, std):
    x = np.asarray(img, dtype=np.uint8).astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    return ((x - m) / s).astype("<f4")


def main():
    os.makedirs(OUT, exist_ok=True)
    w, h = 67, 43
    yy, xx = np.mgrid[0:h, 0:w]
    pixels = np.stack([(xx * 255) // (w - 1), (yy * 255) // (h - 1), ((xx * 7 + yy * 13) % 256)], axis=-1)
    pixels = (pixels + rng.integers(0, 40, size=pixels.shape)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    image.save(os.path.join(OUT, "input.png"))

    params = []
    settings = [((0.08, 1.0), (3 / 4, 4 / 3))] * 3 + [((0.5, 1.0), (0.5, 2.0))]
    sizes = [(67, 43), (224, 224), (500, 375), (9, 9), (8, 8)]
    for (width, height) in sizes:
        for scale, ratio in settings:
            for _ in range(3):
                uniforms = rng.random(40).tolist()
                box, used = get_params(width, height, scale, ratio, uniforms)
                params.append(dict(width=width, height=height, scale=scale, ratio=ratio, uniforms=uniforms,
                                   box=box, used=used))
    # Images too long or too tall for any draw: the central fallback, clamped into `ratio`.
    for (width, height) in [(400, 10), (10, 400), (30, 29)]:
        uniforms = rng.random(40).tolist()
        scale = (0.9, 1.0) if (width, height) == (30, 29) else (0.08, 1.0)
        ratio = (2.0, 3.0) if (width, height) == (30, 29) else (3 / 4, 4 / 3)
        box, used = get_params(width, height, scale, ratio, uniforms)
        params.append(dict(width=width, height=height, scale=scale, ratio=ratio, uniforms=uniforms, box=box, used=used))

    crops = []
    boxes = [(p["box"], p["uniforms"]) for p in params if (p["width"], p["height"]) == (w, h)][:6]
    boxes += [((0, 0, h, w), None), ((10, 20, 5, 7), None), ((3, 1, 40, 30), None)]
    for k, (box, _) in enumerate(boxes):
        for size in (32, 57):
            for flip in ((False, True) if size == 32 else (False,)):
                out = resized_crop(image, *box, size)
                if flip:
                    out = out.transpose(Image.FLIP_LEFT_RIGHT)
                name = f"crop{k}_{size}{'_flip' if flip else ''}.rgb"
                with open(os.path.join(OUT, name), "wb") as f:
                    f.write(np.asarray(out, dtype=np.uint8).tobytes())
                crops.append(dict(box=list(box), size=size, flip=flip, file=name))
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    tensor = to_tensor_normalize(resized_crop(image, *boxes[0][0], 32).transpose(Image.FLIP_LEFT_RIGHT), mean, std)
    with open(os.path.join(OUT, "crop0_32_flip.f32"), "wb") as f:
        f.write(tensor.tobytes())
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(dict(params=params, crops=crops,  # noqa: E128
                       tensor=dict(box=list(boxes[0][0]), size=32, flip=True, mean=mean, std=std,
                                   file="crop0_32_flip.f32")), f, indent=1)


if __name__ == "__main__":
    main()
