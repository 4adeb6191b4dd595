#!/usr/bin/python3
"""Kill-safe long runs (issue 14, item 4).

* `memcarlo train` SIGKILLed at 10 random moments and resumed each time with --resume ends with
  results identical to an uninterrupted run: every dataset and attribute of the results file
  except wall times and rates (an MLP with Adam on two replicas and two threads, and a conv +
  batch-norm network trained by DFA with SGD momentum, which checkpoints running statistics and
  momentum buffers).
* Every writer (device simulate, calibrate, train, import) SIGKILLed at random moments leaves
  at its output path the previous file or a complete new one, never a truncated one.
* A checkpoint of another config, a damaged checkpoint, and --resume of a run on analog tiles
  are refused in one line, with nothing written.
* A full disk, simulated by a file-size limit (RLIMIT_FSIZE, as `ulimit -f`): every writer
  fails with one line naming the file and the system's reason, and leaves nothing behind.

Usage: /usr/bin/python3 test_kill_safety.py PATH_TO_MEMCARLO
"""
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MLP = ["train", "--model", "mlp", "--widths", "128", "--dataset", "mnist", "--epochs", "8",
       "--set", "train_samples=8000", "--set", "test_samples=1000", "--replicas", "2",
       "--threads", "2", "--set", "optimizer=adam", "--lr", "1e-3", "--quiet"]

CONV_MODEL = """name = "conv-bn"
input = [1, 28, 28]
[[layers]]
type = "conv2d"
out_channels = 4
kernel = 3
padding = 1
[[layers]]
type = "batchnorm"
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
kernel = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
out_features = 32
[[layers]]
type = "relu"
[[layers]]
type = "dense"
out_features = 10
"""

# Differ between two runs of one config by design: wall times and rates.
TIMING = ("wall_time_s", "samples_per_s", "replica_time_s", "replica_samples_per_s",
          "replica_train_samples_per_s", "epoch_time_s", "command")


def run(args):
    return subprocess.run([MEMCARLO] + args, capture_output=True, text=True)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def kill_at_random(args, kills, rng, whole, before=None, after=None, earliest=0.0):
    """Starts `args` and SIGKILLs it at a moment drawn from [earliest, 1] x `whole` seconds,
    until it has been killed `kills` times (at most 20 tries per kill); before() runs before
    each start, after(returncode) after each end. Returns the number of kills."""
    killed = 0
    for _ in range(20 * kills):
        if killed >= kills:
            break
        if before:
            before()
        p = subprocess.Popen([MEMCARLO] + args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(earliest, 1.0) * whole)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        if after:
            after(p.returncode)
    return killed


def kill_and_restart(args, out, kills, rng, whole):
    """Kills `args` (a train run with --resume) `kills` times, restarting it each time (a run
    that finishes first is started again from nothing); returns the kills and the number of
    restarts that found a checkpoint with finished epochs."""
    checkpoint = out + ".checkpoint"
    resumed = 0

    def before():
        nonlocal resumed
        if os.path.exists(checkpoint):
            with h5py.File(checkpoint) as f:  # whatever the moment, the checkpoint reads
                if any(g.attrs["epochs_done"] > 0 for g in f["replicas"].values()):
                    resumed += 1

    def after(code):
        if code == 0 and not os.path.exists(checkpoint):
            os.remove(out)  # finished before the kill: start over to keep killing

    killed = kill_at_random(args, kills, rng, whole, before, after, earliest=0.05)
    return killed, resumed


class Resume(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def assert_same_results(self, a, b):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            def compare(ga, gb, where):
                self.assertEqual(sorted(ga.attrs), sorted(gb.attrs), where)
                for k in ga.attrs:
                    if k not in TIMING:
                        self.assertTrue(np.array_equal(ga.attrs[k], gb.attrs[k]), f"{where}@{k}")
                self.assertEqual(sorted(ga), sorted(gb), where)
                for k in ga:
                    if isinstance(ga[k], h5py.Group):
                        compare(ga[k], gb[k], f"{where}/{k}")
                    elif k not in TIMING:
                        self.assertTrue(np.array_equal(ga[k][()], gb[k][()], equal_nan=True),
                                        f"{where}/{k} differs")
            compare(fa, fb, "")
            # the comparison covered the weights
            self.assertIn("weights", fa["replicas/000"])

    def check_resume(self, args, kills, seed):
        start = time.monotonic()
        reference = self.path("reference.h5")
        r = run(args + ["--out", reference])
        self.assertEqual(r.returncode, 0, r.stderr)
        whole = time.monotonic() - start
        self.assertFalse(os.path.exists(reference + ".checkpoint"), "a finished run removes it")
        out = self.path("killed.h5")
        killed, resumed = kill_and_restart(args + ["--out", out, "--resume"], out, kills,
                                           random.Random(seed), whole)
        self.assertEqual(killed, kills)
        # the kills fell inside training often enough to test resuming, not just restarting
        self.assertGreaterEqual(resumed, 2)
        r = run(args + ["--out", out, "--resume"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_same_results(reference, out)
        self.assertFalse(os.path.exists(out + ".checkpoint"))
        leftovers = [n for n in os.listdir(self.tmp.name) if ".tmp-" in n]
        self.assertEqual(leftovers, [])

    def test_mlp_adam_killed_ten_times(self):
        self.check_resume(MLP, kills=10, seed=14)

    def test_conv_batchnorm_dfa_momentum_killed(self):
        model = self.path("conv.toml")
        with open(model, "w") as f:
            f.write(CONV_MODEL)
        args = ["train", "--model", model, "--dataset", "mnist", "--epochs", "6", "--set",
                "train_samples=3000", "--set", "test_samples=500", "--rule", "dfa", "--set",
                "feedback=merged", "--lr", "0.01", "--replicas", "2", "--threads", "2", "--quiet"]
        self.check_resume(args, kills=4, seed=15)

    def test_resume_refuses_what_it_cannot_continue(self):
        out = self.path("r.h5")
        small = MLP[:MLP.index("--epochs")] + ["--epochs", "2", "--set", "train_samples=1000",
                                                 "--set", "test_samples=200", "--quiet"]
        # a checkpoint of another config (lr differs): refused, naming the line
        p = subprocess.Popen([MEMCARLO] + small + ["--out", out], stdout=subprocess.DEVNULL)
        p.wait()
        self.assertEqual(p.returncode, 0)
        ckpt = out + ".checkpoint"
        self.assertFalse(os.path.exists(ckpt))
        # make one: kill a longer run after its first epoch
        long_run = MLP + ["--out", out]
        p = subprocess.Popen([MEMCARLO] + long_run, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not os.path.exists(ckpt) and time.monotonic() < deadline:
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertTrue(os.path.exists(ckpt))
        before = digest(out)
        other = [a if a != "1e-3" else "2e-3" for a in MLP] + ["--out", out, "--resume"]
        r = run(other)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("another run config", lines[0])
        self.assertIn("lr = 0.001", lines[0])
        self.assertEqual(digest(out), before)
        # a damaged checkpoint: refused, naming the file
        with open(ckpt, "r+b") as f:
            f.truncate(os.path.getsize(ckpt) // 2)
        r = run(MLP + ["--out", out, "--resume"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn(ckpt, r.stderr)
        self.assertEqual(digest(out), before)
        # a run on analog tiles keeps no checkpoint yet: --resume is refused, not ignored
        r = run(small + ["--out", self.path("a.h5"), "--set", "analog.device=ideal", "--resume"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot be resumed", r.stderr)
        self.assertFalse(os.path.exists(self.path("a.h5")))


class FullDisk(unittest.TestCase):
    """Writes past a 16 kB file-size limit fail cleanly (SIGXFSZ is ignored, so the write
    returns EFBIG and the writer reports it)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_writers_report_a_full_disk(self):
        def limit():  # PARAMS.toml is about 6 kB
            resource.setrlimit(resource.RLIMIT_FSIZE, (16384 if name.endswith(".h5") else 2048,) * 2)

        out = os.path.join(self.tmp.name, "out")
        for name, args in (
                ("sim.h5", ["device", "simulate", "pcm-drift", "--devices", "2000", "--quiet"]),
                ("t.h5", ["train", "--model", "mlp", "--widths", "64", "--epochs", "1", "--set",
                          "train_samples=512", "--set", "test_samples=100", "--quiet"]),
                ("p.toml", ["calibrate", "pulse_train", "--in",
                            os.path.join(REPO, "tests", "hostile", "files", "gong_small_ok.h5"),
                            "--bootstrap", "20", "--quiet"])):
            with self.subTest(name):
                os.makedirs(out, exist_ok=True)
                target = os.path.join(out, name)
                r = subprocess.run([MEMCARLO] + args + ["--out", target], capture_output=True,
                                   text=True, preexec_fn=limit)
                self.assertEqual(r.returncode, 1, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("File too large", lines[0])
                self.assertIn(name, lines[0])
                self.assertEqual(os.listdir(out), [])


class Writers(unittest.TestCase):
    """Each writer, SIGKILLed at random moments while it replaces an existing output, leaves the
    previous file or a complete new one."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def check_writer(self, first, second, out, complete, kills=5, seed=1):
        r = run(first)
        self.assertEqual(r.returncode, 0, r.stderr)
        previous = digest(out)
        backup = out + ".previous"
        shutil.copyfile(out, backup)
        start = time.monotonic()
        r = run(second)
        self.assertEqual(r.returncode, 0, r.stderr)
        whole = time.monotonic() - start
        finished = digest(out)
        shutil.copyfile(backup, out)
        def after(_):
            now = digest(out)
            if now != previous:
                complete(out)  # a new file: whole
                if now != finished:  # HDF5 results hold wall times; text outputs must be equal
                    self.assertTrue(out.endswith(".h5"), "a text output differs from a full run")
                shutil.copyfile(backup, out)

        killed = kill_at_random(second, kills, random.Random(seed), whole, after=after)
        self.assertEqual(killed, kills)

    def h5_complete(self, path):
        with h5py.File(path) as f:
            f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
            self.assertIn("format", f.attrs)

    def test_simulate_calibrate_train(self):
        sim = self.path("sim.h5")
        self.check_writer(["device", "simulate", "pcm-drift", "--devices", "200", "--seed", "1",
                           "--out", sim, "--quiet"],
                          ["device", "simulate", "pcm-drift", "--devices", "4000", "--seed", "2",
                           "--out", sim, "--quiet"], sim, self.h5_complete)
        params = self.path("params.toml")
        data = self.path("data.h5")
        r = run(["device", "simulate", "pcm-drift", "--devices", "300", "--out", data, "--quiet"])
        self.assertEqual(r.returncode, 0, r.stderr)

        def toml_complete(path):
            with open(path) as f:
                self.assertIn("[pcm-drift]", f.read())

        self.check_writer(["calibrate", "drift", "--in", data, "--out", params, "--bootstrap", "20",
                           "--quiet"],
                          ["calibrate", "drift", "--in", data, "--out", params, "--bootstrap", "60",
                           "--seed", "3", "--quiet"], params, toml_complete)
        res = self.path("train.h5")
        base = ["train", "--model", "mlp", "--widths", "32", "--dataset", "mnist", "--set",
                "train_samples=2000", "--set", "test_samples=300", "--quiet", "--out", res]
        self.check_writer(base + ["--epochs", "1"], base + ["--epochs", "4"], res, self.h5_complete)


class Import(unittest.TestCase):
    """memcarlo import replaces five files: killed at random moments, each is the previous
    version or a complete new one."""

    def test_import_killed(self):
        source = os.path.join(REPO, "..", "shared", "measured")
        if not os.path.isdir(source):
            self.skipTest(f"no measured sources at {source}")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "measured")
            os.makedirs(out)
            args = ["import", "--from", source, "--out", out]
            start = time.monotonic()
            r = run(args)
            self.assertEqual(r.returncode, 0, r.stderr)
            whole = time.monotonic() - start
            previous = {n: digest(os.path.join(out, n)) for n in os.listdir(out)}
            self.assertEqual(len(previous), 5)

            def after(_):
                for name in os.listdir(out):
                    if ".tmp-" in name:
                        continue  # the killed writer's temporary file: not at an output path
                    path = os.path.join(out, name)
                    if digest(path) != previous.get(name):
                        with h5py.File(path) as f:  # a new file: complete
                            self.assertEqual(f.attrs["format"], "memcarlo-measurements")

            killed = kill_at_random(args, 5, random.Random(3), whole, after=after)
            self.assertEqual(killed, 5)
            self.assertEqual(sorted(n for n in os.listdir(out) if ".tmp-" not in n),
                             sorted(previous))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
