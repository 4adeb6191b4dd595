#!/usr/bin/python3
"""Throughput of campaigns: trials per second with 2 threads, and with 2 MPI ranks, against 1
thread, and the per-trial overhead of a campaign (start-up and commit) against a short trial's
training.

One campaign of short trials, each the main job's kind (an MLP 784-100-10 trained by
mixed-precision updates on simulated bulk memristor arrays, one epoch of the 60,000 MNIST
training images, about 2 s each on this machine; 16 trials) is run with --threads 1 and --threads 2, alternating
the variants --repeats times so that a slow spell of this noisy machine hits all; the speedups
are the medians of the ratios within one repeat, with their spread (min-max), beside each
variant's trials per second of wall time and the time of a trial's own epochs (which shows
whether the machine ran at one speed throughout). When the
memcarlo given is an MPI build (it links libmpi), `mpirun -np 2` (one trial at a time per rank)
joins the rotation; its wall time includes mpirun's start-up.

Overhead per trial: at one thread, a campaign of 16 trials and one of 1 trial (the same base);
(wall_16 - wall_1) / 15 is the cost of one more trial, and what exceeds that trial's own epoch
times (training and evaluation) is what the campaign adds per trial (the trial's model and
hardware set-up, the commit of its record to the results file), as a fraction of the trial's
own time. The process start and the data set, loaded once per campaign, cancel out.

Usage: /usr/bin/python3 bench/bench_campaign.py [--memcarlo build/apps/memcarlo] [--repeats 3]
"""
import argparse
import os
import shutil
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
epochs = {epochs}
lr = 0.05
train_samples = {samples}
test_samples = 1000
[base.analog]
device = "memristor"
preset = "bulk"
update = "mixed"
"""


def is_mpi_build(memcarlo):
    ldd = subprocess.run(["ldd", memcarlo], capture_output=True, text=True)
    return "libmpi" in ldd.stdout and shutil.which("mpirun") is not None


def run(memcarlo, campaign, threads, tmp, ranks=1):
    out = os.path.join(tmp, f"bench_{threads}_{ranks}.h5")
    if os.path.exists(out):
        os.remove(out)
    command = [memcarlo, "campaign", "run", campaign, "--out", out, "--threads", str(threads), "--quiet"]
    env = None
    if ranks > 1:
        command = ["mpirun", "--oversubscribe", "-np", str(ranks)] + command
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True, env=env)
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
    parser.add_argument("--samples", type=int, default=60000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per trial")
    parser.add_argument("--trials", type=int, default=16, help="trials of the campaign")
    args = parser.parse_args()
    memcarlo = os.path.abspath(args.memcarlo)
    with tempfile.TemporaryDirectory() as tmp:
        campaign = os.path.join(tmp, "bench.toml")
        single = os.path.join(tmp, "single.toml")
        with open(campaign, "w") as f:
            f.write(CAMPAIGN.format(samples=args.samples, epochs=args.epochs, replicas=args.trials))
        with open(single, "w") as f:
            f.write(CAMPAIGN.format(samples=args.samples, epochs=args.epochs, replicas=1))
        variants = [("1 thread", 1, 1), ("2 threads", 2, 1)]
        if is_mpi_build(memcarlo):
            variants.append(("2 MPI ranks", 1, 2))
        rates = {name: [] for name, _, _ in variants}
        trial_s = {name: [] for name, _, _ in variants}
        overheads = []
        for _ in range(args.repeats):
            for name, threads, n_ranks in variants:
                rate, wall, epochs, n = run(memcarlo, campaign, threads, tmp, n_ranks)
                rates[name].append(rate)
                trial_s[name].append(epochs / n)
                if name == "1 thread":
                    _, wall_1, _, _ = run(memcarlo, single, 1, tmp)
                    trial = epochs / n
                    overheads.append(((wall - wall_1) / (n - 1) - trial) / trial)

        def spread(values, digits=3):
            return (f"median {statistics.median(values):.{digits}f} (min {min(values):.{digits}f}, "
                    f"max {max(values):.{digits}f})")

        print(f"{args.trials} trials per campaign, {args.repeats} repeats; wall time from start to "
              "exit (process and MPI start-up, data set loading included)")
        for name, _, _ in variants:
            print(f"{name:12}: trials/s {spread(rates[name])}; a trial's epochs take "
                  f"{spread(trial_s[name], 2)} s")
        # Ratios of runs of one repeat (adjacent in time), so a slow spell cancels.
        for name, _, _ in variants[1:]:
            ratios = [r / b for r, b in zip(rates[name], rates["1 thread"])]
            print(f"speedup {name} / 1 thread: {spread(ratios, 2)} (target >= 1.8)")
        if len(variants) == 2:
            print("2 MPI ranks: not measured (this memcarlo is not an MPI build)")
        print(f"campaign overhead per trial at 1 thread: median {100 * statistics.median(overheads):.1f}% "
              f"of a trial's {statistics.median(trial_s['1 thread']):.2f} s of epochs (min {100 * min(overheads):.1f}%, max "
              f"{100 * max(overheads):.1f}%; target <= 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
