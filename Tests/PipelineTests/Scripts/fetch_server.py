#!/usr/bin/env python3
"""Loopback HTTP server for FetchTests: serves small generated files, honours Range requests, and
misbehaves on demand. Python's hashlib is the reference for every hash the tests expect.

usage: fetch_server.py DIR [--cut-after N] [--ignore-range]

Generates in DIR/files/:
  tiny-<sha256[:8]>.pth    300 kB of seeded random bytes, named by their true hash prefix
  wrong-<8 hex>.pth        other bytes, named by a prefix that is NOT theirs
  hymenoptera_data.zip     hymenoptera_data/{train,val}/{ants,bees}/N.jpg, a few tiny files each
Binds 127.0.0.1 on an ephemeral port, then writes DIR/manifest.json (its appearance means ready):
  {"port": P, "good": {"name", "sha256", "size"}, "wrong": {...}, "zip": {...}}
Appends one JSON line per request to DIR/requests.log: {"path": ..., "range": ... or null}.

--cut-after N   the first GET of each path sends the full Content-Length but only N bytes, then
                closes the connection (an interrupted download)
--ignore-range  answer Range requests with 200 and the whole file, as some servers do
Unknown paths get 404.
"""
import argparse
import hashlib
import io
import json
import os
import random
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def generate(files):
    os.makedirs(files, exist_ok=True)
    rng = random.Random(1234)
    good = rng.randbytes(300_000)
    name = f"tiny-{hashlib.sha256(good).hexdigest()[:8]}.pth"
    write(files, name, good)
    wrong = rng.randbytes(50_000)
    wrong_prefix = "0123abcd"
    assert not hashlib.sha256(wrong).hexdigest().startswith(wrong_prefix)
    write(files, f"wrong-{wrong_prefix}.pth", wrong)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for split in ("train", "val"):
            for cls in ("ants", "bees"):
                for i in range(3):
                    z.writestr(f"hymenoptera_data/{split}/{cls}/{i}.jpg", rng.randbytes(100))
    write(files, "hymenoptera_data.zip", buffer.getvalue())
    return {"good": describe(name, good), "wrong": describe(f"wrong-{wrong_prefix}.pth", wrong),
            "zip": describe("hymenoptera_data.zip", buffer.getvalue())}


def write(files, name, data):
    with open(os.path.join(files, name), "wb") as f:
        f.write(data)


def describe(name, data):
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--cut-after", type=int)
    parser.add_argument("--ignore-range", action="store_true")
    args = parser.parse_args()
    files = os.path.join(args.dir, "files")
    manifest = generate(files)
    lock = threading.Lock()
    cut_done = set()
    log = open(os.path.join(args.dir, "requests.log"), "a")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            with lock:
                log.write(json.dumps({"path": self.path, "range": rng}) + "\n")
                log.flush()
            path = os.path.join(files, os.path.basename(self.path))
            if not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                data = f.read()
            size, start, status = len(data), 0, 200
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and not args.ignore_range:
                start = int(m.group(1))
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            with lock:
                cut = args.cut_after is not None and self.path not in cut_done
                cut_done.add(self.path)
            if cut:
                self.wfile.write(body[:args.cut_after])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    manifest["port"] = server.server_address[1]
    tmp = os.path.join(args.dir, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f)
    os.replace(tmp, os.path.join(args.dir, "manifest.json"))
    server.serve_forever()


if __name__ == "__main__":
    main()
