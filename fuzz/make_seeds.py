#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses into DIR/<harness>/ (default fuzz/corpus):
the bundled measured files, a tiny training-set cache cut from the MNIST cache, a tiny campaign
results file and a training checkpoint (made by running memcarlo), raw IDX/PNG/JSON/TSV files,
and every TOML config of the repository. Usage:
  /usr/bin/python3 fuzz/make_seeds.py PATH_TO_MEMCARLO [DIR]
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMCARLO = os.path.abspath(sys.argv[1])
OUT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.join(REPO, "fuzz", "corpus")


def seed(harness, name, data, prefix=b""):
    os.makedirs(os.path.join(OUT, harness), exist_ok=True)
    with open(os.path.join(OUT, harness, name), "wb") as f:
        f.write(prefix + data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return f"fnv1a64:{h:016x}"


def tiny_cache(path):
    """10 MNIST images per split, one per class, in the cache format (data/datasets.cpp)."""
    data_dir = os.environ.get("MEMCARLO_DATA_DIR", os.path.expanduser("~/.cache/memcarlo/datasets"))
    caches = glob.glob(os.path.join(data_dir, "mnist*.h5"))
    if not caches:
        return False
    with h5py.File(caches[0]) as src, h5py.File(path, "w", track_order=True) as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        sums = {}
        for split in ("train", "test"):
            labels = src[split]["labels"][()]
            pick = [int(np.flatnonzero(labels == c)[0]) for c in range(10)]
            images = np.stack([src[split]["images"][i] for i in pick])
            g = dst.create_group(split)
            g.attrs["count"] = np.int64(10)
            g.create_dataset("images", data=images)
            g.create_dataset("labels", data=labels[pick])
            for name, array in (("images", images), ("labels", labels[pick])):
                sums[f"{split}/{name}"] = fnv1a64(np.ascontiguousarray(array).tobytes())
                g.attrs[f"{name}_checksum"] = sums[f"{split}/{name}"]
        text = ";".join(f"{k}={sums[k]}" for k in
                        ("train/images", "train/labels", "test/images", "test/labels"))
        dst.attrs["checksum"] = fnv1a64(text.encode())
    return True


def main():
    for path in sorted(glob.glob(os.path.join(REPO, "data", "measured", "*.h5"))):
        if os.path.getsize(path) < 200_000:
            seed("fuzz_measurements", os.path.basename(path), read(path))
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache.h5")
        if tiny_cache(cache):
            seed("fuzz_dataset_cache", "mnist_tiny.h5", read(cache))
        campaign = os.path.join(tmp, "c.toml")
        with open(campaign, "w") as f:
            f.write('[campaign]\nname = "seed"\nseed = 1\nreplicas = 1\n[base.train]\nmodel = "mlp"\n'
                    'widths = "8"\ndataset = "mnist"\nepochs = 1\ntrain_samples = 256\n'
                    'test_samples = 100\n[[axis]]\nkey = "train.lr"\nvalues = [0.01, 0.1]\n')
        results = os.path.join(tmp, "r.h5")
        subprocess.run([MEMCARLO, "campaign", "run", campaign, "--out", results, "--quiet"], check=True)
        seed("fuzz_results", "campaign.h5", read(results), b"\x00")
        # a checkpoint: a run killed after its first epoch
        out = os.path.join(tmp, "t.h5")
        p = subprocess.Popen([MEMCARLO, "train", "--model", "mlp", "--widths", "8", "--epochs", "50",
                              "--set", "train_samples=512", "--set", "test_samples=100", "--quiet",
                              "--out", out])
        while not os.path.exists(out + ".checkpoint") and p.poll() is None:
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        seed("fuzz_results", "checkpoint.h5", read(out + ".checkpoint"), b"\x01")
    # raw readers: first byte 0 idx, 1 png, 2 json, 3 table
    idx = b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2 + bytes(range(18))
    seed("fuzz_raw_data", "a.idx", idx, b"\x00")
    png = sorted(glob.glob("/usr/share/**/*.png", recursive=True), key=os.path.getsize)
    if png:
        seed("fuzz_raw_data", "a.png", read(png[0]), b"\x01")
    seed("fuzz_raw_data", "labels.json", b"[0, 1, 2, 9, 3]", b"\x02")
    tables = sorted(glob.glob("/work/shared/measured/**/*.txt", recursive=True) +
                    glob.glob(os.path.join(REPO, "..", "shared", "measured", "**", "*.txt"),
                              recursive=True), key=os.path.getsize)
    if tables:
        seed("fuzz_raw_data", "table.txt", read(tables[0])[:20000], b"\x03")
    # TOML entry points: first byte picks memristor, pcm-crystallization, pcm-drift, lut device
    # configs, run config, model, campaign
    tomls = sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.toml"), recursive=True) +
                   glob.glob(os.path.join(REPO, "docs", "calibration", "*", "*.toml")))
    for path in tomls:
        text = read(path)
        name = os.path.relpath(path, REPO).replace("/", "_")
        for selector in range(7):
            seed("fuzz_toml", f"{selector}_{name}", text, bytes([selector]))
    print(f"seeds written under {OUT}")


if __name__ == "__main__":
    main()
