#!/usr/bin/python3
"""Throughput of campaigns: trials per second with 2 threads against 1, and the per-trial
overhead of a campaign (start-up and commit) against a short trial's training.

One campaign of short trials (an MLP 784-100-10 on 3,000 MNIST images, one epoch, about 2 s of
training each on this machine; 8 trials) is run with --threads 1 and --threads 2, alternating
the two --repeats times so that a slow spell of this noisy machine hits both; the medians of
trials per second of wall time are compared, with the spread (min-max) of each side.

Overhead per trial: at one thread, a campaign of 8 trials and one of 1 trial (the same base);
(wall_8 - wall_1) / 7 is the cost of one more trial, and what exceeds that trial's own epoch
times (training and evaluation) is what the campaign adds per trial (the trial's model and
hardware set-up, the commit of its record to the results file), as a fraction of the trial's
own time. The process start and the data set, loaded once per campaign, cancel out.

Usage: /usr/bin/python3 bench/bench_campaign.py [--memcarlo build/apps/memcarlo] [--repeats 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py

CAMPAIGN = """
[campaign]
name = "bench"
seed = 1
replicas = {replicas}
[base.train]
model = "mlp"
widths = "100"
activation = "relu"
dataset = "mnist"
epochs = 1
train_samples = {samples}
test_samples = 1000
"""


def run(memcarlo, campaign, threads, tmp):
    out = os.path.join(tmp, f"bench_{threads}.h5")
    if os.path.exists(out):
        os.remove(out)
    start = time.perf_counter()
    subprocess.run([memcarlo, "campaign", "run", campaign, "--out", out, "--threads", str(threads),
                    "--quiet"], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with h5py.File(out) as f:
        trials = list(f["trials"].values())
        epochs = sum(float(t["epoch_time_s"][()].sum()) for t in trials)
        n = len(trials)
    return n / wall, wall, epochs, n


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memcarlo", default="build/apps/memcarlo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3000, help="training images per trial")
    args = parser.parse_args()
    memcarlo = os.path.abspath(args.memcarlo)
    with tempfile.TemporaryDirectory() as tmp:
        campaign = os.path.join(tmp, "bench.toml")
        single = os.path.join(tmp, "single.toml")
        with open(campaign, "w") as f:
            f.write(CAMPAIGN.format(samples=args.samples, replicas=8))
        with open(single, "w") as f:
            f.write(CAMPAIGN.format(samples=args.samples, replicas=1))
        one, two, overheads = [], [], []
        for _ in range(args.repeats):
            for threads, rates in ((1, one), (2, two)):
                rate, wall, epochs, n = run(memcarlo, campaign, threads, tmp)
                rates.append(rate)
                if threads == 1:
                    _, wall_1, _, _ = run(memcarlo, single, 1, tmp)
                    trial = epochs / n
                    overheads.append(((wall - wall_1) / (n - 1) - trial) / trial)
        m1, m2 = statistics.median(one), statistics.median(two)
        print(f"trials/s, 1 thread : median {m1:.3f} (min {min(one):.3f}, max {max(one):.3f})")
        print(f"trials/s, 2 threads: median {m2:.3f} (min {min(two):.3f}, max {max(two):.3f})")
        print(f"speedup 2 threads / 1 thread: {m2 / m1:.2f} (target >= 1.8)")
        print(f"campaign overhead per trial at 1 thread: median {100 * statistics.median(overheads):.1f}% "
              f"of a trial's {trial:.2f} s of epochs (min {100 * min(overheads):.1f}%, max "
              f"{100 * max(overheads):.1f}%; target <= 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
