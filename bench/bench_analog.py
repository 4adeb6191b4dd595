#!/usr/bin/python3
"""Throughput of training on simulated device arrays against the digital engine, in one run.

For each case it runs `memcarlo train` digitally and on tiles, alternating the two `--repeats`
times, and compares the medians of replica_train_samples_per_s (training steps only: batch
assembly, forward, backward, update; no evaluation), with the spread (min-max) of each side, so
that a slow spell of this noisy machine hits both. Pulses per training step are printed too:
the update's cost grows with them.

Cases (LeNet-5 on MNIST and VGG-16 at width 1/4 on CIFAR-10, batch 64, one thread):
  lenet5-bulk      mixed precision on the memristor preset `bulk` (default periphery)
  lenet5-gong      mixed precision on the memristor calibrated on the Gong et al. HfO2 data
                   (docs/calibration/gong_hfo2/params.toml; ~1000 levels, so many pulses)
  lenet5-pcm       mixed precision on PCM (crystallization table, refresh)
  vgg16-bulk       mixed precision on `bulk`
  vgg16-gong-pot   mixed precision on the Gong memristor, potentiation-only pairs, w_max_factor 5
                   (the VGG-16 run of docs/results.md)

Usage: /usr/bin/python3 bench/bench_analog.py [--memcarlo build/apps/memcarlo] [--repeats 3]
         [--only lenet5-bulk ...]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LENET = ["--model", "lenet5", "--dataset", "mnist", "--lr", "0.02", "--set", "train_samples=19200"]
VGG = ["--model", "vgg16", "--width", "0.25", "--dataset", "cifar10", "--lr", "0.05",
       "--set", "train_samples=1920"]
CASES = {
    "lenet5-bulk": (LENET, ["--set", "analog.device=memristor"]),
    "lenet5-gong": (LENET, ["--set", "analog.device=memristor", "--set",
                            "analog.device_config=" + os.path.join(ROOT, "docs/calibration/gong_hfo2/params.toml")]),
    "lenet5-pcm": (LENET, ["--set", "analog.device=pcm"]),
    "vgg16-bulk": (VGG, ["--set", "analog.device=memristor"]),
    "vgg16-gong-pot": (VGG, ["--set", "analog.device=memristor", "--set",
                             "analog.device_config=" + os.path.join(ROOT, "docs/calibration/gong_hfo2/params.toml"),
                             "--set", "analog.pair_update=potentiation", "--set", "analog.w_max_factor=5"]),
}


def rate(memcarlo, args, tmp):
    out = os.path.join(tmp, "bench.h5")
    cmd = [memcarlo, "train", "--epochs", "1", "--threads", "1", "--set", "test_samples=100", "--quiet",
           "--out", out, *args]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    with h5py.File(out) as f:
        r = float(f["summary/replica_train_samples_per_s"][0])
        samples = float(f["replicas/000"].attrs["samples_trained"])
        pulses = float(f["replicas/000/analog"].attrs["pulses"]) if "analog" in f["replicas/000"] else 0.0
    os.remove(out)
    return r, pulses / (samples / 64)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--memcarlo", default=os.path.join(ROOT, "build", "apps", "memcarlo"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", nargs="*", choices=sorted(CASES), default=sorted(CASES))
    args = p.parse_args()
    if not os.path.exists(args.memcarlo):
        sys.exit(f"bench_analog: {args.memcarlo} not found: build first (bash scripts/build.sh)")
    print(f"{'case':<14} {'digital /s':>18} {'analog /s':>18} {'ratio':>6} {'pulses/step':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            base, analog = CASES[name]
            digital_rates, analog_rates, pulses = [], [], 0.0
            for _ in range(args.repeats):
                digital_rates.append(rate(args.memcarlo, base, tmp)[0])
                r, pulses = rate(args.memcarlo, base + analog, tmp)
                analog_rates.append(r)
            d, a = statistics.median(digital_rates), statistics.median(analog_rates)
            spread = lambda v: f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
            print(f"{name:<14} {spread(digital_rates):>18} {spread(analog_rates):>18} {a / d:6.2f} "
                  f"{pulses:12.0f}", flush=True)


if __name__ == "__main__":
    main()
