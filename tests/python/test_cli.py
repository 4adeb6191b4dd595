#!/usr/bin/python3
"""End-to-end tests of the memcarlo executable: reproducibility across thread counts (h5diff),
one-line errors with a non-zero exit and no output left behind, and outputs that open in h5py.

Usage: /usr/bin/python3 test_cli.py PATH_TO_MEMCARLO
"""
import os
import signal
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"
MODELS = ["pcm-crystallization", "pcm-drift", "memristor"]  # run without a config
# The empirical model `lut` needs two dg_table sets: the bundled ENODe tables.
ENODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "measured", "sandia_enode_lut.h5")
LUT_SETS = ["--set", f"potentiation_table={ENODE}:potentiation", "--set", f"depression_table={ENODE}:depression"]


def run(args, threads=None, cwd=None):
    env = dict(os.environ, MEMCARLO_QUIET="1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run([MEMCARLO] + args, env=env, cwd=cwd, capture_output=True, text=True)


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def assert_fails(self, args, expect_in, out=None):
        r = run(args)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("memcarlo: error:") or lines[0].startswith("memcarlo: "), lines[0])
        self.assertIn(expect_in, lines[0])
        if out:
            self.assertFalse(os.path.exists(out), f"{out} left behind")
        self.assertEqual([f for f in os.listdir(self.dir) if ".tmp-" in f], [])

    def test_same_seed_same_file_for_one_and_two_threads(self):
        for model in MODELS:
            with self.subTest(model=model):
                a, b = self.path(f"{model}-1.h5"), self.path(f"{model}-2.h5")
                for out, threads in ((a, 1), (b, 2)):
                    r = run(["device", "simulate", model, "--devices", "300", "--seed", "17", "--out", out], threads)
                    self.assertEqual(r.returncode, 0, r.stderr)
                d = subprocess.run(["h5diff", a, b], capture_output=True, text=True)
                self.assertEqual(d.returncode, 0, d.stdout + d.stderr)
                c = self.path(f"{model}-other-seed.h5")
                run(["device", "simulate", model, "--devices", "300", "--seed", "18", "--out", c])
                self.assertEqual(subprocess.run(["h5diff", "-q", a, c]).returncode, 1)

    def test_outputs_open_in_h5py_with_units(self):
        for model in MODELS:
            with self.subTest(model=model):
                out = self.path(f"{model}.h5")
                r = run(["device", "simulate", model, "--devices", "50", "--out", out])
                self.assertEqual(r.returncode, 0, r.stderr)
                with h5py.File(out, "r") as f:
                    self.assertEqual(f.attrs["format"], "memcarlo-measurements")
                    self.assertEqual(int(f.attrs["format_version"]), 1)
                    self.assertIn(model, f.attrs["provenance"])
                    for name, group in f.items():
                        self.assertIn(group.attrs["kind"], ("drift", "pulse_train", "samples"))
                        for ds in group.values():
                            self.assertIn("units", ds.attrs, f"{name}/{ds.name}")
                        if "G" in group and group["G"].attrs["units"] == "S":
                            G = group["G"][...]
                            self.assertTrue(np.all(G[np.isfinite(G)] >= 0))
                r = run(["summary", out])
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_config_file_and_set_are_applied_and_echoed(self):
        cfg = self.path("params.toml")
        with open(cfg, "w") as f:
            f.write("[pcm-drift]\nn_times = 4\nt_last = 2000.0\n")
        out = self.path("drift.h5")
        r = run(["device", "simulate", "pcm-drift", "--devices", "10", "--config", cfg, "--set", "levels=2", "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(out, "r") as f:
            self.assertEqual(f["drift/t"].shape, (4,))
            self.assertEqual(f["drift/t"][-1], 2000.0)
            self.assertIn("levels = 2", f.attrs["provenance"])
            self.assertEqual(sorted(set(f["drift/level"][...])), [0, 1])

    def test_help_lists_every_model_and_key(self):
        r = run(["device", "simulate", "--help"])
        self.assertEqual(r.returncode, 0)
        for model in MODELS:
            self.assertIn(model, r.stdout)
        for key in ("g_max", "E_a", "R_th", "t0", "levels"):
            self.assertIn(key, r.stdout)

    def test_bad_simulation_input(self):
        out = self.path("x.h5")
        base = ["device", "simulate"]
        self.assert_fails(base + ["no-such-model", "--devices", "5", "--out", out], "unknown model 'no-such-model'", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "-5", "--out", out], "-5", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "0", "--out", out], "--devices must be positive", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--set", "bogus=1"], "unknown key 'bogus'", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--set", "g_max=-1"], "g_max", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--set", "t0=abc"], "needs a number", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--config", self.path("missing.toml")], "missing.toml: no such file", out)
        bad = self.path("bad.toml")
        with open(bad, "w") as f:
            f.write("t0 = = 3\n")
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--config", bad], "bad.toml: line 1", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", self.path("no/dir/x.h5")], "does not exist")
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--preset", "nope"], "unknown preset 'nope'", out)

    def test_refusals_before_any_work(self):
        out = self.path("x.h5")
        base = ["device", "simulate"]
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", self.dir], "exists and is not a regular file")
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", ""], "output file name is empty")
        self.assert_fails(base + ["memristor", "--devices", "4194304", "--set", "cycles=2097152",
                                  "--set", "pulses_per_cycle=2097152", "--out", out], "reduce --devices", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "1e12", "--out", out], "exceeds the limit", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "12abc", "--out", out], "whole number", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--seed", "99999999999999999999999", "--out", out],
                          "exceeds the limit", out)
        self.assert_fails(["--threads", "100000"] + base + ["pcm-drift", "--devices", "5", "--out", out], "--threads", out)
        self.assert_fails(["no-such-command"], "memcarlo: error:")
        self.assertEqual(run(base + ["pcm-drift", "--devices", "1e3", "--out", out]).returncode, 0)

    def test_config_table_wins_and_other_tables_are_checked(self):
        cfg = self.path("both.toml")
        with open(cfg, "w") as f:
            f.write("n_times = 3\n[pcm-drift]\nn_times = 5\n[memristor]\ncycles = 4\n")
        out = self.path("d.h5")
        r = run(["device", "simulate", "pcm-drift", "--devices", "4", "--config", cfg, "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(out, "r") as f:
            self.assertEqual(f["drift/t"].shape, (5,))
        with open(cfg, "a") as f:
            f.write("bogus_key = 1\n")
        self.assert_fails(["device", "simulate", "pcm-drift", "--devices", "4", "--config", cfg, "--out", self.path("e.h5")],
                          "[memristor]: unknown key 'bogus_key'", self.path("e.h5"))

    def test_interrupted_run_leaves_no_file(self):
        out = self.path("big.h5")
        env = dict(os.environ, MEMCARLO_QUIET="1")
        for sig in (signal.SIGINT, signal.SIGTERM):
            p = subprocess.Popen([MEMCARLO, "device", "simulate", "pcm-drift", "--devices", "2000000",
                                  "--set", "n_times=60", "--out", out], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Wait until the temporary file exists (the write has begun), then interrupt.
            for _ in range(6000):
                if any(".tmp-" in f for f in os.listdir(self.dir)) or p.poll() is not None:
                    break
                subprocess.run(["sleep", "0.01"])
            p.send_signal(sig)
            p.wait()
            self.assertFalse(os.path.exists(out))
            self.assertEqual([f for f in os.listdir(self.dir) if ".tmp-" in f], [])

    def test_lut_samples_tables_reproducibly(self):
        a, b, c = self.path("lut-1.h5"), self.path("lut-2.h5"), self.path("lut-other.h5")
        for out, threads, seed in ((a, 1, "5"), (b, 2, "5"), (c, 2, "6")):
            r = run(["device", "simulate", "lut", "--devices", "200", "--seed", seed, "--set", "cycles=4",
                     "--set", "pulses_per_cycle=60", "--out", out] + LUT_SETS, threads)
            self.assertEqual(r.returncode, 0, r.stderr)
        d = subprocess.run(["h5diff", a, b], capture_output=True, text=True)
        self.assertEqual(d.returncode, 0, d.stdout + d.stderr)
        self.assertEqual(subprocess.run(["h5diff", "-q", a, c]).returncode, 1)
        with h5py.File(a, "r") as f:
            g = f["pulse_train"]
            self.assertEqual(g.attrs["kind"], "pulse_train")
            self.assertEqual(g["G"].shape, (200, 4, 60))
            self.assertEqual(list(g["polarity"][...]), [1, -1, 1, -1])
            self.assertIn("potentiation_table", f.attrs["provenance"])
            with h5py.File(ENODE, "r") as t:
                lo, hi = t["potentiation/G_bins"][0], t["potentiation/G_bins"][-1]
            G = g["G"][...]
            self.assertTrue(np.all((G >= lo) & (G <= hi)))
            # Potentiation raises and depression lowers the mean conductance.
            self.assertGreater(G[:, 0, -1].mean(), G[:, 0, 0].mean())
            self.assertLess(G[:, 1, -1].mean(), G[:, 1, 0].mean())

    def test_bad_lut_input(self):
        out = self.path("x.h5")
        base = ["device", "simulate", "lut", "--devices", "5", "--out", out]
        missing = self.path("missing.h5")
        self.assert_fails(base + ["--set", f"potentiation_table={missing}:potentiation",
                                  "--set", f"depression_table={ENODE}:depression"], "missing.h5: no such file", out)
        self.assert_fails(base, "lut needs potentiation_table", out)
        drift = self.path("drift.h5")
        self.assertEqual(run(["device", "simulate", "pcm-drift", "--devices", "3", "--out", drift]).returncode, 0)
        self.assert_fails(base + ["--set", f"potentiation_table={drift}:drift", "--set", f"depression_table={ENODE}:depression"],
                          "drift.h5:drift is kind 'drift', but lut potentiation_table needs kind dg_table", out)
        self.assert_fails(base + ["--set", f"potentiation_table={ENODE}:depression", "--set", f"depression_table={ENODE}:depression"],
                          "has polarity -1, but lut potentiation_table needs potentiation", out)

    def make_drift_file(self, name, mutate):
        out = self.path(name)
        r = run(["device", "simulate", "pcm-drift", "--devices", "6", "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(out, "r+") as f:
            mutate(f)
        return out

    def test_bad_measurement_files(self):
        self.assert_fails(["summary", self.path("missing.h5")], "missing.h5: no such file")
        text = self.path("text.h5")
        with open(text, "w") as f:
            f.write("not hdf5\n")
        self.assert_fails(["summary", text], "text.h5: not an HDF5 file")
        cases = {
            "format.h5": (lambda f: f.attrs.__setitem__("format", "something-else"), "format is 'something-else'"),
            "version.h5": (lambda f: f.attrs.__setitem__("format_version", 2), "format_version 2 is not supported"),
            "kind.h5": (lambda f: f["drift"].attrs.__setitem__("kind", "weird"), "unknown kind 'weird'"),
        }

        def nan_in_t(f):
            t = f["drift/t"][...]
            t[1] = np.nan
            del f["drift/t"]
            f["drift"].create_dataset("t", data=t).attrs["units"] = "s"

        def wrong_shape(f):
            del f["drift/G"]
            f["drift"].create_dataset("G", data=np.ones((6, 3))).attrs["units"] = "S"

        def wrong_units(f):
            f["drift/G"].attrs["units"] = "uS"

        cases["nan.h5"] = (nan_in_t, "t[1] = nan is not finite")
        cases["shape.h5"] = (wrong_shape, "G columns has 3 values, expected 11")
        cases["units.h5"] = (wrong_units, "units 'uS' not allowed")
        for name, (mutate, message) in cases.items():
            with self.subTest(name=name):
                self.assert_fails(["summary", self.make_drift_file(name, mutate)], message)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
