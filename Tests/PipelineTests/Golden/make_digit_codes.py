"""Reference codes for `pipeline extract` end to end on real data: EfficientNet-Lite0 with its real
ImageNet weights (.cache/weights, read with numpy by make_checkpoints.read_legacy) on scikit-learn's
digits (data/digits/val, written by scripts/make_digits.py), through an independent pipeline:
Pillow decoding, torchvision's Resize(256) / CenterCrop(224) / ToTensor / Normalize transcribed with
PIL calls (make_images.py), and onnxruntime running the graph of make_models.py.

Writes digit_codes.json (the image paths, in ImageFolder order, and the layers) and digit_codes.f32:
for each layer in order, [N, D] float32 little-endian:
  avgpool           1280  (head after ReLU6, global average)
  stage5:avg         112  (_blocks.10, ReLU, global average)
  stage5:max         112  (_blocks.10, ReLU, global max)
  stage5:grid:2      448  (_blocks.10, ReLU, 2x2 adaptive average cells, channel-major)
and digit_codes_tta.f32: for the first TTA_IMAGES paths, avgpool codes averaged over views:
  avgpool:flip      [TTA_IMAGES, 1280]  (the image and its mirror, each resized and centre-cropped)
  avgpool:ten-crop  [TTA_IMAGES, 1280]  (torchvision's TenCrop(224) of the Resize(256) image)
Tolerance used by ExtractEndToEndTests: max |ours - reference| <= 1e-4 * max |reference| per layer.
"""
import json, os, sys
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "ExtractTests", "Golden"))
import make_checkpoints, make_images, make_models  # noqa: E402

PER_CLASS = 3
TTA_IMAGES = 4
MEAN, STD = [127 / 255] * 3, [128 / 255] * 3


def image_list():
    root = os.path.join(ROOT, "data", "digits", "val")
    paths = []
    for c in sorted(os.listdir(root)):
        paths += [f"{c}/{f}" for f in sorted(os.listdir(os.path.join(root, c)))[:PER_CLASS]]
    return root, paths


def main():
    root, paths = image_list()
    batch = []
    for p in paths:
        img = Image.open(os.path.join(root, p)).convert("RGB")
        img = make_images.tv_center_crop(make_images.tv_resize(img, 256), 224, 224)
        batch.append(make_images.tv_to_tensor_normalize(img, MEAN, STD))
    x = np.stack(batch).astype(np.float32)
    weights = {k: v.astype(np.float32) for k, (_, v) in
               make_checkpoints.read_legacy(os.path.join(ROOT, ".cache", "weights", "efficientnet-lite0-57934424.pth")).items()}
    sd, build = make_models.efficientnet_lite0(224, weights)
    g = make_models.Graph(sd)
    build(g)
    out = g.run(x)
    head = out["avgpool"].reshape(len(paths), -1)
    block = np.maximum(out["_blocks.10"], 0)                      # ReLU, then pooling
    n, c, h, w = block.shape
    def cells(size, k):
        return [((i * size) // k, -(-((i + 1) * size) // k)) for i in range(k)]
    grid = np.stack([block[:, :, a:b, e:f].mean(axis=(2, 3)) for a, b in cells(h, 2) for e, f in cells(w, 2)], axis=2)
    layers = [("avgpool", head), ("stage5:avg", block.mean(axis=(2, 3))), ("stage5:max", block.max(axis=(2, 3))),
              ("stage5:grid:2", grid.reshape(n, c * 4))]
    with open(os.path.join(HERE, "digit_codes.f32"), "wb") as f:
        for _, a in layers:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    with open(os.path.join(HERE, "digit_codes.json"), "w") as f:
        json.dump({"paths": paths, "layers": [[name, int(a.shape[1])] for name, a in layers], "tta_images": TTA_IMAGES}, f, indent=1)
    # Test-time augmentation: codes of every view, then their mean.
    def codes(views):
        return g.run(np.stack(views).astype(np.float32))["avgpool"].reshape(len(views), -1)
    tta = []
    for mode in ("flip", "ten-crop"):
        rows = []
        for p in paths[:TTA_IMAGES]:
            img = Image.open(os.path.join(root, p)).convert("RGB")
            if mode == "flip":
                crops = [make_images.tv_center_crop(make_images.tv_resize(im, 256), 224, 224)
                         for im in (img, img.transpose(Image.FLIP_LEFT_RIGHT))]
            else:
                crops = make_images.tv_ten_crop(make_images.tv_resize(img, 256), 224)
            rows.append(codes([make_images.tv_to_tensor_normalize(c, MEAN, STD) for c in crops]).mean(axis=0))
        tta.append(np.stack(rows))
    with open(os.path.join(HERE, "digit_codes_tta.f32"), "wb") as f:
        for a in tta:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    print(f"make_digit_codes: {len(paths)} images, layers {[n for n, _ in layers]}", file=sys.stderr)


if __name__ == "__main__":
    main()
