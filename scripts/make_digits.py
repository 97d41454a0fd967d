"""Writes scikit-learn's digits (digits.csv.gz: 1797 rows of 64 pixels in 0..16, then the label)
as 8-bit grayscale PNG files in torchvision's ImageFolder layout, with a stratified 75/25 split:
    OUT/train/<digit>/NNNN.png, OUT/val/<digit>/NNNN.png
Standard library only, so the main job needs no Python packages."""
import csv, gzip, os, struct, sys, zlib

def png_gray(pixels, w, h):
    rows = b"".join(b"\x00" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))

def main(src, out):
    with gzip.open(src, "rt") as f:
        rows = [list(map(float, r)) for r in csv.reader(f) if r]
    seen = {}
    for i, r in enumerate(rows):
        label = int(r[64])
        k = seen.get(label, 0); seen[label] = k + 1
        split = "val" if k % 4 == 3 else "train"          # every fourth image of a class is held out
        pixels = [min(255, round(v * 255 / 16)) for v in r[:64]]
        d = os.path.join(out, split, str(label)); os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{i:04d}.png"), "wb") as f:
            f.write(png_gray(pixels, 8, 8))
    open(os.path.join(out, ".complete"), "w").close()
    print(f"make_digits: {len(rows)} images in {out}/train and {out}/val", file=sys.stderr)

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
